package api_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/mock"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// startMock serves the API on 127.0.0.1:0 over st, a store whose answers
// the test sets: the HTTP layer alone, no Postgres. Every verified user
// gets st.
func startMock(t *testing.T, st *mock.Store) *server {
	t.Helper()
	return serve(t, api.Config{
		Stores: func(string) (task.Store, error) { return st, nil },
		Ready:  func(ctx context.Context) error { return nil },
	})
}
