package janitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/uptrace/bun"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	pg = pgtest.Setup("janitor")
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

// asUser sends "SET LOCAL ROLE <rls role>; SET LOCAL app.user_id = user; query"
// as one message, the way the store runs a request, and returns the count
// the query selects.
func asUser(tb testing.TB, db *bun.DB, user, query string, args ...any) int64 {
	tb.Helper()
	gen := db.QueryGen()
	b := gen.AppendQuery(nil, "SET LOCAL ROLE ?; SET LOCAL app.user_id = ?; ", bun.Ident(pgtest.Role), user)
	b = gen.AppendQuery(b, query, args...)
	var n int64
	if err := db.QueryRowContext(context.Background(), string(b)).Scan(&n); err != nil {
		tb.Fatalf("as %s: %v", user, err)
	}
	return n
}

// TestRunPrunesPostgres is the janitor as serve runs it, against Postgres,
// logged in as a non-superuser, non-BYPASSRLS role: its first pass deletes
// the expired keys of three users in more than one batch and logs how many;
// the live keys stay; cancelling the context stops it, and no batch runs
// after that.
func TestRunPrunesPostgres(t *testing.T) {
	raw := pg.MustOpen(t)
	login := pg.MustLogin(t, migrations.JanitorRole(pgtest.Role))
	var bypass bool
	if err := login.QueryRowContext(context.Background(),
		"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user").Scan(&bypass); err != nil || bypass {
		t.Fatalf("the test login bypasses RLS (%v, %v); the test would prove nothing", bypass, err)
	}

	const perUser, batch = 12, 10
	var users []string
	for range 3 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		u := "u" + hex.EncodeToString(b[:])
		users = append(users, u)
		asUser(t, raw, u, `WITH i AS (INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, created_at)
			SELECT ?, 'k' || i, '\x00', gen_random_uuid(),
				CASE WHEN i = 0 THEN now() ELSE now() - make_interval(secs => ?) - i * interval '1 second' END
			FROM generate_series(0, ?) AS i RETURNING 1) SELECT count(*) FROM i`,
			u, store.IdempotencyWindow.Seconds(), perUser)
	}

	var mu sync.Mutex
	var calls []int64
	prune := store.New(login, pgtest.Role).PruneIdempotencyKeys
	var logs testenv.Logs
	j := New(Config{
		Prune: func(ctx context.Context, limit int) (int64, error) {
			n, err := prune(ctx, limit)
			mu.Lock()
			calls = append(calls, n)
			mu.Unlock()
			return n, err
		},
		Interval: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Batch: batch, Log: logger(&logs),
	})
	stop := runInBackground(t, j)
	left := func() (n int64) {
		for _, u := range users {
			n += asUser(t, raw, u, "SELECT count(*) FROM idempotency_keys WHERE created_at < now() - make_interval(secs => ?)", store.IdempotencyWindow.Seconds())
		}
		return n
	}
	eventually(t, "expired keys remain", func() bool { return left() == 0 })
	stop()
	mu.Lock()
	after := len(calls)
	mu.Unlock()

	for _, u := range users {
		if n := asUser(t, raw, u, "SELECT count(*) FROM idempotency_keys"); n != 1 {
			t.Errorf("%s has %d keys left, want its 1 live key", u, n)
		}
	}
	pruned := logs.Records(t, "idempotency keys pruned")
	if len(pruned) == 0 || pruned[0]["level"] != "INFO" {
		t.Fatalf("no INFO line for the first pass: %v", pruned)
	}
	if d, b := pruned[0]["deleted"].(float64), pruned[0]["batches"].(float64); d < 3*perUser || b < 4 {
		t.Errorf("first pass: deleted=%v in %v batches; want all %d expired keys in more than %d batches of %d", d, b, 3*perUser, 3, batch)
	}
	if failed := logs.Records(t, "idempotency key pruning failed; retrying next pass"); len(failed) != 0 {
		t.Errorf("passes failed: %v", failed)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != after {
		t.Errorf("%d batches ran after Run returned", len(calls)-after)
	}
}
