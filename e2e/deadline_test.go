package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testDatabaseStallThroughTheGateway: while another connection locks the
// tasks table for longer than the gateway's UPSTREAM_TIMEOUT, a create sent
// through the real gateway gets the tasks-service's 503 with Retry-After
// before the gateway would give up — not a 504 — and the database agrees:
// the task is not there, and the client's retry with the same
// Idempotency-Key creates it once. Timeouts are short here (REQUEST_TIMEOUT
// 1 s, UPSTREAM_TIMEOUT 3 s); their defaults keep the same order (10 s, 15 s).
func testDatabaseStallThroughTheGateway(t *testing.T, s *stack, u *user) {
	const upstreamTimeout = 3 * time.Second
	tasksURL := startTasksService(t, s, "REQUEST_TIMEOUT=1s")
	gatewayURL := startGateway(t, s, tasksURL, fmt.Sprintf("UPSTREAM_TIMEOUT=%s", upstreamTimeout))
	api := newClient(t, gatewayURL, false).withBearer(u.jwt(t))
	marker := "stalled-" + randomHex(t, 8)

	db := s.tasksDB(t)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := api.do("POST", "/api/tasks", map[string]any{"title": marker}, "Idempotency-Key", marker)
	took := time.Since(start)
	_ = tx.Rollback() // the stall ends
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("create during a stall longer than UPSTREAM_TIMEOUT: %d after %s, %s; want the tasks-service's 503 with Retry-After", r.status, took.Round(time.Millisecond), r)
	}
	if took >= upstreamTimeout {
		t.Errorf("answered after %s, not before the gateway's UPSTREAM_TIMEOUT (%s)", took.Round(time.Millisecond), upstreamTimeout)
	}
	if n := settledCount(t, db, marker); n != 0 {
		t.Fatalf("the client was told %d but %d task(s) titled %q were written", r.status, n, marker)
	}
	expect(t, "the retry once the stall is over", api.do("POST", "/api/tasks", map[string]any{"title": marker}, "Idempotency-Key", marker), http.StatusCreated)
	if n := settledCount(t, db, marker); n != 1 {
		t.Fatalf("after the 201, %d tasks titled %q, want 1", n, marker)
	}
}

// startTasksService starts one more tasks-service on s's database, with
// extraEnv, and returns its URL once it is ready.
func startTasksService(t *testing.T, s *stack, extraEnv ...string) string {
	t.Helper()
	port := freePort(t)
	envv := append(append(append([]string{}, s.tasksEnv...), "TASKS_ADDR=127.0.0.1:"+port), extraEnv...)
	p := startProc(t, "tasks-service ("+strings.Join(extraEnv, " ")+")", filepath.Join(env.binDir, "tasks-service"), []string{"serve"}, envv)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s log (last lines) ----\n%s", p.name, p.tail(40))
		}
	})
	url := "http://127.0.0.1:" + port
	waitReady(t, p, url+"/readyz")
	return url
}

// tasksDB opens the tasks-service's database as the e2e's admin login.
func (s *stack) tasksDB(t *testing.T) *sql.DB {
	t.Helper()
	return openDB(t, envValue(s.tasksEnv, "DATABASE_URL"))
}

// authDB opens Better Auth's database as the e2e's admin login.
func (s *stack) authDB(t *testing.T) *sql.DB {
	t.Helper()
	return openDB(t, envValue(s.authEnv, "AUTH_DATABASE_URL"))
}

// envValue is the last value of name in env (KEY=value entries).
func envValue(env []string, name string) string {
	var v string
	for _, kv := range env {
		if s, ok := strings.CutPrefix(kv, name+"="); ok {
			v = s
		}
	}
	return v
}

// openDB opens url, closed when the test ends.
func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// settledCount waits until no statement mentioning marker runs any more, so
// that the table is final, and counts the tasks titled marker.
func settledCount(t *testing.T, db *sql.DB, marker string) int {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		var running int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state <> 'idle' AND position($1 in query) > 0`, marker).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements about %q still running", running, marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM tasks WHERE title = $1", marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
