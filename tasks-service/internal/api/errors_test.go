package api_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/mock"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// TestErrorTable: the one table from error code to response, row by row,
// through a real handler (GET /api/tasks/{id} whose store returns the
// error). A code added to the table without a row here fails the test.
func TestErrorTable(t *testing.T) {
	const cause = "pgdriver: SQLSTATE 42P01 relation secret_table"
	want := map[task.Code]struct {
		status int
		slug   string
		header [2]string // a header the response must carry
	}{
		task.Invalid:             {422, "validation", [2]string{}},
		task.Malformed:           {400, "bad-request", [2]string{}},
		task.Unauthenticated:     {401, "unauthenticated", [2]string{"WWW-Authenticate", `Gatehouse-Identity realm="tasks-service"`}},
		task.NotFound:            {404, "not-found", [2]string{}},
		task.PreconditionFailed:  {412, "precondition-failed", [2]string{}},
		task.IdempotencyMismatch: {422, "idempotency-key-reused", [2]string{}},
		task.Conflict:            {409, "conflict", [2]string{}},
		api.CodeUnsupportedMedia: {415, "unsupported-media-type", [2]string{}},
		task.Unavailable:         {503, "unavailable", [2]string{"Retry-After", api.RetryAfterSeconds}},
		task.Internal:            {500, "internal", [2]string{}},
	}
	table := api.ErrorTable()
	if got, exp := slices.Sorted(maps.Keys(table)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, exp) {
		t.Fatalf("table codes %v, tested codes %v", got, exp)
	}

	var next error
	st := &mock.Store{GetFn: func(context.Context, uuid.UUID) (task.Task, error) { return task.Task{}, next }}
	srv := startMock(t, st)
	u := srv.newUser(t)
	u.offSpec = true // every status through one route; the spec lists each route's own
	get := func(t *testing.T, err error) (response, problemBody) {
		t.Helper()
		next = err
		r := u.in(t).do("GET", "/api/tasks/"+uuid.NewString(), nil)
		return r, r.problem(t)
	}
	for code, w := range want {
		t.Run(string(code), func(t *testing.T) {
			before := len(srv.logs.Records(t, "request failed"))
			r, p := get(t, &task.Error{Code: code, Message: "client-safe message", Cause: errors.New(cause)})
			if r.status != w.status || p.Type != problem.TypePrefix+w.slug || p.Title != table[code].Title {
				t.Fatalf("%d %s %q, want %d %s %q", r.status, p.Type, p.Title, w.status, w.slug, table[code].Title)
			}
			if w.header[0] != "" && r.header.Get(w.header[0]) != w.header[1] {
				t.Errorf("%s: %q, want %q", w.header[0], r.header.Get(w.header[0]), w.header[1])
			}
			if strings.Contains(string(r.body), "secret_table") {
				t.Errorf("the cause reached the client: %s", r.body)
			}
			switch logged := len(srv.logs.Records(t, "request failed")) - before; {
			case w.status >= 500 && logged != 1, w.status < 500 && logged != 0:
				t.Errorf("%d \"request failed\" log lines for %d", logged, w.status)
			}
			if code == task.Internal {
				if p.Detail != problem.Internal().Detail {
					t.Errorf("internal detail %q, want the generic one", p.Detail)
				}
			} else if p.Detail != "client-safe message" {
				t.Errorf("detail %q, want the error's message", p.Detail)
			}
		})
	}

	t.Run("field errors", func(t *testing.T) {
		r, p := get(t, task.FieldErrors([]task.FieldError{{Field: "title", Message: "is required"}}))
		if r.status != 422 || len(p.Errors) != 1 || p.Errors[0] != (problem.FieldError{Field: "title", Message: "is required"}) {
			t.Fatalf("%d %+v", r.status, p.Errors)
		}
	})
	t.Run("wrapped task error keeps its code", func(t *testing.T) {
		if r, _ := get(t, fmt.Errorf("store.Get(x): %w", task.Errorf(task.NotFound, "no such task"))); r.status != 404 {
			t.Fatalf("status %d, want 404", r.status)
		}
	})
	t.Run("wrapped fiber error keeps its status", func(t *testing.T) {
		if r, p := get(t, fmt.Errorf("reading: %w", fiber.ErrRequestEntityTooLarge)); r.status != 413 || p.Type != problem.TypePrefix+"body-too-large" {
			t.Fatalf("%d %s, want 413 body-too-large", r.status, p.Type)
		}
	})
	for name, err := range map[string]error{
		"unknown code":   &task.Error{Code: "no_such_code", Message: "x", Cause: errors.New(cause)},
		"plain error":    errors.New(cause),
		"wrapped driver": fmt.Errorf("store.List: %w", errors.New(cause)),
	} {
		t.Run(name, func(t *testing.T) {
			r, p := get(t, err)
			if r.status != 500 || p.Type != problem.TypePrefix+"internal" || p.Detail != problem.Internal().Detail {
				t.Fatalf("%d %s %s, want the generic 500", r.status, p.Type, r.body)
			}
			if !strings.Contains(srv.logs.String(), "secret_table") {
				t.Error("the cause is not in the log")
			}
		})
	}
}
