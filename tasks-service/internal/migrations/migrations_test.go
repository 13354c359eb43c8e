package migrations_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
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
	for _, bad := range []string{"", "Tasks", "tasks; DROP TABLE x", `"q"`, "1abc", "a-b"} {
		if _, err := migrations.New(nil, bad); err == nil {
			t.Errorf("role %q accepted", bad)
		}
	}
	if _, err := migrations.New(nil, "tasks_rls"); err != nil {
		t.Error(err)
	}
}
