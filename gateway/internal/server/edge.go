package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"
)

// Edge is the gateway's outermost handler. It does in one pass what
// observe.RequestID, Metrics.Middleware, observe.AccessLog, panic recovery
// and the security headers would do as five middleware (each a route Fiber
// matches and a c.Next() on every request): assign the request id, set the
// security headers (HSTS when clients decides the request came over
// HTTPS), run the rest of the chain with panics turned into errors, write
// any error through the app's error handler, then count the request and
// log its access line (with the user Subject reports, if any).
//
// With a tracer it also opens the request's server span, continuing the
// client's traceparent (see traceRequest), and the access line carries the
// trace id.
//
// It is exported for gateway-bench, whose baseline proxy runs the same edge
// without authentication.
func Edge(log *slog.Logger, metrics *observe.Metrics, clients clientip.Resolver, tracer trace.Tracer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		edge(c, log, metrics, clients, tracer, nextRecovered, true)
		return nil
	}
}

// edge is Edge with the rest of the chain as next. routed is false for a
// request that never reached Fiber's router (answerOutsideHandlers): its
// route is "unmatched" and a method Fiber does not know is counted as
// OTHER, so that neither label takes a client's raw bytes.
func edge(c *fiber.Ctx, log *slog.Logger, metrics *observe.Metrics, clients clientip.Resolver, tracer trace.Tracer, next func(*fiber.Ctx) error, routed bool) {
	start := c.Context().Time() // taken by fasthttp as the request began
	id := observe.AssignRequestID(c)
	var span trace.Span
	if tracer != nil {
		span = traceRequest(c, tracer, start)
	}
	h := &c.Response().Header
	for _, kv := range securityHeaderValues {
		h.SetCanonical(kv[0], kv[1])
	}
	if clients.HTTPS(&c.Request().Header, c.Context().IsTLS()) {
		h.SetCanonical(hsts[0], hsts[1])
	}
	if err := next(c); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	end := time.Now()
	d := end.Sub(start)
	status := c.Response().StatusCode()
	method, route, label := c.Method(), "", "unmatched"
	if routed {
		route, label = c.Route().Path, observe.RouteLabel(c)
	} else if !knownMethod(method) {
		method = "OTHER"
	}
	metrics.Observe(method, label, status, d)
	var traceID string
	if span != nil {
		endRequestSpan(span, method, label, status, id, end)
		traceID = span.SpanContext().TraceID().String()
	}
	sub, _ := Subject(c)
	observe.LogAccess(c.UserContext(), log, &observe.Access{
		RequestID: id,
		Method:    c.Method(),
		Route:     route,
		Path:      c.Path(),
		UserID:    sub,
		TraceID:   traceID,
		Status:    status,
		Bytes:     len(c.Response().Body()),
		Latency:   d,
		Time:      end,
	})
}

// nextRecovered calls c.Next and turns a panic into an error, as Fiber's
// recover middleware does.
func nextRecovered(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return c.Next()
}
