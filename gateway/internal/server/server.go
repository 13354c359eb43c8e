// Package server assembles the gateway: the Fiber app with its middleware,
// the routes of DESIGN.md and the lifecycle (JWKS warm-up, serving, graceful
// drain). A request enters in New's route table; identity is decided in
// authenticate; what leaves is decided by package proxy.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// Hooks are optional middleware slots. PerIP runs for every /api request
// before authentication; PerUser runs after it, when c.Locals("user_id")
// holds the verified subject. Nil hooks are skipped. They exist for rate
// limiters, which return a problem error (e.g. 429) to refuse.
type Hooks struct {
	PerIP   fiber.Handler
	PerUser fiber.Handler
}

// Gateway is a configured, not yet running gateway.
type Gateway struct {
	App    *fiber.App
	Keys   *jwks.Store
	Authn  *authn.Authenticator
	cfg    config.Config
	log    *slog.Logger
	cancel context.CancelFunc
	ctx    context.Context
}

// New builds the gateway for cfg. Nothing is fetched or served until Run.
func New(cfg config.Config, log *slog.Logger, hooks Hooks) (*Gateway, error) {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{cfg: cfg, log: log, ctx: ctx, cancel: cancel}
	var err error
	g.Keys, err = jwks.New(ctx, jwks.Config{
		URL:                cfg.JWKSURL,
		Client:             &http.Client{Timeout: cfg.JWKSFetchTimeout},
		RefreshInterval:    cfg.JWKSRefresh,
		MinRefreshInterval: cfg.JWKSMinRefresh,
		FetchTimeout:       cfg.JWKSFetchTimeout,
		Algorithms:         cfg.Algorithms,
		Logger:             log,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	cacheSize := cfg.CacheSize
	if cacheSize == 0 {
		cacheSize = -1
	}
	g.Authn, err = authn.New(authn.Config{
		Keys:          g.Keys,
		Algorithms:    cfg.Algorithms,
		Issuer:        cfg.Issuer,
		Audience:      cfg.Audience,
		Leeway:        cfg.Leeway,
		MaxTokenBytes: cfg.MaxTokenBytes,
		SharedSecret:  cfg.SharedSecret,
		CacheSize:     cacheSize,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	g.Keys.OnRemove(g.Authn.ForgetKeys)

	upstream := func(u *url.URL) *proxy.Upstream {
		return proxy.NewUpstream(proxy.UpstreamConfig{
			URL: u, Timeout: cfg.UpstreamTimeout, DialTimeout: cfg.UpstreamDialTimeout, MaxConns: cfg.UpstreamMaxConns,
		})
	}
	px := &proxy.Proxy{Tasks: upstream(cfg.TasksURL), Auth: upstream(cfg.AuthURL), Keys: cfg.IdentityKeys}
	g.App = g.routes(px, hooks)
	return g, nil
}

func (g *Gateway) routes(px *proxy.Proxy, hooks Hooks) *fiber.App {
	cfg := g.cfg
	app := fiber.New(fiber.Config{
		AppName:                      "gatehouse-gateway",
		DisableStartupMessage:        true,
		CaseSensitive:                true,
		BodyLimit:                    cfg.BodyLimit,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadBufferSize:               16<<10 + cfg.MaxTokenBytes,
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 g.handleError,
	})
	metrics := observe.NewMetrics("gateway")

	app.Use(g.edge(metrics))
	if len(cfg.CORSAllowedOrigins) > 0 {
		app.Use(cors.New(cors.Config{
			AllowOrigins:     strings.Join(cfg.CORSAllowedOrigins, ","),
			AllowCredentials: true,
			AllowMethods:     "GET,HEAD,POST,PUT,PATCH,DELETE",
			AllowHeaders:     "Authorization,Content-Type,If-Match,If-None-Match,Idempotency-Key,X-Request-ID",
			ExposeHeaders:    "ETag,Location,X-Request-ID,Set-Auth-Jwt,WWW-Authenticate,Retry-After",
			MaxAge:           600,
		}))
	}

	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if !g.Keys.Ready() {
			return notReady()
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
	app.Get("/metrics", metrics.Handler())

	api := app.Group("/api", checkRequest)
	if hooks.PerIP != nil {
		api.Use(hooks.PerIP)
	}
	// authenticated returns the handler chain of an authenticated route:
	// authenticate, the PerUser hook when set, then h.
	authenticated := func(h fiber.Handler) []fiber.Handler {
		if hooks.PerUser != nil {
			return []fiber.Handler{g.authenticate, hooks.PerUser, h}
		}
		return []fiber.Handler{g.authenticate, h}
	}

	toAuth := func(c *fiber.Ctx) error { return px.ToAuth(c) }
	api.All("/auth", toAuth)
	api.All("/auth/*", toAuth)

	toTasks := func(c *fiber.Ctx) error {
		return px.ToTasks(c, subject(c), c.Request().URI().PathOriginal())
	}
	api.All("/tasks", authenticated(toTasks)...)
	api.All("/tasks/*", authenticated(toTasks)...)

	compat := func(c *fiber.Ctx) error {
		canonical, err := compatPath(c.Request().URI().PathOriginal(), subject(c))
		if err != nil {
			return err
		}
		return px.ToTasks(c, subject(c), canonical)
	}
	api.All("/:user_id/tasks", authenticated(compat)...)
	api.All("/:user_id/tasks/*", authenticated(compat)...)

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// Run fetches the JWKS in the background (readiness follows it), serves on
// ln until ctx ends, then stops accepting and waits up to the shutdown
// timeout for in-flight requests. It returns nil after a clean drain.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	defer g.cancel()
	go func() {
		if err := g.Keys.Start(g.ctx); err == nil {
			g.log.Info("jwks loaded", "url", g.cfg.JWKSURL)
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- g.App.Listener(ln) }()
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down; draining in-flight requests", "timeout", g.cfg.ShutdownTimeout.String())
	if err := g.App.ShutdownWithTimeout(g.cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info("gateway stopped")
	return nil
}

// securityHeaders are set on every response; the gateway serves an API, so
// nothing may be framed, sniffed or leak a referrer. Names are in fasthttp's
// canonical form so SetCanonical can skip normalising them per request.
var securityHeaderValues = [][2][]byte{
	{[]byte("X-Content-Type-Options"), []byte("nosniff")},
	{[]byte("X-Frame-Options"), []byte("DENY")},
	{[]byte("Referrer-Policy"), []byte("no-referrer")},
	{[]byte("Content-Security-Policy"), []byte("default-src 'none'; frame-ancestors 'none'")},
	{[]byte("Strict-Transport-Security"), []byte("max-age=31536000; includeSubDomains")},
	{[]byte("Cross-Origin-Resource-Policy"), []byte("same-site")},
}
