// Package pgtest gives each test package its own freshly migrated Postgres
// database. The server is, in order: TEST_DATABASE_URL (a Neon branch, or
// Postgres behind PgBouncer), a testcontainers Postgres when a Docker engine
// answers, or the local server at postgres://postgres@127.0.0.1:5432/test.
// With none reachable, tests skip — except when CI=true, where they fail.
//
// TEST_MIGRATIONS_DATABASE_URL, when set next to TEST_DATABASE_URL, is the
// direct (non-pooler) URL of the same server: databases are created and
// migrated over it, as production migrates over MIGRATIONS_DATABASE_URL,
// because a transaction-mode pooler cannot hold a session advisory lock.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/uptrace/bun"
)

// Role is the RLS role the test databases are migrated with.
const Role = "tasks_rls"

// LocalURL is the fallback server (trust auth, superuser postgres).
const LocalURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Server is the database of one test package.
type Server struct {
	URL     string // of the package's own database (traffic)
	Direct  string // the same database over the direct URL (migrations)
	Source  string // where it came from, for logs
	skip    string // why there is none
	cleanup []func()
}

// Setup creates and migrates a database named gatehouse_test_<pkg>_<random>.
// Call it from TestMain and Close the Server after m.Run.
func Setup(pkg string) *Server {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := &Server{}
	admin, source, err := s.server(ctx)
	if err != nil {
		s.skip = err.Error()
		return s
	}
	s.Source = source
	direct := admin
	if d := os.Getenv("TEST_MIGRATIONS_DATABASE_URL"); d != "" && source == "TEST_DATABASE_URL" {
		direct = d
	}
	if err := s.createDatabase(ctx, admin, direct, pkg); err != nil {
		s.skip = fmt.Sprintf("%s: %v", source, err)
		return s
	}
	return s
}

func (s *Server) server(ctx context.Context) (string, string, error) {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u, "TEST_DATABASE_URL", nil
	}
	if u, err := s.container(ctx); err == nil {
		return u, "testcontainers", nil
	}
	cc, err := postgres.ParseDSN(LocalURL)
	if err != nil {
		return "", "", err
	}
	db, err := connect(ctx, cc, 5*time.Second)
	if err != nil {
		return "", "", fmt.Errorf("no Postgres: TEST_DATABASE_URL unset, no Docker engine, and %s: %v", LocalURL, err)
	}
	_ = db.Close()
	return LocalURL, "local", nil
}

// container starts Postgres under testcontainers when a Docker engine answers.
func (s *Server) container(ctx context.Context) (u string, err error) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics without Docker
			err = fmt.Errorf("docker: %v", r)
		}
	}()
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			return "", err
		}
	}
	p, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return "", err
	}
	defer p.Close()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Health(hctx); err != nil {
		return "", err
	}
	c, err := tcpostgres.Run(ctx, "postgres:17-alpine",
		tcpostgres.WithDatabase("test"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies())
	if err != nil {
		return "", err
	}
	s.cleanup = append(s.cleanup, func() { _ = testcontainers.TerminateContainer(c) })
	return c.ConnectionString(ctx, "sslmode=disable")
}

