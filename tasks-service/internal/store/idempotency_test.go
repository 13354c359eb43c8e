package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

var janitorRole = migrations.JanitorRole(pgtest.Role)

// mustCreateKey creates a task under Idempotency-Key key (the body is the key).
func mustCreateKey(tb testing.TB, s *Tasks, key string) task.Task {
	tb.Helper()
	t, replayed, err := s.Create(context.Background(), keyDraft(tb, key), keyIdem(key))
	if err != nil || replayed {
		tb.Fatalf("create with key %q: replayed=%v err=%v", key, replayed, err)
	}
	return t
}

func keyDraft(tb testing.TB, key string) task.Draft {
	tb.Helper()
	d, err := task.Input{Title: &key}.Draft()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func keyIdem(key string) *task.Idempotency {
	return &task.Idempotency{Key: key, BodyHash: sha256.Sum256([]byte(key))}
}

// mustAge makes s's keys look age old, as the user's own request (RLS admits it).
func mustAge(tb testing.TB, s *Tasks, age time.Duration, keys ...string) {
	tb.Helper()
	var rows []struct {
		Key string `bun:"key"`
	}
	q := bun.NewRawQuery(s.db, "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => ?) WHERE user_id = ? AND key IN (?) RETURNING key",
		age.Seconds(), s.userID, bun.List(keys))
	if err := s.run(context.Background(), &rows, q); err != nil || len(rows) != len(keys) {
		tb.Fatalf("age %v of %s: %d rows, %v", keys, s.userID, len(rows), err)
	}
}

// keysOf lists s's keys as its own request sees them.
func keysOf(tb testing.TB, s *Tasks) []string {
	tb.Helper()
	var rows []struct {
		Key string `bun:"key"`
	}
	if err := s.run(context.Background(), &rows, bun.NewRawQuery(s.db, "SELECT key FROM idempotency_keys WHERE user_id = ? ORDER BY key", s.userID)); err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out
}

// countAs sends "SET LOCAL ROLE role; [SET LOCAL app.user_id = user;] query"
// as one message and returns the count the query selects.
func countAs(db *bun.DB, role, user, query string, args ...any) (int64, error) {
	gen := db.QueryGen()
	b := gen.AppendQuery(nil, "SET LOCAL ROLE ?; ", bun.Ident(role))
	if user != "" {
		b = gen.AppendQuery(b, "SET LOCAL app.user_id = ?; ", user)
	}
	b = gen.AppendQuery(b, query, args...)
	var n int64
	err := db.QueryRowContext(context.Background(), string(b)).Scan(&n)
	return n, err
}

// mustNotBypassRLS fails unless db's login is neither superuser nor BYPASSRLS.
func mustNotBypassRLS(tb testing.TB, db *bun.DB) {
	tb.Helper()
	var bypass bool
	if err := db.QueryRowContext(context.Background(),
		"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user").Scan(&bypass); err != nil || bypass {
		tb.Fatalf("the test login bypasses RLS (%v, %v); the test would prove nothing", bypass, err)
	}
}

// mustDrain prunes until nothing expired is left, so counts start at zero.
func mustDrain(tb testing.TB, d *DB) {
	tb.Helper()
	for range 1000 {
		n, err := d.PruneIdempotencyKeys(context.Background(), 1000)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	tb.Fatal("expired keys never ran out")
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPruneDeletesExpiredKeysOnly runs the prune as a login role that is
// neither superuser nor BYPASSRLS, so FORCE ROW LEVEL SECURITY applies to it:
// the expired keys of several users go, the keys inside the window — one a
// minute short of it — stay, and still replay the original task, while an
// expired key is free for a new task.
func TestPruneDeletesExpiredKeysOnly(t *testing.T) {
	raw := pg.MustOpen(t)
	requests := New(raw, pgtest.Role)
	login := pg.MustLogin(t, janitorRole)
	mustNotBypassRLS(t, login)
	janitor := New(login, pgtest.Role)
	ctx := context.Background()

	type user struct {
		s          *Tasks
		live, edge task.Task
	}
	users := make([]user, 3)
	for i := range users {
		s := mustTasks(t, requests, newUser(t))
		users[i] = user{s: s, live: mustCreateKey(t, s, "live"), edge: mustCreateKey(t, s, "edge")}
		mustCreateKey(t, s, "old")
		mustCreateKey(t, s, "older")
		mustAge(t, s, IdempotencyWindow-time.Minute, "edge")
		mustAge(t, s, IdempotencyWindow+time.Minute, "old")
		mustAge(t, s, 30*24*time.Hour, "older")
	}

	var total int64
	for {
		n, err := janitor.PruneIdempotencyKeys(ctx, 1000)
		if err != nil {
			t.Fatalf("prune as a non-superuser login: %v", err)
		}
		if total += n; n == 0 {
			break
		}
	}
	if total < 2*int64(len(users)) {
		t.Errorf("pruned %d keys, want at least the %d expired ones", total, 2*len(users))
	}
	for i, u := range users {
		if got := keysOf(t, u.s); !equal(got, []string{"edge", "live"}) {
			t.Errorf("user %d keeps keys %v, want [edge live]", i, got)
		}
		for _, k := range []struct {
			key  string
			orig task.Task
		}{{"live", u.live}, {"edge", u.edge}} {
			got, replayed, err := u.s.Create(ctx, keyDraft(t, k.key), keyIdem(k.key))
			if err != nil || !replayed || got.ID != k.orig.ID {
				t.Errorf("user %d, key %q after the prune: replayed=%v id=%v err=%v; want a replay of %v", i, k.key, replayed, got.ID, err, k.orig.ID)
			}
		}
		if _, replayed, err := u.s.Create(ctx, keyDraft(t, "old"), keyIdem("old")); err != nil || replayed {
			t.Errorf("user %d, pruned key reused: replayed=%v err=%v; want a new task", i, replayed, err)
		}
	}
}

// TestPruneIsBatched: each call deletes at most limit rows, across users,
// and repeated calls delete more than one batch's worth until none is left.
func TestPruneIsBatched(t *testing.T) {
	raw := pg.MustOpen(t)
	janitor := New(pg.MustLogin(t, janitorRole), pgtest.Role)
	mustDrain(t, janitor)
	const perUser, users, limit = 9, 3, 10
	for range users {
		s := mustTasks(t, New(raw, pgtest.Role), newUser(t))
		q := bun.NewRawQuery(raw, `INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, created_at)
			SELECT ?, 'k' || i, '\x00', gen_random_uuid(), now() - make_interval(secs => ?) - i * interval '1 second'
			FROM generate_series(1, ?) AS i`, s.userID, IdempotencyWindow.Seconds(), perUser)
		if err := s.run(context.Background(), nil, q); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	for {
		n, err := janitor.PruneIdempotencyKeys(context.Background(), limit)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 || len(got) > 10 {
			break
		}
	}
	if want := []int64{10, 10, 7, 0}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != 0 {
		t.Errorf("batches of %d deleted %v, want %v", limit, got, want)
	}
	if _, err := janitor.PruneIdempotencyKeys(context.Background(), 0); task.ErrorCode(err) != task.Internal {
		t.Errorf("limit 0: %v, want an internal error", err)
	}
}

// TestPruneWindowMatchesPolicy: the migration's janitor policy hard-codes
// 24 hours; IdempotencyWindow must say the same. The policy alone (an
// unfiltered DELETE as the janitor role) must keep a key a minute inside
// IdempotencyWindow and admit one a minute past it, and so must the prune.
func TestPruneWindowMatchesPolicy(t *testing.T) {
	login := pg.MustLogin(t, janitorRole)
	s := mustTasks(t, New(pg.MustOpen(t), pgtest.Role), newUser(t))
	for _, k := range []string{"inside", "outside", "outside-2"} {
		mustCreateKey(t, s, k)
	}
	mustAge(t, s, IdempotencyWindow-time.Minute, "inside")
	mustAge(t, s, IdempotencyWindow+time.Minute, "outside")

	if _, err := countAs(login, janitorRole, "", "WITH d AS (DELETE FROM idempotency_keys RETURNING 1) SELECT count(*) FROM d"); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, s); !equal(got, []string{"inside", "outside-2"}) {
		t.Errorf("after an unfiltered DELETE as %s: keys %v, want [inside outside-2] (policy window != IdempotencyWindow)", janitorRole, got)
	}
	mustAge(t, s, IdempotencyWindow+time.Minute, "outside-2")
	mustDrain(t, New(login, pgtest.Role))
	if got := keysOf(t, s); !equal(got, []string{"inside"}) {
		t.Errorf("after the prune: keys %v, want [inside]", got)
	}
}

// TestJanitorPolicyKeepsUsersApart: the janitor's policy is for the janitor
// role only. A request (the RLS role with app.user_id) still sees and deletes
// only its own user's keys, expired or not; the RLS role with no user sees
// and deletes nothing. The janitor role — from a non-superuser login and from
// the test's admin login alike — sees and deletes expired keys only, cannot
// read whose they are, and can neither update nor insert keys nor touch
// tasks.
func TestJanitorPolicyKeepsUsersApart(t *testing.T) {
	raw := pg.MustOpen(t)
	requests := New(raw, pgtest.Role)
	login := pg.MustLogin(t, janitorRole)
	mustNotBypassRLS(t, login)

	setup := func(t *testing.T) (a, b *Tasks) {
		a, b = mustTasks(t, requests, newUser(t)), mustTasks(t, requests, newUser(t))
		for _, s := range []*Tasks{a, b} {
			mustCreateKey(t, s, "live")
			mustCreateKey(t, s, "old")
			mustAge(t, s, IdempotencyWindow+time.Hour, "old")
		}
		return a, b
	}

	t.Run("a request sees and deletes only its user's keys", func(t *testing.T) {
		a, b := setup(t)
		n, err := countAs(raw, pgtest.Role, b.userID, "SELECT count(*) FROM idempotency_keys WHERE user_id <> ?", b.userID)
		if err != nil || n != 0 {
			t.Errorf("B's unscoped SELECT saw %d keys of other users (%v), want 0", n, err)
		}
		n, err = countAs(raw, pgtest.Role, b.userID,
			"WITH d AS (DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING 1) SELECT count(*) FROM d")
		if err != nil || n != 1 {
			t.Errorf("B's unscoped DELETE of expired keys deleted %d (%v), want only B's 1", n, err)
		}
		if got := keysOf(t, a); !equal(got, []string{"live", "old"}) {
			t.Errorf("A's keys after B's DELETE: %v, want [live old]", got)
		}
		if got := keysOf(t, b); !equal(got, []string{"live"}) {
			t.Errorf("B's keys after B's DELETE: %v, want [live]", got)
		}
	})

	t.Run("the RLS role without a user sees and deletes nothing", func(t *testing.T) {
		a, b := setup(t)
		for _, q := range []string{
			"SELECT count(*) FROM idempotency_keys",
			"WITH d AS (DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING 1) SELECT count(*) FROM d",
		} {
			if n, err := countAs(raw, pgtest.Role, "", q); err != nil || n != 0 {
				t.Errorf("%s as %s with no user: %d rows (%v), want 0", q, pgtest.Role, n, err)
			}
		}
		for _, s := range []*Tasks{a, b} {
			if got := keysOf(t, s); !equal(got, []string{"live", "old"}) {
				t.Errorf("keys %v, want [live old]", got)
			}
		}
	})

	for _, l := range []struct {
		name string
		db   *bun.DB
	}{{"non-superuser login", login}, {"admin login", raw}} {
		t.Run("the janitor role from the "+l.name+" sees and deletes expired keys only", func(t *testing.T) {
			a, b := setup(t)
			n, err := countAs(l.db, janitorRole, "", "SELECT count(*) FROM idempotency_keys WHERE created_at >= now() - interval '24 hours'")
			if err != nil || n != 0 {
				t.Errorf("the janitor role saw %d live keys (%v), want 0", n, err)
			}
			// Its privileges hold whatever the settings, even with a user set.
			for _, user := range []string{"", a.userID} {
				for _, q := range []string{
					"SELECT count(user_id) FROM idempotency_keys",
					"SELECT count(request_hash) FROM idempotency_keys",
					"WITH u AS (UPDATE idempotency_keys SET created_at = now() - interval '48 hours' RETURNING 1) SELECT count(*) FROM u",
					"WITH i AS (INSERT INTO idempotency_keys (user_id, key, request_hash, task_id) VALUES ('x', 'x', '\\x00', gen_random_uuid()) RETURNING 1) SELECT count(*) FROM i",
					"SELECT count(*) FROM tasks",
				} {
					_, err := countAs(l.db, janitorRole, user, q)
					var pgErr pgdriver.Error
					if !errors.As(err, &pgErr) || pgErr.Field('C') != "42501" {
						t.Errorf("app.user_id %q: %s as %s: %v, want permission denied (42501)", user, q, janitorRole, err)
					}
				}
			}
			n, err = countAs(l.db, janitorRole, "", "WITH d AS (DELETE FROM idempotency_keys RETURNING 1) SELECT count(*) FROM d")
			if err != nil || n < 2 {
				t.Fatalf("unfiltered DELETE as %s: %d rows, %v; want at least A's and B's expired keys", janitorRole, n, err)
			}
			for _, s := range []*Tasks{a, b} {
				if got := keysOf(t, s); !equal(got, []string{"live"}) {
					t.Errorf("after an unfiltered DELETE as %s: keys %v, want [live]", janitorRole, got)
				}
			}
		})
	}
}
