// Package server assembles the gateway: the Fiber app with its middleware,
// the routes of docs/api-contract.md and the lifecycle (JWKS warm-up, serving, graceful
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
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/connlimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/session"
	"github.com/gatehouse-dev/gatehouse/pkg/drain"
	"github.com/gatehouse-dev/gatehouse/pkg/linger"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"go.opentelemetry.io/otel/trace"
)

// Hooks are optional middleware (they call c.Next to let a request on).
// Auth runs before a request is forwarded to Better Auth (/api/auth/*);
// PerUser runs on the tasks routes after authentication, when Subject(c)
// holds the verified sub. Nil hooks cost nothing. They exist for rate
// limiters, which return a problem error (e.g. 429) to refuse.
type Hooks struct {
	Auth    fiber.Handler
	PerUser fiber.Handler
	// Failures, when set, is the failure budget of each client address:
	// see verifyToken.
	Failures *ratelimit.Limiter
	// Tracer, when set, traces requests (see Edge, verifyToken, the JWKS
	// fetches and the upstream calls); nil, tracing off, costs nothing.
	Tracer trace.Tracer
}

// Gateway is a configured, not yet running gateway.
type Gateway struct {
	App *fiber.App
	// Metrics serves /metrics alone when METRICS_ADDR names a listener of
	// its own; nil when there is no /metrics or it is one of App's routes.
	Metrics *fiber.App
	Keys    *jwks.Store
	Authn   *authn.Authenticator
	// drain stops App on SIGTERM without failing a kept-alive client.
	drain *drain.Server
	// clients decides the client address and scheme, as the proxy does.
	clients clientip.Resolver
	// failures is Hooks.Failures (nil: no failure budget).
	failures *ratelimit.Limiter
	// tracer is Hooks.Tracer (nil: tracing off).
	tracer trace.Tracer
	// crossOrigin guards tokens from the cookie (checkCookieOrigin).
	crossOrigin *http.CrossOriginProtection
	cfg         config.Config
	log         *slog.Logger
	cancel      context.CancelFunc
	ctx         context.Context
	closed      sync.Once

	// sessions is session mode (SESSION_MODE); nil when off.
	sessions *session.Exchanger
}

