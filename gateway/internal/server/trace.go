package server

import (
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// traceRequest opens the request's server span, begun when fasthttp began
// the request, and puts it in the user context that authentication, the
// JWKS and the proxy use.
//
// A valid traceparent from the client is continued: the browser may start
// the trace, and the span's parent is the client's span. That is all the
// client decides. Under a parentbased_* sampler (OTEL_TRACES_SAMPLER) its
// sampled flag chooses whether the trace is recorded, so a client can ask
// for its own requests to be traced: to keep that decision to the gateway,
// use traceidratio or always_on. The client's tracestate is passed on
// verbatim (as W3C asks) and never read; no attribute comes from a client
// header. The span is named "METHOD route" when it ends.
func traceRequest(c *fiber.Ctx, tracer trace.Tracer, start time.Time) trace.Span {
	ctx := tracing.Extract(c.UserContext(), &c.Request().Header)
	ctx, span := tracer.Start(ctx, "request", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	c.SetUserContext(ctx)
	return span
}

// endRequestSpan names and ends span: method (already bounded to the
// methods Fiber knows, or OTHER) and the route pattern, the status and the
// request id. Never the path: the compatibility routes put the user id in
// it. Strings that alias the request's buffers are copied. An unsampled
// span is only ended.
func endRequestSpan(span trace.Span, method, route string, status int, requestID string, end time.Time) {
	if !span.IsRecording() { // not sampled: nothing to name or describe
		span.End()
		return
	}
	method = strings.Clone(method)
	span.SetName(method + " " + route)
	span.SetAttributes(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status),
		attribute.String("gatehouse.request_id", strings.Clone(requestID)),
	)
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End(trace.WithTimestamp(end))
}
