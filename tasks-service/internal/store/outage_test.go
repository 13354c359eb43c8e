package store

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
)

// TestConnectionLostMidQuery: the connection dies while a statement runs;
// the store reports Unavailable (503 upstream), and the next call after the
// database returns succeeds on a fresh connection.
func TestConnectionLostMidQuery(t *testing.T) {
	u, err := url.Parse(pg.Need(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewCutProxy(t, u.Host)
	cc, err := postgres.ParseDSN(proxy.Via(u.String()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	raw, err := postgres.Connect(ctx, cc, postgres.PoolOptions{MaxOpen: 2, MaxIdle: 2}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	s := mustTasks(t, New(raw, pgtest.Role), newUser(t))

	done := make(chan error, 1)
	go func() { done <- s.run(ctx, nil, bun.NewRawQuery(raw, "SELECT pg_sleep(3)")) }()
	time.Sleep(300 * time.Millisecond)
	proxy.Cut()
	select {
	case err := <-done:
		if code := task.ErrorCode(err); code != task.Unavailable {
			t.Fatalf("lost connection mid-query: %v (code %q), want unavailable", err, code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query did not notice the lost connection")
	}
	if _, err := s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 1}); task.ErrorCode(err) != task.Unavailable {
		t.Errorf("while down: %v, want unavailable", err)
	}
	proxy.Restore()
	if _, err := s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 1}); err != nil {
		t.Errorf("after the database returned: %v", err)
	}
}
