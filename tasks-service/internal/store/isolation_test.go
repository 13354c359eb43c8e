package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// newUser returns a fresh opaque user id like Better Auth's.
func newUser(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "u" + hex.EncodeToString(b)
}

func mustTasks(tb testing.TB, d *DB, user string) *Tasks {
	tb.Helper()
	s, err := d.tasks(user)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustCreate(tb testing.TB, s *Tasks, title string) task.Task {
	tb.Helper()
	title2 := title
	d, err := task.Input{Title: &title2}.Draft()
	if err != nil {
		tb.Fatal(err)
	}
	t, _, err := s.Create(context.Background(), d, nil)
	if err != nil {
		tb.Fatalf("create %q: %v", title, err)
	}
	return t
}

// TestStoreScopesEveryStatement: user B can neither see, change nor delete
// user A's task; each attempt is NotFound, and A's task is unchanged. It runs
// twice: with RLS, and without the RLS role (the superuser login bypasses
// RLS), where the store's own user_id = ? is the only barrier — so each
// layer is shown to hold on its own.
func TestStoreScopesEveryStatement(t *testing.T) {
	raw := pg.MustOpen(t)
	for _, layer := range []struct {
		name string
		opts []Option
	}{{"user_id filter and RLS", nil}, {"user_id filter alone", []Option{WithoutRLSRole()}}} {
		t.Run(layer.name, func(t *testing.T) {
			scopedAttempts(t, New(raw, pgtest.Role, layer.opts...))
		})
	}
}

func scopedAttempts(t *testing.T, db *DB) {
	ctx := context.Background()
	a, b := mustTasks(t, db, newUser(t)), mustTasks(t, db, newUser(t))
	ta := mustCreate(t, a, "A's secret")

	title := "hijacked"
	d, _ := task.Input{Title: &title}.Draft()
	yes := true
	attempts := []struct {
		name string
		do   func() error
	}{
		{"get", func() error { _, err := b.Get(ctx, ta.ID); return err }},
		{"replace", func() error { _, err := b.Replace(ctx, ta.ID, d, nil); return err }},
		{"update", func() error {
			_, err := b.Update(ctx, ta.ID, func(task.Task) (task.Draft, error) { return d, nil }, nil)
			return err
		}},
		{"complete", func() error { _, err := b.SetCompleted(ctx, ta.ID, &yes, nil); return err }},
		{"delete", func() error { return b.Delete(ctx, ta.ID, nil) }},
	}
	for _, at := range attempts {
		if code := task.ErrorCode(at.do()); code != task.NotFound {
			t.Errorf("B %s of A's task: code %q, want not_found", at.name, code)
		}
	}
	page, err := b.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 100})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("B lists %d tasks (err %v), want 0", len(page.Items), err)
	}
	got, err := a.Get(ctx, ta.ID)
	if err != nil || got.Title != "A's secret" || got.Version != 1 || got.Completed {
		t.Errorf("A's task after B's attempts = %+v, %v; want unchanged", got, err)
	}
	scopedReplay(t, db)
}

// scopedReplay: an Idempotency-Key is the user's own. Three users use the
// same key with different bodies, B in the middle both in time and in
// user-id order; B's retry replays B's task, whatever order a lookup that
// forgot the user would have found the others' keys in.
func scopedReplay(t *testing.T, db *DB) {
	ctx := context.Background()
	key, suffix := "shared-"+newUser(t), newUser(t)
	create := func(s *Tasks, title string) (task.Task, bool) {
		t.Helper()
		got, replayed, err := s.Create(ctx, keyDraft(t, title), &task.Idempotency{Key: key, BodyHash: sha256.Sum256([]byte(title))})
		if err != nil {
			t.Fatalf("%s: create %q under the shared key: %v", s.userID, title, err)
		}
		return got, replayed
	}
	a, b, c := mustTasks(t, db, "u0"+suffix), mustTasks(t, db, "u5"+suffix), mustTasks(t, db, "uz"+suffix)
	ta, _ := create(a, "A's")
	tb, _ := create(b, "B's")
	tc, _ := create(c, "C's")
	if ta.ID == tb.ID || tb.ID == tc.ID {
		t.Fatalf("users share a task under one key: %v %v %v", ta.ID, tb.ID, tc.ID)
	}
	again, replayed := create(b, "B's")
	if !replayed || again.ID != tb.ID || again.UserID != b.userID || again.Title != "B's" {
		t.Errorf("B's retry = %+v (replayed %v); want a replay of B's own task %v", again, replayed, tb.ID)
	}
}

