package ratelimit_test

import (
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gofiber/fiber/v2"
)

// How main wires the limiters: one Store (Redis when REDIS_URL is set), a
// per-address limiter on the routes that reach Better Auth, and a per-user
// limiter after authentication has put the verified sub in c.Locals.
func Example() {
	cfg, err := ratelimit.LoadConfig(settings.MapEnv(map[string]string{"RATE_LIMIT_USER_RPS": "5"}))
	if err != nil {
		panic(err) // main prints it and exits: it names the variable
	}
	store, err := ratelimit.NewStore(cfg, slog.Default())
	if err != nil {
		panic(err)
	}
	defer store.Close()

	perIP := ratelimit.New("ip", cfg.IP, store)
	perUser := ratelimit.New("user", cfg.User, store)

	app := fiber.New()
	// Behind one proxy that appends to X-Forwarded-For; Hops: 0 when
	// clients connect directly.
	app.Group("/api/auth", perIP.Middleware(ratelimit.Address(clientip.Resolver{Hops: 1}), cfg.Headers))
	api := app.Group("/api", func(c *fiber.Ctx) error {
		c.Locals("user_id", "the verified sub") // authentication, elided
		return c.Next()
	})
	api.Use(perUser.Middleware(ratelimit.Local("user_id"), cfg.Headers))
}
