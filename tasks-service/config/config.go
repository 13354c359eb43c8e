// Package config declares the tasks service's environment variables (Vars)
// and turns an environment into a validated Config (Load). It is public so
// that deployment tests can check manifests against Vars.
package config

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
)

// Vars declares every environment variable the tasks service reads, the
// OpenTelemetry ones (tracing.Vars) included.
var Vars = slices.Concat(serviceVars, tracing.Vars)

var serviceVars = []settings.Var{
	{Name: "TASKS_ADDR", Default: ":8081", Usage: "listen address, host:port (e.g. :8081 or 127.0.0.1:8081)"},
	{Name: "METRICS_ADDR", Usage: "listen address of /metrics, host:port of its own (e.g. 127.0.0.1:9091, or :9090 where a NetworkPolicy keeps it internal); empty: no /metrics at all; the value of TASKS_ADDR (opt-in) serves it on the API port"},
	{Name: "DATABASE_URL", Required: true, Secret: true, Usage: "Postgres URL for traffic; on Neon the -pooler URL as pasted from the console (e.g. postgres://user:pw@ep-x-pooler.region.aws.neon.tech/db?sslmode=require&channel_binding=require)"},
	{Name: "MIGRATIONS_DATABASE_URL", Secret: true, Usage: "Postgres URL for migrations; on Neon the direct (non-pooler) URL; default DATABASE_URL"},
	{Name: "MIGRATE_ON_START", Default: "false", Usage: "true: serve runs pending migrations first (single-binary setups)"},
	{Name: "IDENTITY_KEYS", Required: true, Secret: true, Usage: "gateway identity keys kid:base64key[,kid:base64key...], each >= 32 random bytes (e.g. k1:$(openssl rand -base64 32))"},
	{Name: "IDENTITY_MAX_SKEW", Default: "30s", Usage: "accepted age of an identity assertion, either direction (1s-5m, e.g. 30s)"},
	{Name: "DB_RLS_ROLE", Default: "tasks_rls", Usage: "unprivileged role the migrations create and every request SET LOCAL ROLEs to; the idempotency-key janitor uses <role>_janitor (lower-case letters, digits, _; at most 55 characters)"},
	{Name: "DB_CONNECT_TIMEOUT", Default: "60s", Usage: "how long start-up retries the database (Neon computes wake from zero; e.g. 60s)"},
	{Name: "DB_MAX_OPEN_CONNS", Default: "20", Usage: "largest number of open database connections (1-1000)"},
	{Name: "DB_MAX_IDLE_CONNS", Usage: "idle database connections kept (0-1000); default DB_MAX_OPEN_CONNS, so that a pool that was busy keeps its connections instead of closing and reopening them (each new one costs Postgres a process)"},
	{Name: "DB_CONN_MAX_IDLE_TIME", Default: "5m", Usage: "close a database connection idle this long (e.g. 5m)"},
	{Name: "DB_CONN_MAX_LIFETIME", Default: "30m", Usage: "close a database connection this old (e.g. 30m)"},
	{Name: "REQUEST_TIMEOUT", Default: "10s", Usage: "deadline of one request's database work; past it the statement is cancelled, its transaction rolled back and the answer is 503. Keep it below the gateway's UPSTREAM_TIMEOUT (100ms-5m, e.g. 10s)"},
	{Name: "BODY_LIMIT", Default: "65536", Usage: "largest request body in bytes (1024-1048576)"},
	{Name: "SHUTDOWN_TIMEOUT", Default: "20s", Usage: "how long SIGTERM waits for in-flight requests (e.g. 20s)"},
	{Name: "SHUTDOWN_IDLE_GRACE", Default: "5s", Usage: "the first part of SHUTDOWN_TIMEOUT, in which every response says Connection: close and idle kept-alive connections are left to their clients to close; longer than the gateway's UPSTREAM_IDLE_TIMEOUT (ends early when none is left; e.g. 5s)"},
	{Name: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error"},
}

// Config is everything the tasks service needs, validated.
type Config struct {
	Addr            string
	MetricsAddr     string // a listener of its own for /metrics; "": none
	MetricsOnMain   bool   // /metrics on Addr (METRICS_ADDR = TASKS_ADDR)
	Database        postgres.ConnConfig
	Migrations      postgres.ConnConfig
	MigrateOnStart  bool
	IdentityKeys    *identity.Keyring
	IdentityMaxSkew time.Duration
	RLSRole         string
	ConnectTimeout  time.Duration
	Pool            postgres.PoolOptions
	BodyLimit       int
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	ShutdownGrace   time.Duration
	LogLevel        slog.Level
	// Tracing is the OTEL_* configuration; off unless an endpoint is set.
	Tracing tracing.Config
}

// Load reads and validates the environment. Its error lists every problem,
// one "NAME: problem" per line; it never repeats a password.
func Load(env settings.Env) (Config, error) {
	r := settings.NewReader(env, Vars)
	var c Config

	c.Addr = r.String("TASKS_ADDR")
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		r.Fail("TASKS_ADDR", "%q is not host:port (e.g. :8081)", c.Addr)
	}
	c.MetricsAddr = r.String("METRICS_ADDR")
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			r.Fail("METRICS_ADDR", "%q is not host:port (e.g. 127.0.0.1:9091)", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr && port != "0" {
			c.MetricsAddr, c.MetricsOnMain = "", true
		}
	}

	if s := r.String("DATABASE_URL"); s != "" {
		cc, err := postgres.ParseDSN(s)
		if err != nil {
			r.Fail("DATABASE_URL", "%v", err)
		}
		c.Database, c.Migrations = cc, cc
	}
	if s := r.String("MIGRATIONS_DATABASE_URL"); s != "" {
		cc, err := postgres.ParseDSN(s)
		if err != nil {
			r.Fail("MIGRATIONS_DATABASE_URL", "%v", err)
		}
		c.Migrations = cc
	}
	c.MigrateOnStart = r.Bool("MIGRATE_ON_START")

	if s := r.String("IDENTITY_KEYS"); s != "" {
		kr, err := identity.ParseKeys(s)
		if err != nil {
			r.Fail("IDENTITY_KEYS", "%v (format kid:base64key[,kid:base64key...], e.g. k1:$(openssl rand -base64 32))", err)
		}
		c.IdentityKeys = kr
	}
	c.IdentityMaxSkew = r.Duration("IDENTITY_MAX_SKEW")
	if c.IdentityMaxSkew > 5*time.Minute || (c.IdentityMaxSkew > 0 && c.IdentityMaxSkew < time.Second) {
		r.Fail("IDENTITY_MAX_SKEW", "%s is outside 1s-5m (e.g. 30s)", c.IdentityMaxSkew)
	}
	c.RLSRole = r.String("DB_RLS_ROLE")
	if !migrations.ValidRole(c.RLSRole) {
		r.Fail("DB_RLS_ROLE", "%q is not a plain role name of at most %d characters (lower-case letters, digits and _, not starting with a digit, e.g. tasks_rls)", c.RLSRole, migrations.MaxRoleLen)
	}
	c.ConnectTimeout = r.Duration("DB_CONNECT_TIMEOUT")
	c.Pool = postgres.PoolOptions{
		MaxOpen:     r.Int("DB_MAX_OPEN_CONNS", 1, 1000),
		MaxIdleTime: r.Duration("DB_CONN_MAX_IDLE_TIME"),
		MaxLifetime: r.Duration("DB_CONN_MAX_LIFETIME"),
	}
	c.Pool.MaxIdle = c.Pool.MaxOpen
	if r.String("DB_MAX_IDLE_CONNS") != "" {
		c.Pool.MaxIdle = r.Int("DB_MAX_IDLE_CONNS", 0, 1000)
	}
	c.BodyLimit = r.Int("BODY_LIMIT", 1024, 1<<20)
	c.RequestTimeout = r.Duration("REQUEST_TIMEOUT")
	if c.RequestTimeout > 5*time.Minute || (c.RequestTimeout > 0 && c.RequestTimeout < 100*time.Millisecond) {
		r.Fail("REQUEST_TIMEOUT", "%s is outside 100ms-5m (e.g. 10s)", c.RequestTimeout)
	}
	c.ShutdownTimeout = r.Duration("SHUTDOWN_TIMEOUT")
	c.ShutdownGrace = r.Duration("SHUTDOWN_IDLE_GRACE")
	if c.ShutdownGrace > c.ShutdownTimeout {
		r.Fail("SHUTDOWN_IDLE_GRACE", "%s is longer than SHUTDOWN_TIMEOUT (%s), which it is part of", c.ShutdownGrace, c.ShutdownTimeout)
	}
	c.LogLevel = r.LogLevel("LOG_LEVEL")

	tc, tErr := tracing.Load(env, "tasks-service")
	c.Tracing = tc
	if err := errors.Join(r.Err(), tErr); err != nil {
		return Config{}, err
	}
	return c, nil
}
