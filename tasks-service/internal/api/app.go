// Package api is the HTTP face of the tasks service (docs/api-contract.md,
// canonical routes): Fiber handlers that return errors, one identity
// middleware, one error table.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/linger"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"
)

// OpenAPI is the OpenAPI 3.1 document of the public API, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// StoreFactory returns the store of one verified user.
type StoreFactory func(userID string) (task.Store, error)

// Config is everything the API needs; main builds it.
type Config struct {
	Verifier *identity.Verifier
	Stores   StoreFactory
	Ready    func(context.Context) error // nil error: the database answers
	Log      *slog.Logger
	Metrics  *observe.Metrics // optional: counts requests
	// ServeMetrics serves Metrics at /metrics on this app (the opt-in
	// METRICS_ADDR = TASKS_ADDR); otherwise MetricsApp serves them.
	ServeMetrics bool
	Now          func() time.Time // defaults to time.Now
	BodyLimit    int              // bytes; defaults to 64 KiB
	// RequestTimeout is the deadline of a request's work (defaults to
	// DefaultRequestTimeout); see withDeadline.
	RequestTimeout time.Duration
	// Tracer, when set, gives every request a server span (withTrace);
	// nil: tracing off, nothing done per request.
	Tracer trace.Tracer
	// Service counts idempotency replays (optional).
	Service *ServiceMetrics
}

// DefaultRequestTimeout is Config.RequestTimeout when it is 0: well below
// the gateway's UPSTREAM_TIMEOUT (15 s), so a request's transaction has
// ended, committed or rolled back, before the gateway gives up on it.
const DefaultRequestTimeout = 10 * time.Second

// MetricsApp serves m at /metrics and a 404 problem for anything else: the
// app for METRICS_ADDR, which Prometheus scrapes and no client reaches.
func MetricsApp(m *observe.Metrics, log *slog.Logger) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "tasks-service-metrics",
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(log),
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           60 * time.Second,
	})
	app.Get("/metrics", m.Handler())
	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// Listener wraps ln the way the app must be served: a connection the server
// closes lingers (package linger), so a client refused mid-upload (413)
// reads the problem response instead of a connection reset.
func Listener(ln net.Listener) net.Listener { return linger.Listener(ln, lingerTime) }

// lingerTime is how long a closed connection still drains a client's input;
// Go's net/http waits 500 ms in the same situation.
const lingerTime = 500 * time.Millisecond

// New returns the Fiber app with every route.
func New(cfg Config) *fiber.App {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 64 << 10
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	app := fiber.New(fiber.Config{
		AppName:               "tasks-service",
		BodyLimit:             cfg.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(cfg.Log),
		// fasthttp would otherwise parse a multipart/form-data body into
		// files before the identity check and hand Body() a re-encoded
		// copy; the API takes JSON only, and the signature covers the
		// bytes as received.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  15 * time.Second,
		WriteTimeout:                 15 * time.Second,
		IdleTimeout:                  60 * time.Second,
		// The largest head: every head the gateway forwards fits.
		ReadBufferSize: identity.MaxHeadBytes,
		// A response of up to 32 KiB (a page of 100 tasks) leaves in one
		// write: with fasthttp's 4 KiB, a page of 20 took two system calls.
		WriteBufferSize: 32 << 10,
		// c.JSON's encoder; see jsonEncoder.
		JSONEncoder: jsonEncoder,
	})
	app.Use(observe.RequestID())
	if cfg.Tracer != nil {
		app.Use(withTrace(cfg.Tracer)) // before the access log, which logs the trace id
	}
	app.Use(observe.AccessLog(cfg.Log), withDeadline(cfg.RequestTimeout))
	if cfg.Metrics != nil {
		app.Use(cfg.Metrics.Middleware())
		if cfg.ServeMetrics {
			app.Get("/metrics", cfg.Metrics.Handler())
		}
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if err := cfg.Ready(c.UserContext()); err != nil {
			return task.Wrap(task.Unavailable, err, "the database is not reachable")
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})

	h := handlers{service: cfg.Service}
	authed := app.Group("", requireIdentity(cfg.Verifier, cfg.Stores, cfg.Now, cfg.Log))
	authed.Get("/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/json")
		return c.Send(OpenAPI)
	})
	authed.Get("/api/tasks", h.list)
	authed.Post("/api/tasks", h.create)
	authed.Get("/api/tasks/:id", h.get)
	authed.Put("/api/tasks/:id", ifMatchAny(h.replace))
	authed.Patch("/api/tasks/:id", ifMatchAny(h.update))
	authed.Delete("/api/tasks/:id", ifMatchAny(h.remove))
	authed.Patch("/api/tasks/:id/complete", ifMatchAny(h.complete))
	return app
}
