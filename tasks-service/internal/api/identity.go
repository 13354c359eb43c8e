package api

import (
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
)

// Locals keys set by requireIdentity.
const (
	localUserID = "user_id" // observe.AccessLog logs it
	localStore  = "tasks.store"
)

// requireIdentity is where a request's user is decided: only a valid
// gateway assertion (pkg/identity, docs/identity-contract.md) over this exact method,
// target, user id and body gets a store; anything else is a logged 401.
// A compressed body is refused (415) before anything is hashed.
func requireIdentity(v *identity.Verifier, stores StoreFactory, now func() time.Time, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := requireIdentityCoding(c); err != nil {
			return err
		}
		// Target is the request-target as received (see
		// docs/identity-contract.md): the request line's bytes, never
		// Request.RequestURI, which fasthttp rebuilds from the decoded
		// path once routing has parsed it.
		req := identity.Request{
			Method:     c.Method(),
			Target:     c.OriginalURL(),
			UserID:     c.Get(identity.HeaderUserID),
			BodySHA256: identity.HashBody(body(c)),
		}
		if err := v.Verify(c.Get(identity.HeaderSignature), req, now()); err != nil {
			log.Warn("identity assertion rejected", "request_id", observe.RequestIDOf(c),
				"method", req.Method, "path", c.Path(), "reason", identity.Reason(err))
			return task.Errorf(task.Unauthenticated, "this service accepts only requests signed by the gateway")
		}
		store, err := stores(req.UserID)
		if err != nil {
			return err
		}
		c.Locals(localUserID, req.UserID)
		c.Locals(localStore, store)
		// One user's tasks: no shared cache (a CDN, a corporate proxy) may
		// store them, and a browser revalidates (If-None-Match) before
		// reusing what it stored. A handler may still say otherwise.
		c.Set(fiber.HeaderCacheControl, "private, no-cache")
		return c.Next()
	}
}

func storeOf(c *fiber.Ctx) task.Store { return c.Locals(localStore).(task.Store) }
