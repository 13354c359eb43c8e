package server

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
)

// edge is the gateway's outermost handler. It does in one pass what
// observe.RequestID, Metrics.Middleware, observe.AccessLog, panic recovery
// and the security headers would do as five middleware (each a route Fiber
// matches and a c.Next() on every request): assign the request id, set the
// security headers (HSTS only over HTTPS), run the rest of the chain with
// panics turned into errors, write any error through the app's error
// handler, then count the request and log its access line.
func (g *Gateway) edge(metrics *observe.Metrics) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := c.Context().Time() // taken by fasthttp as the request began
		id := observe.AssignRequestID(c)
		h := &c.Response().Header
		for _, kv := range securityHeaderValues {
			h.SetCanonical(kv[0], kv[1])
		}
		if g.clients.HTTPS(&c.Request().Header, c.Context().IsTLS()) {
			h.SetCanonical(hsts[0], hsts[1])
		}
		if err := nextRecovered(c); err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		end := time.Now()
		d := end.Sub(start)
		status := c.Response().StatusCode()
		metrics.Observe(c.Method(), observe.RouteLabel(c), status, d)
		sub, _ := Subject(c)
		observe.LogAccess(c.Context(), g.log, &observe.Access{
			RequestID: id,
			Method:    c.Method(),
			Route:     c.Route().Path,
			Path:      c.Path(),
			UserID:    sub,
			Status:    status,
			Bytes:     len(c.Response().Body()),
			Latency:   d,
			Time:      end,
		})
		return nil
	}
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
