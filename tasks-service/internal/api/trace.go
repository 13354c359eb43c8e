package api

import (
	"strconv"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// withTrace gives each request a server span, continuing the caller's
// traceparent (the gateway's upstream span), in the user context that the
// access log, the handlers and the store use. The span is named
// "METHOD route" and carries the method, the route pattern, the status and
// the request id: never the path (the compatibility routes put the user id
// there), the user id, a header or the body. Probes (/healthz, /readyz)
// and /metrics are not traced.
func withTrace(tracer trace.Tracer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Path() {
		case "/healthz", "/readyz", "/metrics":
			return c.Next()
		}
		ctx := tracing.Extract(c.UserContext(), &c.Request().Header)
		method := c.Method()
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method)))
		c.SetUserContext(ctx)
		defer span.End()
		err := c.Next() // the access log inside has written any error's response
		route := observe.RouteLabel(c)
		status := c.Response().StatusCode()
		span.SetName(method + " " + route)
		span.SetAttributes(
			attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status),
			attribute.String("gatehouse.request_id", observe.RequestIDOf(c)),
		)
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		return err
	}
}
