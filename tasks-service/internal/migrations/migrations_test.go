package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	pg = pgtest.Setup("migrations")
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

func tables(t *testing.T, db *bun.DB) map[string]bool {
	t.Helper()
	rows, err := db.QueryContext(context.Background(),
		"SELECT c.relname || ':' || c.relrowsecurity || ':' || c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname IN ('tasks', 'idempotency_keys')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[s] = true
	}
	return out
}

// TestUpDownUp: the schema comes and goes cleanly, RLS enabled and forced on
// every user-owned table, and a second Up is a no-op.
func TestUpDownUp(t *testing.T) {
	db := pg.MustOpenDirect(t)
	r, err := migrations.New(db, pgtest.Role)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]bool{"tasks:true:true": true, "idempotency_keys:true:true": true}
	check := func(stage string, present bool) {
		got := tables(t, db)
		if present && (len(got) != 2 || !got["tasks:true:true"] || !got["idempotency_keys:true:true"]) {
			t.Fatalf("%s: tables %v, want %v", stage, got, want)
		}
		if !present && len(got) != 0 {
			t.Fatalf("%s: tables %v, want none", stage, got)
		}
	}
	check("after setup", true)
	if names, err := r.Up(ctx); err != nil || len(names) != 0 {
		t.Fatalf("second up applied %v, %v; want nothing", names, err)
	}
	names, err := r.Down(ctx)
	if err != nil || len(names) == 0 {
		t.Fatalf("down: %v %v", names, err)
	}
	check("after down", false)
	st, err := r.Status(ctx)
	if err != nil || len(st) == 0 || st[0].Applied {
		t.Fatalf("status after down: %+v %v", st, err)
	}
	if names, err := r.Up(ctx); err != nil || len(names) == 0 {
		t.Fatalf("up again: %v %v", names, err)
	}
	check("after up again", true)
	st, _ = r.Status(ctx)
	for _, s := range st {
		if !s.Applied {
			t.Errorf("%s not applied", s.Name)
		}
	}
}

