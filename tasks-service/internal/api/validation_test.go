package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/mock"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// TestValidationErrors sends every kind of bad input and checks the status,
// the problem+json shape and the field or parameter named — and that the
// store is never called: the HTTP layer refuses all of it on its own, so
// the test runs over a mock store (cursors, which only the store can judge,
// are TestCursorValidation's).
func TestValidationErrors(t *testing.T) {
	// A merge patch is validated against the current task, inside the
	// store's read-modify-write: Update may run the change, never write.
	st := &mock.Store{UpdateFn: func(_ context.Context, id uuid.UUID, change func(task.Task) (task.Draft, error), _ *int64) (task.Task, error) {
		if _, err := change(task.Task{ID: id, Title: "target", Priority: task.Medium, Version: 1}); err != nil {
			return task.Task{}, err
		}
		return task.Task{}, task.Errorf(task.Internal, "a bad patch passed validation")
	}}
	srv := startMock(t, st)
	u := srv.newUser(t)
	id := uuid.NewString()
	path := "/api/tasks/" + id
	long := func(n int) string { return strings.Repeat("é", n) }
	manyTags := make([]string, 21)
	for i := range manyTags {
		manyTags[i] = "t" + strings.Repeat("x", i)
	}
	cases := []struct {
		desc    string
		method  string
		target  string
		body    any
		headers []string
		status  int
		field   string // expected errors[].field, "" for none
	}{
		{"missing title", "POST", "/api/tasks", map[string]any{"description": "x"}, nil, 422, "title"},
		{"blank title", "POST", "/api/tasks", map[string]any{"title": "   "}, nil, 422, "title"},
		{"title 201 chars", "POST", "/api/tasks", map[string]any{"title": long(201)}, nil, 422, "title"},
		{"title with NUL", "POST", "/api/tasks", map[string]any{"title": "a\u0000b"}, nil, 422, "title"},
		{"description 1001 chars", "POST", "/api/tasks", map[string]any{"title": "t", "description": long(1001)}, nil, 422, "description"},
		{"priority unknown", "POST", "/api/tasks", map[string]any{"title": "t", "priority": "urgent"}, nil, 422, "priority"},
		{"too many tags", "POST", "/api/tasks", map[string]any{"title": "t", "tags": manyTags}, nil, 422, "tags"},
		{"tag too long", "POST", "/api/tasks", map[string]any{"title": "t", "tags": []string{long(51)}}, nil, 422, "tags[0]"},
		{"empty tag", "POST", "/api/tasks", map[string]any{"title": "t", "tags": []string{"ok", " "}}, nil, 422, "tags[1]"},
		{"due_at not RFC 3339", "POST", "/api/tasks", map[string]any{"title": "t", "due_at": "tomorrow"}, nil, 422, "due_at"},
		{"due_at date only", "POST", "/api/tasks", map[string]any{"title": "t", "due_at": "2026-01-01"}, nil, 422, "due_at"},
		{"title wrong type", "POST", "/api/tasks", map[string]any{"title": 5}, nil, 422, "title"},
		{"tags wrong type", "POST", "/api/tasks", map[string]any{"title": "t", "tags": "a,b"}, nil, 422, "tags"},
		{"unknown field", "POST", "/api/tasks", map[string]any{"title": "t", "colour": "red"}, nil, 400, "colour"},
		{"read-only field", "POST", "/api/tasks", map[string]any{"title": "t", "user_id": "someone-else"}, nil, 400, "user_id"},
		{"malformed JSON", "POST", "/api/tasks", `{"title": "t"`, nil, 400, ""},
		{"JSON array", "POST", "/api/tasks", `[{"title":"t"}]`, nil, 400, ""},
		{"empty body", "POST", "/api/tasks", nil, []string{"Content-Type", "application/json"}, 400, ""},
		{"wrong content type", "POST", "/api/tasks", `title=t`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"no content type", "POST", "/api/tasks", `{"title":"t"}`, []string{"Content-Type", ""}, 415, ""},
		{"oversized body", "POST", "/api/tasks", `{"title":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, ""},
		{"put unknown field", "PUT", path, map[string]any{"title": "t", "done": true}, nil, 400, "done"},
		{"put invalid", "PUT", path, map[string]any{"title": ""}, nil, 422, "title"},
		{"patch null title", "PATCH", path, `{"title":null}`, nil, 422, "title"},
		{"patch read-only version", "PATCH", path, map[string]any{"version": 9}, nil, 400, "version"},
		{"patch wrong content type", "PATCH", path, `{"title":"x"}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"complete wrong type", "PATCH", path + "/complete", map[string]any{"completed": "yes"}, nil, 422, "completed"},
		{"complete null", "PATCH", path + "/complete", `{"completed":null}`, nil, 422, "completed"},
		{"complete unknown field", "PATCH", path + "/complete", map[string]any{"done": true}, nil, 400, "done"},
		{"invalid UUID get", "GET", "/api/tasks/not-a-uuid", nil, nil, 404, ""},
		{"invalid UUID put", "PUT", "/api/tasks/1234", map[string]any{"title": "t"}, nil, 404, ""},
		{"invalid UUID delete", "DELETE", "/api/tasks/" + strings.ToUpper(id) + "0", nil, nil, 404, ""},
		{"invalid UUID complete", "PATCH", "/api/tasks/zzz/complete", nil, nil, 404, ""},
		{"bad status", "GET", "/api/tasks?status=done", nil, nil, 400, "status"},
		{"bad priority", "GET", "/api/tasks?priority=urgent", nil, nil, 400, "priority"},
		{"bad sort", "GET", "/api/tasks?sort=owner", nil, nil, 400, "sort"},
		{"bad order", "GET", "/api/tasks?order=up", nil, nil, 400, "order"},
		{"limit 0", "GET", "/api/tasks?limit=0", nil, nil, 400, "limit"},
		{"limit 101", "GET", "/api/tasks?limit=101", nil, nil, 400, "limit"},
		{"limit text", "GET", "/api/tasks?limit=ten", nil, nil, 400, "limit"},
		{"bad due_before", "GET", "/api/tasks?due_before=yesterday", nil, nil, 400, "due_before"},
		{"bad due_after", "GET", "/api/tasks?due_after=2026-13-01T00:00:00Z", nil, nil, 400, "due_after"},
		{"empty tag filter", "GET", "/api/tasks?tag=", nil, nil, 400, "tag"},
		{"repeated limit", "GET", "/api/tasks?limit=1&limit=2", nil, nil, 400, "limit"},
		{"unknown parameter", "GET", "/api/tasks?user_id=someone", nil, nil, 400, "user_id"},
		{"NUL in tag filter", "GET", "/api/tasks?tag=a%00b", nil, nil, 400, "tag"},
		{"NUL in search", "GET", "/api/tasks?q=a%00b", nil, nil, 400, "q"},
		{"bad query encoding", "GET", "/api/tasks?q=%zz", nil, nil, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) { checkRefused(t, u.in(t), c.method, c.target, c.body, c.headers, c.status, c.field) })
	}
	if calls := slices.DeleteFunc(st.Calls(), func(m string) bool { return m == "Update" }); len(calls) != 0 {
		t.Errorf("bad requests reached the store: %v", calls)
	}
}

