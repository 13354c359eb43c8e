package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/uptrace/bun"
)

// startServerWithDeadline is startServer with REQUEST_TIMEOUT = d.
func startServerWithDeadline(t *testing.T, db *bun.DB, d time.Duration) *server {
	t.Helper()
	return startServer(t, db, pgtest.Role, func(c *api.Config) { c.RequestTimeout = d })
}

// doWithin is u.do by a client that gives up after timeout, as the gateway
// does after UPSTREAM_TIMEOUT; err is the client's when it gave up.
func (u *user) doWithin(timeout time.Duration, method, target string, body any, headers ...string) (response, error) {
	u.t.Helper()
	raw := encodeBody(u.t, body)
	req := u.request(method, target, raw, headers...)
	req.Header.Set(identity.HeaderUserID, u.id)
	req.Header.Set(identity.HeaderSignature, testKeys.Sign(identity.Request{
		Method: method, Target: target, UserID: u.id, BodySHA256: identity.HashBody(raw),
	}, time.Now()))
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	checkAgainstOpenAPI(u.t, req, raw, r)
	return r, nil
}

// lockTasks holds an ACCESS EXCLUSIVE lock on tasks from another connection
// — a database stall for every statement on the table — until the returned
// function is called.
func lockTasks(t *testing.T, admin *bun.DB) (release func()) {
	t.Helper()
	tx, err := admin.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(context.Background(), "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			_ = tx.Rollback()
		}
	}
	t.Cleanup(release)
	return release
}

// settled waits until no statement mentioning marker is running, so that
// what the table holds is final, and returns how many tasks are titled
// marker.
func settled(t *testing.T, admin *bun.DB, marker string) int {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var running int
		if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state <> 'idle' AND position(? in query) > 0`, marker).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements about %q still running", running, marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM tasks WHERE title = ?", marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDatabaseStallEndsBeforeTheGatewayGivesUp: while another connection
// locks the tasks table for longer than the gateway waits, a request gets
// a clean 503 with Retry-After before the gateway's timeout, and the
// database agrees: the write it was refused is not there, and its
// Idempotency-Key is free. A stall shorter than the deadline just delays the
// 201, and the write is there.
func TestDatabaseStallEndsBeforeTheGatewayGivesUp(t *testing.T) {
	const (
		requestTimeout = time.Second             // REQUEST_TIMEOUT
		gatewayTimeout = 2500 * time.Millisecond // the gateway's UPSTREAM_TIMEOUT
	)
	admin := pg.MustOpen(t) // superuser: LOCK TABLE, and sees every row
	srv := startServerWithDeadline(t, pg.MustOpen(t), requestTimeout)
	usr := srv.newUser(t)
	marker := fmt.Sprintf("stalled write %d", time.Now().UnixNano())
	key := strings.ReplaceAll(marker, " ", "-")

	release := lockTasks(t, admin)
	start := time.Now()
	r, err := usr.doWithin(gatewayTimeout, "POST", "/api/tasks", map[string]any{"title": marker}, "Idempotency-Key", key)
	took := time.Since(start)
	if err != nil {
		release()
		t.Fatalf("no answer before the gateway's %s: %v; tasks titled %q once the stall ended: %d",
			gatewayTimeout, err, marker, settled(t, admin, marker))
	}
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("create during the stall: %d %v %s, want 503 with Retry-After", r.status, r.header, r.body)
	}
	if p := r.problem(t); p.Type != "urn:gatehouse:problem:unavailable" || strings.Contains(p.Detail, "statement") {
		t.Errorf("problem %+v", p)
	}
	if took < requestTimeout/2 {
		t.Errorf("answered after %s: the lock did not stall the request", took)
	}
	// Reads are bounded the same way.
	if r, err := usr.doWithin(gatewayTimeout, "GET", "/api/tasks", nil); err != nil || r.status != http.StatusServiceUnavailable {
		t.Errorf("list during the stall: %v %d, want 503", err, r.status)
	}
	// Normally Postgres cancelled the statement (statement_timeout, so its
	// transaction rolled back) and the driver read that answer. On a starved
	// machine the driver's socket deadline may fire first; what matters, and
	// is checked below, is that the database agrees with the 503.
	if logs := srv.logs.String(); !strings.Contains(logs, "statement timeout") {
		t.Logf("the driver's deadline ended the statement before Postgres's statement_timeout answered: %s", logs)
	}
	release()

	if n := settled(t, admin, marker); n != 0 {
		t.Fatalf("the client was told 503 but %d task(s) titled %q were written", n, marker)
	}
	// The refused request left its Idempotency-Key free: a retry creates.
	if r := usr.do("POST", "/api/tasks", map[string]any{"title": marker}, "Idempotency-Key", key); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry after the stall: %d %v %s, want a fresh 201", r.status, r.header, r.body)
	}
	if n := settled(t, admin, marker); n != 1 {
		t.Fatalf("after a 201, %d tasks titled %q, want 1", n, marker)
	}

	// A stall shorter than the deadline: the write waits for the lock, then
	// succeeds, and is there.
	short := marker + " (short stall)"
	release = lockTasks(t, admin)
	timer := time.AfterFunc(requestTimeout/10, release)
	defer timer.Stop()
	start = time.Now()
	r, err = usr.doWithin(gatewayTimeout, "POST", "/api/tasks", map[string]any{"title": short})
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("create during a short stall: %v %d %s, want 201", err, r.status, r.body)
	}
	if took := time.Since(start); took < requestTimeout/10 {
		t.Errorf("created after %s, before the lock was released", took)
	}
	if n := settled(t, admin, short); n != 1 {
		t.Fatalf("after a 201, %d tasks titled %q, want 1", n, short)
	}
}
