package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
)

// TestDatabaseOutage: with the database gone, requests get 503 with
// Retry-After and /readyz says so; when it is back, the same process
// serves again without a restart.
func TestDatabaseOutage(t *testing.T) {
	u, err := url.Parse(pg.Need(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewCutProxy(t, u.Host)
	via := *u
	via.Host = proxy.Addr()
	cc, err := postgres.ParseDSN(via.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := postgres.Connect(ctx, cc, postgres.PoolOptions{MaxOpen: 4, MaxIdle: 4}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := startServer(t, db, pgtest.Role)
	usr := srv.newUser(t)
	if r := usr.do("POST", "/api/tasks", map[string]any{"title": "before"}); r.status != 201 {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}

	proxy.Cut()
	for _, target := range []string{"/api/tasks", "/api/tasks?sort=title"} {
		r := usr.do("GET", target, nil)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("during the outage %s: %d %s, want 503", target, r.status, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		p := r.problem(t)
		if strings.Contains(strings.ToLower(p.Detail), "dial") || strings.Contains(p.Detail, "127.0.0.1") {
			t.Errorf("503 leaks driver detail: %q", p.Detail)
		}
	}
	if r := usr.do("POST", "/api/tasks", map[string]any{"title": "during"}); r.status != http.StatusServiceUnavailable {
		t.Errorf("write during the outage: %d", r.status)
	}
	resp, err := http.Get(srv.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("/readyz during the outage: %d", resp.StatusCode)
	}
	if resp, _ := http.Get(srv.base + "/healthz"); resp == nil || resp.StatusCode != 200 {
		t.Error("/healthz must stay up: the process is alive")
	}

	proxy.Restore()
	var r response
	for range 20 { // database/sql discards the dead connections and dials anew
		if r = usr.do("GET", "/api/tasks", nil); r.status == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.status != 200 || !strings.Contains(string(r.body), "before") {
		t.Fatalf("after the outage: %d %s, want the service back", r.status, r.body)
	}
	if resp, err := http.Get(srv.base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz after the outage: %v %v", resp, err)
	}
}

// TestInternalErrorsDoNotLeak: a store whose RLS role does not exist fails
// in SQL; the client gets a generic 500, the log gets the cause.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	srv := startServer(t, pg.MustOpen(t), "no_such_role_for_test")
	r := srv.newUser(t).do("GET", "/api/tasks", nil)
	if r.status != 500 {
		t.Fatalf("status %d, want 500", r.status)
	}
	r.problem(t)
	for _, leak := range []string{"role", "SET", "no_such_role", "SQLSTATE", "pgdriver", "goroutine"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("500 body leaks %q: %s", leak, r.body)
		}
	}
	// One log line, under the key both services use, naming the store
	// operation that failed and the cause.
	recs := srv.logs.Records(t, "request failed")
	if len(recs) != 1 {
		t.Fatalf("%d \"request failed\" log lines, want 1: %s", len(recs), srv.logs.String())
	}
	if msg, _ := recs[0]["error"].(string); !strings.HasPrefix(msg, "store.List: internal: ") || !strings.Contains(msg, "no_such_role_for_test") {
		t.Errorf("logged error %q, want the operation (store.List) and the cause", msg)
	}
}
