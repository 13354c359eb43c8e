package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/pkg/logbuf"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
	"github.com/valyala/fasthttp"
)

func listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	return ln, nil
}

func interrupted() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt)
	return ctx
}

// runUpstream is the trivial backend: 200 and a small JSON body.
func runUpstream() error {
	ln, err := listen()
	if err != nil {
		return err
	}
	body := []byte(`{"items":[],"next_cursor":null}`)
	var accepted atomic.Int64
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}, ConnState: func(_ net.Conn, s fasthttp.ConnState) {
		if s == fasthttp.StateNew {
			accepted.Add(1)
		}
	}}
	go func() {
		<-interrupted().Done()
		fmt.Fprintf(os.Stderr, "upstream: %d connections accepted in total\n", accepted.Load())
		_ = srv.Shutdown()
	}()
	return srv.Serve(ln)
}

// runPlainProxy is the baseline: Fiber's own reverse proxy, no auth.
func runPlainProxy(upstream string) error {
	ln, err := listen()
	if err != nil {
		return err
	}
	stop, err := cpuProfile("BENCH_PLAIN_CPUPROFILE")
	if err != nil {
		return err
	}
	defer stop()
	return serveProxy(ln, upstream)
}

// runEdgeProxy is the second baseline: Fiber's reverse proxy behind the
// gateway's own edge (server.Edge: request id, security headers, metrics,
// access log to stdout as the gateway writes it), without authentication,
// header hygiene, signature or rate limit. The gateway's throughput
// relative to it is what those cost.
func runEdgeProxy(upstream, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	ln, err := listen()
	if err != nil {
		return err
	}
	out := logOutput()
	defer out.Close()
	edge := server.Edge(observe.NewLogger(out, "edgeproxy", level), observe.NewMetrics("edgeproxy"), clientip.Resolver{}, nil)
	return serveProxy(ln, upstream, edge)
}

// serveProxy serves Fiber's reverse proxy to upstream on ln, behind the
// middleware mw, until interrupted.
func serveProxy(ln net.Listener, upstream string, mw ...fiber.Handler) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	for _, h := range mw {
		app.Use(h)
	}
	app.All("/*", func(c *fiber.Ctx) error {
		return proxy.Do(c, "http://"+upstream+c.OriginalURL())
	})
	go func() { <-interrupted().Done(); _ = app.Shutdown() }()
	return app.Listener(ln)
}

// logOutput is a server's log: stdout, which the driver reads and
// discards, buffered as cmd/gateway buffers it.
func logOutput() *logbuf.Writer {
	return logbuf.New(os.Stdout, 64<<10, 100*time.Millisecond)
}

// runGateway is the real gateway, configured and wired like cmd/gateway.
// Its logs are read and discarded by the driver.
func runGateway() error {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	ln, err := listen()
	if err != nil {
		return err
	}
	out := logOutput()
	defer out.Close()
	log := observe.NewLogger(out, "gateway", cfg.LogLevel)
	limits, err := ratelimit.NewStore(cfg.RateLimit, log)
	if err != nil {
		return err
	}
	defer limits.Close()
	hooks := server.RateLimitHooks(cfg, limits)
	// Tracing as cmd/gateway sets it up: on only when OTEL_* says so
	// (the driver's tracing targets).
	tp, err := tracing.New(context.Background(), cfg.Tracing)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.Background()) }()
	if tp.Enabled() {
		hooks.Tracer = tp.Tracer("github.com/gatehouse-dev/gatehouse/gateway")
	}
	g, err := server.New(cfg, log, hooks)
	if err != nil {
		return err
	}
	stop, err := cpuProfile("BENCH_CPUPROFILE")
	if err != nil {
		return err
	}
	defer stop()
	return g.Run(interrupted(), ln)
}

// cpuProfile starts a CPU profile into the file named by the environment
// variable env, if set; the returned stop writes it out.
func cpuProfile(env string) (stop func(), err error) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