// New builds the gateway for cfg. Nothing is fetched or served until Run.
func New(cfg config.Config, log *slog.Logger, hooks Hooks) (*Gateway, error) {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{cfg: cfg, log: log, ctx: ctx, cancel: cancel, failures: hooks.Failures, tracer: hooks.Tracer}
	var err error
	g.Keys, err = jwks.New(ctx, jwks.Config{
		URL:                cfg.JWKSURL,
		Client:             &http.Client{Timeout: cfg.JWKSFetchTimeout},
		RefreshInterval:    cfg.JWKSRefresh,
		MinRefreshInterval: cfg.JWKSMinRefresh,
		FetchTimeout:       cfg.JWKSFetchTimeout,
		Algorithms:         cfg.Algorithms,
		Logger:             log,
		Tracer:             hooks.Tracer,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	g.Authn, err = authn.New(authn.Config{
		Keys:          g.Keys,
		Algorithms:    cfg.Algorithms,
		Issuer:        cfg.Issuer,
		Audience:      cfg.Audience,
		Leeway:        cfg.Leeway,
		MaxTokenBytes: cfg.MaxTokenBytes,
		SharedSecret:  cfg.SharedSecret,
		CacheSize:     cfg.CacheSize,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	g.Keys.OnRemove(g.Authn.ForgetKeys)
	if g.sessions, err = g.newSessions(); err != nil {
		cancel()
		return nil, err
	}
	if g.crossOrigin, err = newCrossOrigin(cfg.CORSAllowedOrigins); err != nil {
		cancel()
		return nil, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err)
	}

	upstream := func(u *url.URL) *proxy.Upstream {
		return proxy.NewUpstream(proxy.UpstreamConfig{
			URL: u, Timeout: cfg.UpstreamTimeout, DialTimeout: cfg.UpstreamDialTimeout, MaxConns: cfg.UpstreamMaxConns,
			IdleTimeout: cfg.UpstreamIdleTimeout,
		})
	}
	g.clients = clientip.Resolver{Hops: cfg.TrustedProxyHops}
	px := &proxy.Proxy{
		Tasks: upstream(cfg.TasksURL), Auth: upstream(cfg.AuthURL), Keys: cfg.IdentityKeys,
		Clients: g.clients, Tracer: hooks.Tracer,
	}
	g.App = g.routes(px, hooks)
	g.drain = drain.New(g.App)
	return g, nil
}

func (g *Gateway) routes(px *proxy.Proxy, hooks Hooks) *fiber.App {
	cfg := g.cfg
	app := fiber.New(fiber.Config{
		AppName:                      "gatehouse-gateway",
		DisableStartupMessage:        true,
		CaseSensitive:                true,
		BodyLimit:                    cfg.BodyLimit,
		ReadBufferSize:               cfg.HeadLimit,
		DisablePreParseMultipartForm: true,
		// Bodies are read by the handlers, after authentication (readBody).
		StreamRequestBody: true,
		ErrorHandler:      g.handleError,
		// ReadTimeout runs from a request's first byte (a new connection's
		// from the accept) until the handler starts, streamed body
		// included; IdleTimeout bounds the wait for the next request.
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		IdleTimeout:  cfg.IdleTimeout,
	})
	app.Server().ExpectHandler = g.expectContinue
	metrics := observe.NewMetrics("gateway")

	app.Use(Edge(g.log, metrics, g.clients, g.tracer))
	answerOutsideHandlers(app, func(c *fiber.Ctx, err error) {
		edge(c, g.log, metrics, g.clients, g.tracer, func(*fiber.Ctx) error { return err }, false)
	})
	if len(cfg.CORSAllowedOrigins) > 0 {
		app.Use(corsForAllowedOriginsOnly(cors.New(cors.Config{
			AllowOrigins:     strings.Join(cfg.CORSAllowedOrigins, ","),
			AllowCredentials: true,
			AllowMethods:     "GET,HEAD,POST,PUT,PATCH,DELETE",
			AllowHeaders:     strings.Join(append([]string{apiRequestHeaders}, cfg.CORSAllowedHeaders...), ","),
			ExposeHeaders:    "ETag,Location,X-Request-ID,Set-Auth-Jwt,WWW-Authenticate,Retry-After",
			MaxAge:           600,
		})))
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
	// /metrics is off the public port unless METRICS_ADDR asks for it
	// (config.Config.MetricsOnMain).
	switch {
	case cfg.MetricsOnMain:
		app.Get("/metrics", metrics.Handler())
	case cfg.MetricsAddr != "":
		g.Metrics = g.metricsApp(metrics.Handler())
	}

	// Every /api route is one Fiber handler unless a hook is installed:
	// the path check, authentication and forwarding are plain calls, not a
	// middleware chain that Fiber would match route by route.
	api := app.Group("/api")
	toAuth := route(checkRequest, hooks.Auth, func(c *fiber.Ctx) error {
		if err := readBody(c, cfg.BodyLimit); err != nil {
			return err
		}
		return px.ToAuth(c)
	})
	api.All("/auth", toAuth...)
	api.All("/auth/*", toAuth...)

	toTasks := route(g.checkAndAuthenticate, hooks.PerUser, func(c *fiber.Ctx) error {
		if err := readBody(c, cfg.BodyLimit); err != nil {
			return err
		}
		sub, _ := Subject(c)
		return px.ToTasks(c, sub, c.Request().URI().PathOriginal())
	})
	api.All("/tasks", toTasks...)
	api.All("/tasks/*", toTasks...)

	compat := route(g.checkAndAuthenticate, hooks.PerUser, func(c *fiber.Ctx) error {
		sub, _ := Subject(c)
		canonical, err := compatPath(c.Request().URI().PathOriginal(), sub)
		if err != nil {
			return err
		}
		if err := readBody(c, cfg.BodyLimit); err != nil {
			return err
		}
		return px.ToTasks(c, sub, canonical)
	})
	api.All("/:user_id/tasks", compat...)
	api.All("/:user_id/tasks/*", compat...)
	// Unrouted /api paths get the same path check, so a malformed path is a
	// 400 wherever it points.
	api.Use(func(c *fiber.Ctx) error {
		if err := checkRequest(c); err != nil {
			return err
		}
		return fiber.ErrNotFound
	})

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// apiRequestHeaders are the request headers the API reads, always allowed
// cross-origin; CORS_ALLOWED_HEADERS adds to them.
const apiRequestHeaders = "Authorization,Content-Type,If-Match,If-None-Match,Idempotency-Key,X-Request-ID"

// corsForAllowedOriginsOnly wraps Fiber's CORS middleware, which also
// sends the policy (Access-Control-Allow-Methods, -Allow-Headers,
// -Expose-Headers, -Max-Age) to origins it does not allow — without the
// Access-Control-Allow-Origin that would let a browser use it, so nothing is
// granted, but the policy is advertised to sites it does not apply to. Such
// responses lose those headers, as rs/cors and Envoy send none; Max-Age,
// which means something only on a preflight, leaves other responses too.
func corsForAllowedOriginsOnly(corsHandler fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := corsHandler(c)
		h := &c.Response().Header
		if len(h.Peek(fiber.HeaderAccessControlAllowOrigin)) == 0 {
			h.Del(fiber.HeaderAccessControlAllowMethods)
			h.Del(fiber.HeaderAccessControlAllowHeaders)
			h.Del(fiber.HeaderAccessControlExposeHeaders)
			h.Del(fiber.HeaderAccessControlMaxAge)
		} else if c.Method() != fiber.MethodOptions {
			h.Del(fiber.HeaderAccessControlMaxAge)
		}
		return err
	}
}

// metricsApp serves handler at /metrics and a 404 problem for anything
// else: the app for METRICS_ADDR, which Prometheus scrapes and the public
// never reaches. Its few connections keep fasthttp's own timeouts.
func (g *Gateway) metricsApp(handler fiber.Handler) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "gatehouse-gateway-metrics",
		DisableStartupMessage: true,
		CaseSensitive:         true,
		ReadTimeout:           g.cfg.ReadTimeout,
		WriteTimeout:          g.cfg.WriteTimeout,
		IdleTimeout:           g.cfg.IdleTimeout,
		ErrorHandler:          g.handleError,
	})
	app.Get("/metrics", handler)
	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// route returns the handlers of an /api route: prepare (which refuses the
// request by returning an error), the hook when set, then handle. Without a
// hook they are one handler.
func route(prepare func(*fiber.Ctx) error, hook, handle fiber.Handler) []fiber.Handler {
	if hook == nil {
		return []fiber.Handler{func(c *fiber.Ctx) error {
			if err := prepare(c); err != nil {
				return err
			}
			return handle(c)
		}}
	}
	return []fiber.Handler{func(c *fiber.Ctx) error {
		if err := prepare(c); err != nil {
			return err
		}
		return c.Next()
	}, hook, handle}
}

// checkAndAuthenticate prepares an authenticated route: the path check, then
// authentication, which leaves the principal for Subject.
func (g *Gateway) checkAndAuthenticate(c *fiber.Ctx) error {
	if err := checkRequest(c); err != nil {
		return err
	}
	return g.authenticate(c)
}

// Run serves the gateway on ln and, when METRICS_ADDR is set, /metrics on
// a listener of its own; see Serve.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	var metrics net.Listener
	if g.Metrics != nil {
		var err error
		if metrics, err = net.Listen("tcp", g.cfg.MetricsAddr); err != nil {
			ln.Close()
			g.Close()
			return fmt.Errorf("METRICS_ADDR: cannot listen on %s: %w", g.cfg.MetricsAddr, err)
		}
	}
	return g.Serve(ctx, ln, metrics)
}

// Serve fetches the JWKS in the background (readiness follows it), serves
// the gateway on ln and, when the gateway has a metrics app, /metrics on
// metrics, until ctx ends; then it drains (package drain): Connection:
// close on every response, idle connections left to their clients for
// SHUTDOWN_IDLE_GRACE, then it stops accepting and waits for in-flight
// requests, all within SHUTDOWN_TIMEOUT. It returns nil after a clean
// drain.
func (g *Gateway) Serve(ctx context.Context, ln, metrics net.Listener) error {
	defer g.Close()
	if (metrics != nil) != (g.Metrics != nil) {
		ln.Close()
		if metrics != nil {
			metrics.Close()
		}
		return errors.New("serve: a metrics listener goes with METRICS_ADDR, and only with it")
	}
	// Closed connections linger so that a client refused mid-upload (413)
	// reads the problem instead of a reset; Go's net/http waits 500 ms too.
	// A connection counts against the caps until its socket is released,
	// lingering included.
	ln = connlimit.Listener(ln, connLimits(g.cfg))
	ln = linger.Listener(ln, 500*time.Millisecond)
	go func() {
		if err := g.Keys.Start(g.ctx); err == nil {
			g.log.Info("jwks loaded", "url", g.cfg.JWKSURL)
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- g.App.Listener(ln) }()
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	var merrc chan error // stays nil (never ready) without a metrics server
	if metrics != nil {
		merrc = make(chan error, 1)
		go func() { merrc <- g.Metrics.Listener(metrics) }()
		g.log.Info("metrics listening", "addr", metrics.Addr().String(), "path", "/metrics")
	}
	select {
	case err := <-errc:
		if g.Metrics != nil {
			_ = g.Metrics.Shutdown()
		}
		return fmt.Errorf("serve: %w", err)
	case err := <-merrc:
		_ = g.App.Shutdown()
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down; draining connections and in-flight requests",
		"timeout", g.cfg.ShutdownTimeout.String(), "idle_grace", g.cfg.ShutdownGrace.String())
	if g.Metrics != nil {
		// Scrapes go on while the gateway drains.
		defer func() {
			_ = g.Metrics.ShutdownWithTimeout(time.Second)
			<-merrc
		}()
	}
	// Every response from now on says Connection: close; idle keep-alive
	// connections are left to their clients for the grace (package drain).
	if err := g.drain.Shutdown(g.cfg.ShutdownGrace, g.cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info("gateway stopped")
	return nil
}

// Close stops what New started: the key refresher. Run closes the gateway when it returns; a gateway that is
// never run (a test serving App.Handler directly) must be closed by its
// owner. Closing twice is harmless.
func (g *Gateway) Close() {
	g.closed.Do(func() {
		g.cancel()
	})
}

// securityHeaderValues are set on every response; the gateway serves an
// API, so nothing may be framed, sniffed or leak a referrer. Names are in
// fasthttp's canonical form so SetCanonical can skip normalising them per
// request.
var securityHeaderValues = [][2][]byte{
	{[]byte("X-Content-Type-Options"), []byte("nosniff")},
	{[]byte("X-Frame-Options"), []byte("DENY")},
	{[]byte("Referrer-Policy"), []byte("no-referrer")},
	{[]byte("Content-Security-Policy"), []byte("default-src 'none'; frame-ancestors 'none'")},
	{[]byte("Cross-Origin-Resource-Policy"), []byte("same-site")},
}

// hsts is Strict-Transport-Security, sent only on responses to requests
// that reached the edge over HTTPS (TLS to the gateway, or X-Forwarded-Proto
// from a trusted proxy): RFC 6797 §7.2 forbids it over plain HTTP, where a
// browser ignores it anyway.
var hsts = [2][]byte{[]byte("Strict-Transport-Security"), []byte("max-age=31536000; includeSubDomains")}
