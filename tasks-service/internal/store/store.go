// Package store keeps tasks in Postgres with Bun. A Tasks value is bound to
// one user: every statement it writes carries user_id = ?, and every
// statement runs behind a prelude that switches to the unprivileged RLS role
// and sets app.user_id for the transaction only, so Postgres row-level
// security enforces the same boundary a second time.
package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
	"go.opentelemetry.io/otel/trace"
)

// StatementTimeout bounds each statement (Postgres statement_timeout); the
// deadline of the request's context may shorten it (statementTimeout).
const StatementTimeout = 5 * time.Second

// statementTimeout is the statement_timeout of a statement sent under ctx:
// StatementTimeout, or less, so that Postgres itself cancels the statement
// — rolling its transaction back — a margin before ctx's deadline, while the
// driver still waits for the answer. The margin (a fifth of the time left,
// at most 1 s) is for that answer to arrive: at the deadline itself the
// driver abandons the connection, and whether a write committed would be
// unknown. It fails with Unavailable when the deadline leaves no time.
func statementTimeout(ctx context.Context) (time.Duration, error) {
	d := StatementTimeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		left -= min(left/5, time.Second)
		if left < time.Millisecond {
			return 0, task.Wrap(task.Unavailable, context.DeadlineExceeded, "the database took too long; retry later")
		}
		d = min(d, left)
	}
	return d, nil
}

// appendStatementTimeout appends the SET LOCAL of the statement timeout of
// ctx to b.
func appendStatementTimeout(ctx context.Context, b []byte) ([]byte, error) {
	d, err := statementTimeout(ctx)
	if err != nil {
		return nil, err
	}
	b = append(b, "SET LOCAL statement_timeout = "...)
	b = strconv.AppendInt(b, max(d.Milliseconds(), 1), 10) // in ms; 0 would mean none
	return append(b, "; "...), nil
}

// DB hands out per-user stores over one pool.
type DB struct {
	db          *bun.DB
	role        string
	janitorRole string
	skipRole    bool
	// tracer is nil unless WithTracing.
	tracer trace.Tracer
	// roleSwitchFailed is called when Postgres refuses SET LOCAL ROLE.
	roleSwitchFailed func()
	// gate admits the pool's size of statements, first come first served
	// (see Tasks.run); nil with an unbounded pool.
	gate chan struct{}
	// poolWaited is called with how long a statement waited at the gate
	// (never for one that did not wait); nil unless WithPoolWaits.
	poolWaited func(time.Duration)
}

// Option configures a DB.
type Option func(*DB)

// WithoutRLSRole skips the requests' SET LOCAL ROLE, so a superuser login
// bypasses RLS (PruneIdempotencyKeys still switches to the janitor role).
// It exists only to measure what RLS costs (tasks-bench); never serve with it.
func WithoutRLSRole() Option { return func(d *DB) { d.skipRole = true } }

// WithRoleSwitchFailures calls f each time Postgres refuses a request's
// SET LOCAL ROLE (the role is missing, or the login role may not switch to
// it): every request then fails, so this is what an alert should watch.
func WithRoleSwitchFailures(f func()) Option { return func(d *DB) { d.roleSwitchFailed = f } }

// WithPoolWaits calls f with how long a request's statement waited for one
// of the pool's connections, each time one had to wait (see Tasks.run).
// The statements wait at the store's gate, not in database/sql, so
// database/sql's own wait statistics do not count them.
func WithPoolWaits(f func(time.Duration)) Option { return func(d *DB) { d.poolWaited = f } }

// New returns a DB that runs every request's statements as role, which must
// be the unprivileged role the migrations created, and prunes as
// migrations.JanitorRole(role).
func New(db *bun.DB, role string, opts ...Option) *DB {
	d := &DB{db: db, role: role, janitorRole: migrations.JanitorRole(role)}
	for _, o := range opts {
		o(d)
	}
	if n := db.Stats().MaxOpenConnections; n > 0 {
		d.gate = make(chan struct{}, n)
	}
	return d
}

