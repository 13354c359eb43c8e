package server

import (
	"errors"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// Retry-After on the gateway's own upstream failures (README, "What a
// client should retry"): a 502 is most often a replica restarting, gone a
// second later; a 504 is an upstream that is slow or stalled, which a
// prompt retry only loads further.
const (
	retryAfterUnavailable = "1"
	retryAfterTimeout     = "5"
)

// handleError is the one place an error becomes a response: problems are
// written as they are, upstream failures become 502/504, Fiber's own errors
// are translated, anything else is logged and answered with a generic 500.
func (g *Gateway) handleError(c *fiber.Ctx, err error) error {
	var p *problem.Details
	switch {
	case errors.As(err, &p):
	case errors.Is(err, proxy.ErrUpstreamTimeout):
		g.log.Error("upstream timeout", "request_id", observe.RequestIDOf(c), "path", c.Path(), "error", err.Error())
		p = problem.New(fiber.StatusGatewayTimeout, "upstream-timeout", "Gateway Timeout", "The upstream service did not answer in time.").
			WithHeader(fiber.HeaderRetryAfter, retryAfterTimeout)
	case errors.Is(err, proxy.ErrUpstreamUnavailable):
		g.log.Error("upstream unavailable", "request_id", observe.RequestIDOf(c), "path", c.Path(), "error", err.Error())
		p = problem.New(fiber.StatusBadGateway, "bad-gateway", "Bad Gateway", "The upstream service is unreachable or sent an invalid response.").
			WithHeader(fiber.HeaderRetryAfter, retryAfterUnavailable)
	default:
		var ok bool
		p, ok = problem.FromFiber(err)
		if !ok {
			g.log.Error("internal error", "request_id", observe.RequestIDOf(c), "path", c.Path(), "error", err.Error())
		}
	}
	return problem.Write(c, p)
}
