package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// withDeadline gives each request's work a deadline d after it starts, in
// the user context every handler passes to the store. Under it database/sql
// stops waiting for a pooled connection, Postgres cancels the statement and
// rolls its transaction back a margin before d (store.statementTimeout), and
// the driver's socket deadlines end no later than d; the store then answers
// Unavailable, which is 503 with Retry-After. d must be shorter than the
// gateway's UPSTREAM_TIMEOUT, so that the client's answer is this one — the
// truth about the write — and not the gateway's 504.
func withDeadline(d time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), d)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}
