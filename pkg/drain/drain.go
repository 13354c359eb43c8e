// Package drain stops a Fiber server without failing a request that a
// client sends on a kept-alive connection.
//
// An HTTP/1.1 server that closes a kept-alive connection races its client:
// a request the client writes just as the connection closes is lost, and
// the client cannot know whether it was processed (so it may retry it only
// when it is idempotent). fasthttp's Shutdown closes idle connections at
// once, and by default also closes a connection after its in-flight
// response without saying so in the response. A Server drains instead, as
// Envoy does during its drain time:
//
//  1. Every response says Connection: close, so a client closes each
//     connection itself after its next response.
//  2. Idle connections are left to their clients for up to an idle grace —
//     longer than the clients keep idle connections (the gateway retires
//     idle upstream connections after 4 s) — so each is either used once
//     more (and closed by the client after that response) or closed by its
//     client. This ends early once no connection is open.
//  3. fasthttp's Shutdown (with CloseOnShutdown) stops accepting, closes
//     what is still idle and waits for in-flight requests, within what
//     remains of the timeout.
//
// The listener keeps accepting during the idle grace: where a load balancer
// still routes to the server (or none is in front), new connections are
// served — each with Connection: close — instead of refused.
package drain

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Server drains one Fiber app.
type Server struct {
	app      *fiber.App
	draining atomic.Bool
}

// New prepares app, which must not be serving yet, to drain: from
// Shutdown on, every response carries Connection: close.
func New(app *fiber.App) *Server {
	d := &Server{app: app}
	srv := app.Server()
	srv.CloseOnShutdown = true
	next := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		next(ctx)
		if d.draining.Load() {
			ctx.SetConnectionClose()
		}
	}
	return d
}

// Draining reports whether Shutdown has begun.
func (d *Server) Draining() bool { return d.draining.Load() }

// pollEvery is how often the idle grace looks for open connections.
const pollEvery = 25 * time.Millisecond

// Shutdown drains the server (see the package comment): Connection: close
// on every response from now on, up to idleGrace for clients to close their
// connections, then fasthttp's Shutdown. All of it takes at most timeout;
// it returns context.DeadlineExceeded when requests were still running
// then.
func (d *Server) Shutdown(idleGrace, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d.draining.Store(true)
	srv := d.app.Server()
	grace := time.NewTimer(min(idleGrace, timeout))
	defer grace.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
WAIT:
	for srv.GetOpenConnectionsCount() > 0 {
		select {
		case <-grace.C:
			break WAIT
		case <-tick.C:
		}
	}
	return d.app.ShutdownWithContext(ctx)
}