// For returns the store of userID; it fails with Unauthenticated for an id
// that no verified assertion can carry.
func (d *DB) For(userID string) (task.Store, error) {
	s, err := d.tasks(userID)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *DB) tasks(userID string) (*Tasks, error) {
	if !identity.ValidUserID(userID) {
		return nil, task.Errorf(task.Unauthenticated, "invalid user id")
	}
	gen := d.db.QueryGen()
	var prelude []byte
	if !d.skipRole {
		prelude = gen.AppendQuery(prelude, "SET LOCAL ROLE ?; ", bun.Ident(d.role))
	}
	prelude = gen.AppendQuery(prelude, "SET LOCAL app.user_id = ?; ", userID)
	return &Tasks{db: d.db, userID: userID, prelude: prelude, dbh: d}, nil
}

// Ready reports whether the database answers.
func (d *DB) Ready(ctx context.Context) error { return postgres.Ping(ctx, d.db) }

// Tasks is the store of one user. Each method sends its statements as ONE
// simple-protocol message: "SET LOCAL ...; SET LOCAL ...; <statement>".
// Postgres times each statement out within the deadline of the method's
// context (statementTimeout).
// Postgres runs a multi-statement message as one implicit transaction, so the
// settings are transaction-local (safe behind a transaction-mode pooler), an
// error rolls everything back, and a request costs one round trip.
type Tasks struct {
	db      *bun.DB
	userID  string
	prelude []byte
	dbh     *DB
}

// run sends the prelude and q in one message and scans the rows of q into
// dest (a pointer to a slice, or nil). Errors come back translated.
//
// Statements wait for the pool in the order they come, at a gate of the
// pool's size: database/sql hands a freed connection to a random waiter, so
// with more requests than connections some wait many turns while later
// ones pass them; a channel serves its waiting senders first come, first
// served. make bench-stack (64 connections, pool of 20, 16 rounds), this
// build against one without the gate behind the same gateway: p99 0.94x
// for list (per-round quartiles 0.91-0.96x) and 0.91x for create
// (0.84-1.01x), throughput unchanged (101.5 %, 99.6 %). A wait is reported
// to WithPoolWaits.
func (s *Tasks) run(ctx context.Context, dest any, q schema.QueryAppender) error {
	if gate := s.dbh.gate; gate != nil {
		if err := s.dbh.enter(ctx); err != nil {
			return err
		}
		defer func() { <-gate }()
	}
	b, err := appendStatementTimeout(ctx, make([]byte, 0, 64+len(s.prelude)))
	if err != nil {
		return err
	}
	b, err = q.AppendQuery(s.db.QueryGen(), append(b, s.prelude...))
	if err != nil {
		return task.Wrap(task.Internal, fmt.Errorf("build query: %w", err), "internal error")
	}
	ctx = s.traceStatement(ctx, q)
	rows, err := s.db.QueryContext(ctx, string(b))
	if err != nil {
		s.noteRoleSwitch(err)
		return translate(err)
	}
	if dest == nil {
		defer rows.Close()
		for rows.Next() {
		}
		err = rows.Err()
	} else {
		err = s.db.ScanRows(ctx, rows, dest)
	}
	if err != nil {
		s.noteRoleSwitch(err)
	}
	return translate(err)
}

// enter takes a place at the gate, waiting in line while the pool's
// connections are all taken; a context that ends first gives up, as
// database/sql's wait for a connection would.
func (d *DB) enter(ctx context.Context) error {
	select {
	case d.gate <- struct{}{}:
		return nil
	default:
	}
	start := time.Now()
	select {
	case d.gate <- struct{}{}:
		if d.poolWaited != nil {
			d.poolWaited(time.Since(start))
		}
		return nil
	case <-ctx.Done():
		return translate(ctx.Err())
	}
}
