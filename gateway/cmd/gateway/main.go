// Command gateway is Gatehouse's edge: it verifies Better Auth JWTs and
// forwards requests with a signed identity. It is configured only by the
// environment; run with -h for the list of variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/pkg/logbuf"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: gateway\n\n"+
			"Verifies Better Auth JWTs at the edge and forwards /api/tasks... to the tasks\n"+
			"service with a signed X-User-ID; /api/auth/* goes to Better Auth untouched.\n"+
			"Stops gracefully on SIGTERM or SIGINT.\n\n%s", settings.Usage(config.Vars))
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	// Access logs are batched: one write per 100 ms instead of one per
	// request. Close flushes them when the gateway stops.
	out := logbuf.New(os.Stdout, 64<<10, 100*time.Millisecond)
	defer out.Close()
	log := observe.NewLogger(out, "gateway", cfg.LogLevel)
	limits, err := ratelimit.NewStore(cfg.RateLimit, log)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	defer limits.Close()
	hooks := server.RateLimitHooks(cfg, limits)
	tp, err := tracing.New(context.Background(), cfg.Tracing)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx) // exports the spans still queued
	}()
	if tp.Enabled() {
		hooks.Tracer = tp.Tracer("github.com/gatehouse-dev/gatehouse/gateway")
		log.Info("tracing on", "endpoint", cfg.Tracing.Endpoint, "sampler", cfg.Tracing.SamplerName, "service_name", cfg.Tracing.ServiceName)
	}
	g, err := server.New(cfg, log, hooks)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("GATEWAY_ADDR: cannot listen on %s: %w", cfg.Addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return g.Run(ctx, ln)
}
