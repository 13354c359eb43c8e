package api_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/mock"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// startMock serves the API on 127.0.0.1:0 over st, a store whose answers
// the test sets: the HTTP layer alone, no Postgres. Every verified user
// gets st.
func startMock(t *testing.T, st *mock.Store) *server {
	t.Helper()
	logs := &testenv.Logs{}
	app := api.New(api.Config{
		Verifier: identity.NewVerifier(testKeys, identity.DefaultWindow),
		Stores:   func(string) (task.Store, error) { return st, nil },
		Ready:    func(ctx context.Context) error { return nil },
		Log:      slog.New(slog.NewJSONHandler(logs, nil)),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(api.Listener(ln)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return &server{base: "http://" + ln.Addr().String(), logs: logs}
}