// checkRefused sends a request and checks its status, its problem+json
// shape and the field or parameter named ("" for none).
func checkRefused(t *testing.T, u *user, method, target string, body any, headers []string, status int, field string) {
	t.Helper()
	r := u.do(method, target, body, headers...)
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	p := r.problem(t)
	if field != "" && !slices.Contains(p.fields(), field) {
		t.Errorf("errors name %v, want %q", p.fields(), field)
	}
	if field == "" && status == 422 {
		t.Errorf("422 without a field")
	}
}

// TestCursorValidation: a cursor the store did not issue, or one forged
// with a NUL in its value, is a 400 naming cursor — judged by the real
// store, on Postgres, which the list query never reaches.
func TestCursorValidation(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"s":"title","d":false,"v":"a\u0000b","id":"` + uuid.NewString() + `"}`))
	for name, target := range map[string]string{
		"bad cursor":             "/api/tasks?cursor=not-a-cursor",
		"forged cursor with NUL": "/api/tasks?sort=title&cursor=" + forged,
	} {
		t.Run(name, func(t *testing.T) { checkRefused(t, u.in(t), "GET", target, nil, nil, 400, "cursor") })
	}
}

// TestUnknownRoutes answer problem+json too.
func TestUnknownRoutes(t *testing.T) {
	srv := startMock(t, &mock.Store{})
	u := srv.newUser(t)
	u.offSpec = true
	for _, c := range []struct{ method, target string }{{"GET", "/nope"}, {"POST", "/api/tasks/" + "00000000-0000-4000-8000-000000000000"}} {
		r := u.do(c.method, c.target, nil)
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d", c.method, c.target, r.status)
		}
		r.problem(t)
	}
}
