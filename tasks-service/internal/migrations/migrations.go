// Package migrations owns the tasks-service schema: SQL files embedded in the
// binary, applied with bun/migrate under a Postgres advisory lock. Run it over
// a direct (non-pooler) connection: session advisory locks do not survive a
// transaction-mode pooler.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed sql/*.sql
var files embed.FS

// lockKey is the pg_advisory_lock key that serialises migrators of one database.
const lockKey = 7_311_402_951_002

// rolePattern is what the migrations accept as the name of the RLS role; it is
// spliced into SQL, so nothing that needs quoting passes. At most 55
// characters (MaxRoleLen), so that JanitorRole stays within Postgres' 63: a
// longer name would be truncated, and a truncated janitor role could be the
// RLS role itself.
var rolePattern = regexp.MustCompile(fmt.Sprintf(`^[a-z_][a-z0-9_]{0,%d}$`, MaxRoleLen-1))

// MaxRoleLen is the longest name ValidRole accepts.
const MaxRoleLen = 63 - len("_janitor")

// ValidRole reports whether name can be the RLS role.
func ValidRole(name string) bool { return rolePattern.MatchString(name) }

// JanitorRole is the name of the role the migrations create next to the RLS
// role for pruning expired Idempotency-Key rows: role + "_janitor". Its only
// row-level policies admit rows past the 24 h window (see
// sql/20261128000002_idempotency_janitor.tx.up.sql).
func JanitorRole(role string) string { return role + "_janitor" }

// Status is one migration and whether it is applied.
type Status struct {
	Name    string
	Applied bool
	GroupID int64
}

// Runner applies and rolls back the schema.
type Runner struct {
	db   *bun.DB
	role string
}

// New returns a Runner over db that creates and grants to role (see ValidRole).
func New(db *bun.DB, role string) (*Runner, error) {
	if !ValidRole(role) {
		return nil, fmt.Errorf("migrations: invalid role name %q", role)
	}
	return &Runner{db: db, role: role}, nil
}

// Up applies every pending migration and returns their names.
func (r *Runner) Up(ctx context.Context) ([]string, error) {
	var names []string
	err := r.locked(ctx, func(m *migrate.Migrator) error {
		g, err := m.Migrate(ctx)
		for _, mig := range g.Migrations {
			names = append(names, mig.Name)
		}
		return err
	})
	return names, err
}

// Down rolls back the last applied group and returns the names rolled back.
func (r *Runner) Down(ctx context.Context) ([]string, error) {
	var names []string
	err := r.locked(ctx, func(m *migrate.Migrator) error {
		g, err := m.Rollback(ctx)
		for _, mig := range g.Migrations {
			names = append(names, mig.Name)
		}
		return err
	})
	return names, err
}

// Status lists every known migration, oldest first.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	var out []Status
	err := r.locked(ctx, func(m *migrate.Migrator) error {
		ms, err := m.MigrationsWithStatus(ctx)
		for _, mig := range ms {
			out = append(out, Status{Name: mig.Name, Applied: mig.IsApplied(), GroupID: mig.GroupID})
		}
		return err
	})
	return out, err
}

// locked runs fn while holding the advisory lock on a dedicated connection.
// Unlike bun/migrate's lock table, the lock goes away with a dead process.
func (r *Runner) locked(ctx context.Context, fn func(*migrate.Migrator) error) (err error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return fmt.Errorf("migrations: discover: %w", err)
	}
	m := migrate.NewMigrator(r.db, ms,
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.WithTemplateData(struct{ Role, JanitorRole string }{r.role, JanitorRole(r.role)}))

	conn, err := r.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close()
	var ignored bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_lock(?) IS NULL", int64(lockKey)).Scan(&ignored); err != nil {
		return fmt.Errorf("migrations: advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		var released bool
		uerr := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(lockKey)).Scan(&released)
		err = errors.Join(err, uerr)
	}()

	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrations: init: %w", err)
	}
	if err := fn(m); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}
