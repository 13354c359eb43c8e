package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
)

func asTaskError(err error, te **task.Error) bool { return errors.As(err, te) }

// TestStorageErrorsAreTranslated: a real SQL failure leaves the store as an
// Internal *task.Error whose client message says nothing about SQL.
func TestStorageErrorsAreTranslated(t *testing.T) {
	raw := pg.MustOpen(t)
	s := mustTasks(t, New(raw, pgtest.Role), newUser(t))
	err := s.run(context.Background(), nil, bun.NewRawQuery(raw, "SELECT no_such_column FROM tasks"))
	var te *task.Error
	if !errors.As(err, &te) || te.Code != task.Internal {
		t.Fatalf("got %v, want an internal *task.Error", err)
	}
	if strings.Contains(te.Message, "column") || strings.Contains(te.Message, "SELECT") {
		t.Errorf("client message %q leaks SQL", te.Message)
	}
	if te.Cause == nil || !strings.Contains(te.Cause.Error(), "no_such_column") {
		t.Errorf("cause %v should keep the driver error for the logs", te.Cause)
	}
}

// TestUnreachableDatabaseIsUnavailable: a closed port is Unavailable, not Internal.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	if code := task.ErrorCode(translate(errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))); code != task.Unavailable {
		t.Errorf("connection refused: %q, want unavailable", code)
	}
	if code := task.ErrorCode(translate(context.DeadlineExceeded)); code != task.Unavailable {
		t.Errorf("deadline: %q, want unavailable", code)
	}
	if code := task.ErrorCode(translate(errors.New("boom"))); code != task.Internal {
		t.Errorf("other: %q, want internal", code)
	}
}
