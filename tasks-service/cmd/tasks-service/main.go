// Command tasks-service is the data API behind the gateway.
//
//	tasks-service [serve]                 serve HTTP (default)
//	tasks-service migrate up|down|status  manage the schema over MIGRATIONS_DATABASE_URL
//
// Configuration comes from the environment only; -h lists it. This is the
// only place that reads the environment or the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/drain"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/logbuf"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gatehouse-dev/gatehouse/tasks-service/config"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/janitor"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"
)

const usage = `Usage:
  tasks-service [serve]                  serve the API (default)
  tasks-service migrate up|down|status   apply, roll back (last group) or list migrations
  tasks-service -h                       this help

`

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// defaultGCPercent is the collector's target when GOGC is not set: the
// service's live heap is a few MiB, so at Go's 100 it collected several
// times a second under load. On the full path (make bench-stack, the same
// binary with GOGC unset, 200 and 400 in one run, 16 rounds): 200 gave list
// 104.7 % (quartiles 102.1-112.7 %) and create 105.9 % (95.3-115.5 %) of the
// throughput, the service's CPU per list request 0.95x, for a peak RSS of
// 45 MiB instead of 37 (400: 104.1 % / 108.4 %, 62 MiB). GOGC, and
// GOMEMLIMIT as the k8s manifests set it, still decide when set.
const defaultGCPercent = 200

func defaultGC(env settings.Env) {
	if _, set := env("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func run(args []string, env settings.Env, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch {
	case cmd == "-h" || cmd == "--help" || cmd == "help":
		fmt.Fprint(stdout, usage, settings.Usage(config.Vars))
		return 0
	case cmd == "serve" && len(args) <= 1:
	case cmd == "migrate" && len(args) == 2 && (args[1] == "up" || args[1] == "down" || args[1] == "status"):
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}

	defaultGC(env)
	cfg, err := config.Load(env)
	if err != nil {
		fmt.Fprintf(stderr, "tasks-service: configuration:\n%v\n", err)
		return 2
	}
	// Logs are batched: one write per 100 ms instead of one per request.
	// Close flushes them when run returns.
	out := logbuf.New(stderr, 64<<10, 100*time.Millisecond)
	defer out.Close()
	log := observe.NewLogger(out, "tasks-service", cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cmd == "migrate" {
		err = migrate(ctx, cfg, args[1], stdout, log)
	} else {
		err = serve(ctx, cfg, log)
	}
	if err != nil {
		log.Error("tasks-service stopped", "error", err.Error())
		return 1
	}
	return 0
}

func migrate(ctx context.Context, cfg config.Config, action string, stdout io.Writer, log *slog.Logger) error {
	db, err := connect(ctx, cfg, cfg.Migrations, postgres.PoolOptions{MaxOpen: 4, MaxIdle: 2}, log)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := migrations.New(db, cfg.RLSRole)
	if err != nil {
		return err
	}
	switch action {
	case "up":
		names, err := r.Up(ctx)
		for _, n := range names {
			fmt.Fprintln(stdout, "applied", n)
		}
		if err == nil && len(names) == 0 {
			fmt.Fprintln(stdout, "nothing to apply")
		}
		return err
	case "down":
		names, err := r.Down(ctx)
		for _, n := range names {
			fmt.Fprintln(stdout, "rolled back", n)
		}
		if err == nil && len(names) == 0 {
			fmt.Fprintln(stdout, "nothing to roll back")
		}
		return err
	default:
		st, err := r.Status(ctx)
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = fmt.Sprintf("applied (group %d)", s.GroupID)
			}
			fmt.Fprintf(stdout, "%s\t%s\n", s.Name, state)
		}
		return err
	}
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if cfg.MigrateOnStart {
		if err := migrate(ctx, cfg, "up", io.Discard, log); err != nil {
			return fmt.Errorf("MIGRATE_ON_START: %w", err)
		}
		log.Info("migrations applied")
	}
	db, err := connect(ctx, cfg, cfg.Database, cfg.Pool, log)
	if err != nil {
		return err
	}
	defer db.Close()

	tp, err := tracing.New(ctx, cfg.Tracing)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx) // exports the spans still queued
	}()
	metrics := observe.NewMetrics("tasks-service")
	service := api.NewServiceMetrics(metrics.Registry)
	metrics.Registry.MustRegister(collectors.NewDBStatsCollector(db.DB, "tasks"))
	storeOpts := []store.Option{
		store.WithRoleSwitchFailures(service.RoleSwitchFailures.Inc),
		store.WithPoolWaits(func(d time.Duration) { service.PoolWaits.Observe(d.Seconds()) }),
	}
	var tracer trace.Tracer
	if tp.Enabled() {
		storeOpts = append(storeOpts, store.WithTracing(tp.TracerProvider()))
		tracer = tp.Tracer("github.com/gatehouse-dev/gatehouse/tasks-service")
		log.Info("tracing on", "endpoint", cfg.Tracing.Endpoint, "sampler", cfg.Tracing.SamplerName, "service_name", cfg.Tracing.ServiceName)
	}
	sdb := store.New(db, cfg.RLSRole, storeOpts...)

	// The janitor deletes expired Idempotency-Key rows until serve returns;
	// it is stopped and waited for before the pool closes.
	jctx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		janitor.New(janitor.Config{Prune: sdb.PruneIdempotencyKeys, Log: log}).Run(jctx)
	}()
	defer func() {
		stopJanitor()
		<-janitorDone
	}()

	app := api.New(api.Config{
		Verifier:     identity.NewVerifier(cfg.IdentityKeys, cfg.IdentityMaxSkew),
		Stores:       sdb.For,
		Ready:        sdb.Ready,
		Log:          log,
		Metrics:      metrics,
		ServeMetrics: cfg.MetricsOnMain,
		BodyLimit:    cfg.BodyLimit,
		// Shorter than the gateway's UPSTREAM_TIMEOUT: see README, "Deadlines".
		RequestTimeout: cfg.RequestTimeout,
		Tracer:         tracer,
		Service:        service,
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("TASKS_ADDR: %w", err)
	}
	log.Info("tasks-service listening", "addr", ln.Addr().String(), "db", cfg.Database.String())
	// /metrics is served only where METRICS_ADDR says: a listener of its
	// own, the API port (MetricsOnMain), or nowhere.
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR: cannot listen on %s: %w", cfg.MetricsAddr, err)
		}
		mapp := api.MetricsApp(metrics, log)
		go func() {
			if err := mapp.Listener(mln); err != nil {
				log.Error("metrics server stopped", "err", err)
			}
		}()
		defer func() { _ = mapp.ShutdownWithTimeout(time.Second) }()
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}

	// On SIGTERM every response says Connection: close and the gateway's
	// idle connections are left to it to retire, so none of its requests
	// meets a connection closing under it (package drain).
	drainer := drain.New(app)
	done := make(chan error, 1)
	go func() { done <- app.Listener(api.Listener(ln)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout, "idle_grace", cfg.ShutdownGrace)
	if err := drainer.Shutdown(cfg.ShutdownGrace, cfg.ShutdownTimeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func connect(ctx context.Context, cfg config.Config, cc postgres.ConnConfig, pool postgres.PoolOptions, log *slog.Logger) (*bun.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	return postgres.Connect(ctx, cc, pool, log)
}
