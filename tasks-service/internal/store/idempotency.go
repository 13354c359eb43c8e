package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
)

// IdempotencyWindow is how long an Idempotency-Key is honoured: within it a
// retry replays the original task; past it the key may be reused (Create
// recycles the row) and PruneIdempotencyKeys deletes it. The janitor
// policies of migration 20261128000002 hard-code the same 24 hours
// (TestPruneWindowMatchesPolicy).
const IdempotencyWindow = 24 * time.Hour

// PruneIdempotencyKeys deletes at most limit idempotency keys, of any user,
// that are older than IdempotencyWindow, oldest first, and returns how many
// it deleted. It is one short statement (bounded by limit and
// StatementTimeout) run as the janitor role, whose row-level policies admit
// expired rows only — so it deletes nothing live even when the login role is
// a superuser. Errors are *task.Error: Unavailable when the database is
// unreachable, Internal otherwise (e.g. a missing janitor role: migrations
// not applied, or the login role not granted it).
func (d *DB) PruneIdempotencyKeys(ctx context.Context, limit int) (_ int64, err error) {
	defer wrap(&err, "PruneIdempotencyKeys")
	if limit < 1 {
		return 0, task.Errorf(task.Internal, "prune limit %d is not positive", limit)
	}
	gen := d.db.QueryGen()
	b, err := appendStatementTimeout(ctx, nil)
	if err != nil {
		return 0, err
	}
	// No user: of the table's policies only the janitor's, expired rows, apply.
	b = gen.AppendQuery(b, "SET LOCAL ROLE ?; SET LOCAL app.user_id = ''; ", bun.Ident(d.janitorRole))
	// ctid = ANY(ARRAY(subquery)) is always a TID scan of exactly the rows the
	// subquery picked (IN (subquery) may become a join over the whole table).
	// A row that a concurrent Create recycles in the meantime gets a new ctid
	// and a fresh created_at, so neither the ctid nor the policy matches it.
	b = gen.AppendQuery(b, `WITH gone AS (
	DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => ?)
		ORDER BY created_at LIMIT ?))
	RETURNING 1)
SELECT count(*) FROM gone`, IdempotencyWindow.Seconds(), limit)
	var n int64
	if err := d.db.QueryRowContext(ctx, string(b)).Scan(&n); err != nil {
		return 0, translate(err)
	}
	return n, nil
}