// TestConcurrentMigrators: several processes migrating one database at
// once are serialised by the advisory lock; all succeed, once.
func TestConcurrentMigrators(t *testing.T) {
	db := pg.MustOpenDirect(t)
	r, _ := migrations.New(db, pgtest.Role)
	ctx := context.Background()
	if _, err := r.Down(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mdb := pg.MustOpenDirect(t)
			mr, _ := migrations.New(mdb, pgtest.Role)
			applied[i], errs[i] = mr.Up(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Errorf("migrator %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	st, _ := r.Status(ctx)
	if total != len(st) {
		t.Errorf("%d migrations applied in total by 4 migrators, want each of %d once", total, len(st))
	}
}

func TestRoleNameIsChecked(t *testing.T) {
	// 56 characters: its janitor role would be truncated to 63, which is the
	// kind of name collision the limit exists to rule out.
	for _, bad := range []string{"", "Tasks", "tasks; DROP TABLE x", `"q"`, "1abc", "a-b", strings.Repeat("r", 56)} {
		if _, err := migrations.New(nil, bad); err == nil {
			t.Errorf("role %q accepted", bad)
		}
	}
	for _, good := range []string{"tasks_rls", strings.Repeat("r", migrations.MaxRoleLen)} {
		if _, err := migrations.New(nil, good); err != nil {
			t.Error(err)
		}
		if j := migrations.JanitorRole(good); len(j) > 63 || j == good {
			t.Errorf("janitor role of %q is %q", good, j)
		}
	}
}

// ownerLogin returns a fresh RLS role name, dropped with its janitor role at
// cleanup, and a non-superuser CREATEROLE login (pgtest.MustLoginOwner)
// with its name, its pool on its own database and an admin pool.
func ownerLogin(t *testing.T) (role, login string, db, admin *bun.DB) {
	t.Helper()
	admin = pg.MustOpenDirect(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	role = "gatehouse_test_rls_" + hex.EncodeToString(b[:])
	// Registered first, so it runs last: after the login's database and the
	// login itself are gone, the roles hold nothing and can be dropped.
	t.Cleanup(func() {
		for _, r := range []string{migrations.JanitorRole(role), role} {
			if _, err := admin.ExecContext(context.Background(), "DROP ROLE IF EXISTS ?", bun.Ident(r)); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		}
	})
	login, db = pg.MustLoginOwner(t)
	return role, login, db, admin
}

// TestNonSuperuserOwnerMigratesAndPrunes: a login that is neither superuser
// nor BYPASSRLS (a CREATEROLE owner, like a Neon project's owner role, and
// subject to FORCE ROW LEVEL SECURITY) applies the migrations, creating and
// granting itself fresh RLS and janitor roles, and can then prune expired
// keys of several users through the janitor role — and only those. Down and
// up again work for it too.
func TestNonSuperuserOwnerMigratesAndPrunes(t *testing.T) {
	role, _, db, _ := ownerLogin(t)
	ctx := context.Background()
	var bypass bool
	if err := db.QueryRowContext(ctx, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&bypass); err != nil || bypass {
		t.Fatalf("the login bypasses RLS (%v, %v); the test would prove nothing", bypass, err)
	}

	r, err := migrations.New(db, role)
	if err != nil {
		t.Fatal(err)
	}
	if names, err := r.Up(ctx); err != nil || len(names) < 2 {
		t.Fatalf("up as a non-superuser owner: %v, %v", names, err)
	}

	// As the owner, with a user set (the owner policy admits it), two users
	// get a live and an expired key each.
	users := []string{"user-a-" + role, "user-b-" + role}
	for _, u := range users {
		if _, err := db.ExecContext(ctx, `SET LOCAL app.user_id = ?; INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, created_at)
			VALUES (?, 'live', '\x00', gen_random_uuid(), now()), (?, 'old', '\x00', gen_random_uuid(), now() - make_interval(secs => ?))`,
			u, u, u, (store.IdempotencyWindow + time.Minute).Seconds()); err != nil {
			t.Fatal(err)
		}
	}
	sdb := store.New(db, role)
	n, err := sdb.PruneIdempotencyKeys(ctx, 1000)
	if err != nil || n != 2 {
		t.Fatalf("prune as the non-superuser owner: %d deleted, %v; want the 2 expired keys", n, err)
	}
	for _, u := range users {
		var keys string
		if err := db.QueryRowContext(ctx, "SET LOCAL app.user_id = ?; SELECT coalesce(string_agg(key, ','), '') FROM idempotency_keys", u).Scan(&keys); err != nil || keys != "live" {
			t.Errorf("%s keeps keys %q (%v), want live", u, keys, err)
		}
	}

	if names, err := r.Down(ctx); err != nil || len(names) < 2 {
		t.Fatalf("down as a non-superuser owner: %v, %v", names, err)
	}
	if names, err := r.Up(ctx); err != nil || len(names) < 2 {
		t.Fatalf("up again as a non-superuser owner: %v, %v", names, err)
	}
	if n, err := sdb.PruneIdempotencyKeys(ctx, 1000); err != nil || n != 0 {
		t.Errorf("prune of the empty table: %d, %v", n, err)
	}
}

// TestLoginThatCannotSetRoleIsGranted: a login that is a member of neither
// role in a way that allows SET ROLE (on Postgres 16+, the ADMIN-only
// membership a CREATEROLE creator gets; here, simulated by revoking the
// grants) gets them from migration 20261128000003, and its requests and
// prunes can switch roles again.
func TestLoginThatCannotSetRoleIsGranted(t *testing.T) {
	role, login, db, admin := ownerLogin(t)
	ctx := context.Background()
	r, err := migrations.New(db, role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx); err != nil {
		t.Fatal(err)
	}
	canSet := func(rl string) error {
		_, err := db.ExecContext(ctx, "SET LOCAL ROLE ?; SELECT 1", bun.Ident(rl))
		return err
	}
	// Postgres 16+ keeps one membership per grantor: the ADMIN-only one the
	// login got as the roles' creator, and the one allowing SET that it
	// granted itself (migration 20261128000003). Only the second is revoked,
	// as on a database migrated before that migration existed; revoking the
	// first is refused while the second depends on it. Before 16 there is
	// one membership, and revoking it is the simulation.
	revoke, args := "REVOKE ? FROM ?", []any{bun.Ident(login)}
	var version int
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version >= 160000 {
		revoke, args = "REVOKE ? FROM ? GRANTED BY ?", []any{bun.Ident(login), bun.Ident(login)}
	}
	for _, rl := range []string{role, migrations.JanitorRole(role)} {
		if err := canSet(rl); err != nil {
			t.Fatalf("after up, SET ROLE %s: %v", rl, err)
		}
		if _, err := admin.ExecContext(ctx, revoke, append([]any{bun.Ident(rl)}, args...)...); err != nil {
			t.Fatal(err)
		}
		if err := canSet(rl); err == nil {
			t.Fatalf("SET ROLE %s still allowed after the revoke; the test would prove nothing", rl)
		}
	}
	// Run migration 20261128000003 again, as on a database migrated before it.
	if _, err := db.ExecContext(ctx, "DELETE FROM bun_migrations WHERE name = '20261128000003'"); err != nil {
		t.Fatal(err)
	}
	if names, err := r.Up(ctx); err != nil || len(names) != 1 {
		t.Fatalf("up: %v, %v; want the one migration re-run", names, err)
	}
	for _, rl := range []string{role, migrations.JanitorRole(role)} {
		if err := canSet(rl); err != nil {
			t.Errorf("SET ROLE %s after the migration: %v", rl, err)
		}
	}
	if _, err := store.New(db, role).PruneIdempotencyKeys(ctx, 10); err != nil {
		t.Errorf("prune after the migration: %v", err)
	}
}

// TestOutOfRangeDueDatesRepaired: on a database migrated before
// 20261203000001, due dates the API once stored outside years 1-9999 in UTC
// (which no list could encode as RFC 3339) are clamped for every user —
// by a non-superuser owner under FORCE ROW LEVEL SECURITY — with their
// version moved on; other rows are untouched, and from then on Postgres
// itself refuses such a value.
func TestOutOfRangeDueDatesRepaired(t *testing.T) {
	role, _, db, _ := ownerLogin(t)
	ctx := context.Background()
	r, err := migrations.New(db, role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx); err != nil {
		t.Fatal(err)
	}
	// The database as it was before the migration.
	if _, err := db.ExecContext(ctx, "ALTER TABLE tasks DROP CONSTRAINT tasks_due_at_range; DELETE FROM bun_migrations WHERE name = '20261203000001'"); err != nil {
		t.Fatal(err)
	}
	insert := func(user, title, due string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, "SET LOCAL app.user_id = ?; INSERT INTO tasks (id, user_id, title, due_at) VALUES (gen_random_uuid(), ?, ?, ?::timestamptz)",
			user, user, title, due); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := "alice-"+role, "bob-"+role
	insert(alice, "late", "9999-12-31T23:59:59-01:00") // year 10000 in UTC
	insert(bob, "early", "0001-01-01T00:30:00+01:00")  // year 0 in UTC
	insert(bob, "fine", "2027-01-02T03:04:05Z")

	if names, err := r.Up(ctx); err != nil || len(names) != 1 {
		t.Fatalf("up: %v, %v; want the one migration", names, err)
	}
	want := map[string]struct {
		due     time.Time
		version int64
	}{
		"late":  {task.MaxTime, 2},
		"early": {task.MinTime, 2},
		"fine":  {time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), 1},
	}
	sdb := store.New(db, role)
	seen := 0
	for _, u := range []string{alice, bob} {
		s, err := sdb.For(u)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.List(ctx, task.ListQuery{Sort: task.SortCreatedAt, Limit: 10})
		if err != nil {
			t.Fatalf("list of %s: %v", u, err)
		}
		for _, tk := range page.Items {
			w, ok := want[tk.Title]
			if !ok {
				t.Fatalf("%s lists %q", u, tk.Title)
			}
			seen++
			if tk.DueAt == nil || !tk.DueAt.Equal(w.due) || tk.Version != w.version {
				t.Errorf("%q: due %v version %d, want %v version %d", tk.Title, tk.DueAt, tk.Version, w.due, w.version)
			}
			if _, err := json.Marshal(tk); err != nil {
				t.Errorf("%q does not encode: %v", tk.Title, err)
			}
		}
	}
	if seen != len(want) {
		t.Fatalf("listed %d tasks, want %d", seen, len(want))
	}
	_, err = db.ExecContext(ctx, "SET LOCAL app.user_id = ?; INSERT INTO tasks (id, user_id, title, due_at) VALUES (gen_random_uuid(), ?, 'x', '10000-01-01T00:00:00Z')", alice, alice)
	if err == nil || !strings.Contains(err.Error(), "tasks_due_at_range") {
		t.Fatalf("an out-of-range due date after the migration: %v, want the tasks_due_at_range check to refuse it", err)
	}
}