// TestRLSFiltersUnscopedQueries runs statements that "forget" the user
// filter inside the store's own per-request transaction: Postgres RLS must
// still show only the caller's rows, and nothing when no user is set —
// although the test connects as a superuser, which bypasses RLS unless the
// store's SET LOCAL ROLE takes effect.
func TestRLSFiltersUnscopedQueries(t *testing.T) {
	raw := pg.MustOpen(t)
	db := New(raw, pgtest.Role)
	ctx := context.Background()
	userA, userB := newUser(t), newUser(t)
	a, b := mustTasks(t, db, userA), mustTasks(t, db, userB)
	for range 3 {
		mustCreate(t, a, "a")
	}
	mustCreate(t, b, "b")

	type owner struct {
		UserID string `bun:"user_id"`
	}
	var rows []owner
	if err := a.run(ctx, &rows, bun.NewRawQuery(raw, "SELECT user_id FROM tasks")); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Errorf("unscoped SELECT as A saw %d rows, want A's 3", len(rows))
	}
	for _, r := range rows {
		if r.UserID != userA {
			t.Errorf("unscoped SELECT as A saw a row of %q", r.UserID)
		}
	}

	// Unscoped writes are filtered too: B's blanket UPDATE touches only B's row.
	var touched []owner
	if err := b.run(ctx, &touched, bun.NewRawQuery(raw, "UPDATE tasks SET title = 'x' RETURNING user_id")); err != nil {
		t.Fatal(err)
	}
	if len(touched) != 1 || touched[0].UserID != userB {
		t.Errorf("unscoped UPDATE as B touched %v, want only B's row", touched)
	}
	// And RLS refuses to write a row for someone else.
	err := b.run(ctx, nil, bun.NewRawQuery(raw, "INSERT INTO tasks (id, user_id, title) VALUES (?, ?, 'forged')", uuid.New(), userA))
	if err == nil {
		t.Error("B inserted a row owned by A; RLS WITH CHECK should refuse")
	}

	// No user set: the role without app.user_id sees nothing.
	for _, setting := range []string{"", "SET LOCAL app.user_id = ''; "} {
		var n []struct {
			Count int `bun:"count"`
		}
		q := "SET LOCAL ROLE " + pgtest.Role + "; " + setting + "SELECT count(*) AS count FROM tasks"
		rowsx, err := raw.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.ScanRows(ctx, rowsx, &n); err != nil {
			t.Fatal(err)
		}
		if len(n) != 1 || n[0].Count != 0 {
			t.Errorf("%q: no user set, saw %v rows, want 0", q, n)
		}
	}

	// Control: the same unscoped SELECT without the role bypasses RLS and
	// sees both users — so the assertions above really test RLS.
	var all []owner
	if err := mustTasks(t, New(raw, pgtest.Role, WithoutRLSRole()), userA).run(ctx, &all,
		bun.NewRawQuery(raw, "SELECT user_id FROM tasks WHERE user_id IN (?, ?)", userA, userB)); err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("control: without SET ROLE the login saw %d of the 4 rows; the assertions above prove RLS only when the login bypasses it (superuser or BYPASSRLS, as every test database here is)", len(all))
	}
}

// TestSessionStateDoesNotLeak: after a request, the pooled connection is
// back to the login role with no user set (SET LOCAL ends with the
// implicit transaction), which is what makes the store pooler-safe.
func TestSessionStateDoesNotLeak(t *testing.T) {
	raw := pg.MustOpen(t)
	raw.SetMaxOpenConns(1)
	db := New(raw, pgtest.Role)
	mustCreate(t, mustTasks(t, db, newUser(t)), "x")
	var role, user string
	if err := raw.QueryRowContext(context.Background(), "SELECT current_user, coalesce(current_setting('app.user_id', true), '')").Scan(&role, &user); err != nil {
		t.Fatal(err)
	}
	if role == pgtest.Role || user != "" {
		t.Errorf("after a request the connection is role %q with app.user_id %q; want the login role and none", role, user)
	}
}

// TestHostileUserIDs: user ids are opaque strings; quotes, backslashes,
// placeholders and comment markers are data, never SQL.
func TestHostileUserIDs(t *testing.T) {
	db := New(pg.MustOpen(t), pgtest.Role)
	ctx := context.Background()
	suffix := newUser(t)
	for _, id := range []string{
		`o'brien` + suffix, `back\slash'` + suffix, `?` + suffix, `$1` + suffix,
		`x'; SET LOCAL ROLE postgres; --` + suffix, `日本語` + suffix,
	} {
		s := mustTasks(t, db, id)
		created := mustCreate(t, s, "mine")
		if created.UserID != id {
			t.Errorf("%q stored as %q", id, created.UserID)
		}
		page, err := s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 10})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID != created.ID {
			t.Errorf("%q lists %v, %v; want exactly its own task", id, page.Items, err)
		}
	}
}
