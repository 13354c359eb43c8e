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

// handleError is the one place where an error that a handler or middleware
// returns becomes a response: problems are written as they are, upstream
// failures become 502/504, Fiber's own errors are translated, anything else
// is logged and answered with a generic 500. Components return errors and
// never write a problem themselves (the rate limiter returns
// Limiter.Refusal). Two answers are written before Fiber has a request and
// so cannot come here: a connection refused by the caps (conns.go) and a
// request fasthttp could not read (outside.go); both use the same problem
// shape and headers.
//
// Unlike tasks-service, whose domain errors carry codes that one table maps
// to statuses (api/errors.go), the gateway's checks are themselves HTTP
// decisions — a path, a header, a token, a budget — so each returns its
// *problem.Details where the decision is made, with the reason that only
// that check knows; a code table here would add a second name for each.
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