// createDatabase makes the package's database and migrates it. When the
// server refuses CREATE DATABASE (a locked-down Neon role), the given
// database itself is migrated and used; tests use random user ids, so
// leftovers do not disturb them.
func (s *Server) createDatabase(ctx context.Context, admin, direct, pkg string) error {
	cc, err := postgres.ParseDSN(direct)
	if err != nil {
		return fmt.Errorf("test database URL: %v", err)
	}
	db, err := connect(ctx, cc, 30*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	s.URL, s.Direct = admin, direct

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "gatehouse_test_" + strings.ReplaceAll(pkg, "-", "_") + "_" + hex.EncodeToString(suffix[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE ?", bun.Ident(name)); err == nil {
		s.URL, s.Direct = withDatabase(admin, name), withDatabase(direct, name)
		s.cleanup = append(s.cleanup, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db, err := connect(ctx, cc, 10*time.Second)
			if err != nil {
				return
			}
			defer db.Close()
			_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS ? WITH (FORCE)", bun.Ident(name))
		})
	}
	mdb, err := s.open(ctx, s.Direct)
	if err != nil {
		return err
	}
	defer mdb.Close()
	r, err := migrations.New(mdb, Role)
	if err != nil {
		return err
	}
	_, err = r.Up(ctx)
	return err
}

func withDatabase(raw, name string) string {
	u, _ := url.Parse(raw)
	u.Path = "/" + name
	return u.String()
}

func (s *Server) open(ctx context.Context, raw string) (*bun.DB, error) {
	cc, err := postgres.ParseDSN(raw)
	if err != nil {
		return nil, err
	}
	return connect(ctx, cc, 30*time.Second)
}

// Need returns the package's database URL, or skips tb (fails it when
// CI=true) when there is none.
func (s *Server) Need(tb testing.TB) string {
	tb.Helper()
	if s.skip != "" {
		testenv.Missing(tb, "no Postgres (set TEST_DATABASE_URL or start one on 127.0.0.1:5432): %s", s.skip)
	}
	return s.URL
}

// MustOpen returns a pool on the package's database (the traffic URL),
// closed at cleanup.
func (s *Server) MustOpen(tb testing.TB) *bun.DB {
	tb.Helper()
	return s.mustOpen(tb, s.URL)
}

// MustOpenDirect is MustOpen over the direct URL, for migrations.
func (s *Server) MustOpenDirect(tb testing.TB) *bun.DB {
	tb.Helper()
	return s.mustOpen(tb, s.Direct)
}

func (s *Server) mustOpen(tb testing.TB, raw string) *bun.DB {
	tb.Helper()
	s.Need(tb)
	db, err := s.open(context.Background(), raw)
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// Close drops the database and stops the container, if any.
func (s *Server) Close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

func connect(ctx context.Context, cc postgres.ConnConfig, timeout time.Duration) (*bun.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return postgres.Connect(ctx, cc, postgres.PoolOptions{MaxOpen: 30, MaxIdle: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// MustLogin creates a login role that is neither superuser nor BYPASSRLS —
// so FORCE ROW LEVEL SECURITY applies to it, as to a locked-down production
// login — grants it the given roles, and returns a pool on the package's
// database logged in as it, closed at cleanup, when the role is dropped too.
// The role is NOINHERIT: it holds the granted roles' privileges only after
// SET ROLE, which is how the service uses them. The pool uses the direct
// URL: a pooler (PgBouncer) admits only the users of its own auth file.
// Without the right to create roles the test is Missing.
func (s *Server) MustLogin(tb testing.TB, grants ...string) *bun.DB {
	tb.Helper()
	name, db := s.mustLogin(tb, "NOINHERIT", false)
	admin := s.MustOpenDirect(tb)
	for _, g := range grants {
		if _, err := admin.ExecContext(context.Background(), "GRANT ? TO ?", bun.Ident(g), bun.Ident(name)); err != nil {
			tb.Fatalf("grant %s to %s: %v", g, name, err)
		}
	}
	return db
}

// MustLoginOwner creates a login role that is neither superuser nor
// BYPASSRLS but has CREATEROLE and owns a fresh, empty database — what a
// Neon project's owner role looks like — and returns its name and a pool on
// that database as it. Both are dropped at cleanup; roles the login created
// must be dropped by the test before then (register their cleanup after
// this call).
func (s *Server) MustLoginOwner(tb testing.TB) (string, *bun.DB) {
	tb.Helper()
	return s.mustLogin(tb, "CREATEROLE", true)
}

func (s *Server) mustLogin(tb testing.TB, attrs string, ownDB bool) (string, *bun.DB) {
	tb.Helper()
	admin := s.MustOpenDirect(tb)
	ctx := context.Background()
	var b [20]byte
	_, _ = rand.Read(b[:])
	name, password := "gatehouse_test_login_"+hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:])
	if _, err := admin.ExecContext(ctx, "CREATE ROLE ? LOGIN NOSUPERUSER NOBYPASSRLS "+attrs+" PASSWORD ?",
		bun.Ident(name), password); err != nil {
		testenv.Missing(tb, "cannot create a non-superuser login role on %s: %v", s.Source, err)
	}
	// Cleanups run last-in first-out: the pool closes, the database goes, then the role.
	tb.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP ROLE IF EXISTS ?", bun.Ident(name)); err != nil {
			tb.Errorf("drop role %s: %v", name, err)
		}
	})
	raw := s.Direct
	if ownDB {
		dbName := name + "_db"
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE ? OWNER ?", bun.Ident(dbName), bun.Ident(name)); err != nil {
			testenv.Missing(tb, "cannot create a database on %s: %v", s.Source, err)
		}
		tb.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS ? WITH (FORCE)", bun.Ident(dbName)); err != nil {
				tb.Errorf("drop database %s: %v", dbName, err)
			}
		})
		raw = withDatabase(raw, dbName)
	}
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	return name, s.mustOpen(tb, u.String())
}
