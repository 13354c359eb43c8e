package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

func TestTaskLifecycle(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)

	// Create: 201, Location, ETag, normalised fields.
	r := u.do("POST", "/api/tasks", map[string]any{
		"title": "  Write report  ", "description": "quarterly", "priority": "high",
		"tags": []string{"Work", "work", " urgent "}, "due_at": "2026-12-01T17:00:00+01:00",
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created task.Task
	r.json(t, &created)
	if created.Title != "Write report" || created.Priority != task.High || strings.Join(created.Tags, ",") != "work,urgent" ||
		created.UserID != u.id || created.Version != 1 || created.Completed || created.CompletedAt != nil {
		t.Errorf("created %+v", created)
	}
	if created.DueAt == nil || !created.DueAt.Equal(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("due_at %v, want 2026-12-01T16:00:00Z", created.DueAt)
	}
	if loc := r.header.Get("Location"); loc != "/api/tasks/"+created.ID.String() {
		t.Errorf("Location %q", loc)
	}
	if et := r.header.Get("ETag"); et != `"1"` {
		t.Errorf("ETag %q, want \"1\"", et)
	}
	path := "/api/tasks/" + created.ID.String()

	// Get, then conditional get.
	r = u.do("GET", path, nil)
	if r.status != 200 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("get: %d %s %v", r.status, r.body, r.header)
	}
	if cc := r.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("Cache-Control %q: a shared cache could keep one user's task for another", cc)
	}
	if r = u.do("GET", path, nil, "If-None-Match", `"1"`); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("If-None-Match current: %d %q, want 304 and no body", r.status, r.body)
	}
	if r = u.do("GET", path, nil, "If-None-Match", `"99"`); r.status != 200 {
		t.Errorf("If-None-Match stale: %d, want 200", r.status)
	}

	// PUT replaces: absent fields take defaults.
	r = u.do("PUT", path, map[string]any{"title": "Rewritten"}, "If-Match", `"1"`)
	var replaced task.Task
	r.json(t, &replaced)
	if r.status != 200 || replaced.Title != "Rewritten" || replaced.Priority != task.Medium || len(replaced.Tags) != 0 ||
		replaced.DueAt != nil || replaced.Description != "" || replaced.Version != 2 || r.header.Get("ETag") != `"2"` {
		t.Errorf("put: %d %+v", r.status, replaced)
	}
	if !replaced.UpdatedAt.After(created.UpdatedAt) || !replaced.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("put timestamps: created %v→%v updated %v→%v", created.CreatedAt, replaced.CreatedAt, created.UpdatedAt, replaced.UpdatedAt)
	}

	// PATCH merges; null clears due_at.
	r = u.do("PATCH", path, map[string]any{"due_at": "2027-01-01T00:00:00Z", "tags": []string{"x"}}, "Content-Type", "application/merge-patch+json")
	var patched task.Task
	r.json(t, &patched)
	if r.status != 200 || patched.DueAt == nil || patched.Title != "Rewritten" || strings.Join(patched.Tags, ",") != "x" || patched.Version != 3 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = u.do("PATCH", path, json.RawMessage(`{"due_at":null}`))
	r.json(t, &patched)
	if r.status != 200 || patched.DueAt != nil || strings.Join(patched.Tags, ",") != "x" {
		t.Errorf("patch due_at null: %d %s", r.status, r.body)
	}

	// Complete: toggle on, toggle off, set explicitly; completed_at follows.
	r = u.do("PATCH", path+"/complete", nil)
	var done task.Task
	r.json(t, &done)
	if r.status != 200 || !done.Completed || done.CompletedAt == nil {
		t.Fatalf("toggle on: %d %s", r.status, r.body)
	}
	firstDone := *done.CompletedAt
	r = u.do("PATCH", path+"/complete", map[string]any{"completed": true})
	r.json(t, &done)
	if !done.Completed || done.CompletedAt == nil || !done.CompletedAt.Equal(firstDone) {
		t.Errorf("set true when already done must keep completed_at: %s", r.body)
	}
	r = u.do("PATCH", path+"/complete", nil)
	r.json(t, &done)
	if r.status != 200 || done.Completed || done.CompletedAt != nil {
		t.Errorf("toggle off: %d %s", r.status, r.body)
	}
	r = u.do("PATCH", path+"/complete", map[string]any{"completed": false})
	r.json(t, &done)
	if r.status != 200 || done.Completed {
		t.Errorf("set false: %d %s", r.status, r.body)
	}
	// Completing through PUT maintains completed_at too.
	r = u.do("PUT", path, map[string]any{"title": "t", "completed": true})
	r.json(t, &done)
	if !done.Completed || done.CompletedAt == nil {
		t.Errorf("put completed: %s", r.body)
	}

	// List shows it; delete; then 404 everywhere.
	r = u.do("GET", "/api/tasks", nil)
	var list struct {
		Items      []task.Task `json:"items"`
		NextCursor *string     `json:"next_cursor"`
	}
	r.json(t, &list)
	if r.status != 200 || len(list.Items) != 1 || list.NextCursor != nil {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	if r = u.do("DELETE", path, nil); r.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if r = u.do(m, path, nil); r.status != 404 {
			t.Errorf("%s after delete: %d", m, r.status)
		}
		r.problem(t)
	}
}

// TestOtherUsersTasksAreInvisible: through HTTP, B gets 404 for A's task on
// every route, exactly as for a task that does not exist.
func TestOtherUsersTasksAreInvisible(t *testing.T) {
	srv := newServer(t)
	a, b := srv.newUser(t), srv.newUser(t)
	var ta task.Task
	a.do("POST", "/api/tasks", map[string]any{"title": "A only"}).json(t, &ta)
	path := "/api/tasks/" + ta.ID.String()
	missing := "/api/tasks/00000000-0000-4000-8000-000000000000"
	for _, c := range []struct {
		method, suffix string
		body           any
	}{
		{"GET", "", nil}, {"PUT", "", map[string]any{"title": "x"}}, {"PATCH", "", map[string]any{"title": "x"}},
		{"DELETE", "", nil}, {"PATCH", "/complete", nil},
	} {
		theirs := b.do(c.method, path+c.suffix, c.body)
		none := b.do(c.method, missing+c.suffix, c.body)
		if theirs.status != 404 || none.status != 404 {
			t.Errorf("%s %s: other user's %d, missing %d; want 404 for both", c.method, c.suffix, theirs.status, none.status)
		}
		if theirs.problem(t).Detail != none.problem(t).Detail {
			t.Errorf("%s: other user's task is distinguishable from a missing one", c.method)
		}
	}
	var list struct{ Items []task.Task }
	b.do("GET", "/api/tasks", nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("B lists %d tasks", len(list.Items))
	}
	var still task.Task
	a.do("GET", path, nil).json(t, &still)
	if still.Title != "A only" || still.Version != 1 {
		t.Errorf("A's task changed: %+v", still)
	}
}

func TestIfMatch(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	var tk task.Task
	u.do("POST", "/api/tasks", map[string]any{"title": "v1"}).json(t, &tk)
	path := "/api/tasks/" + tk.ID.String()
	u.do("PATCH", path, map[string]any{"title": "v2"}) // now version 2

	for _, c := range []struct {
		desc, method, suffix string
		body                 any
	}{
		{"put", "PUT", "", map[string]any{"title": "stale"}},
		{"patch", "PATCH", "", map[string]any{"title": "stale"}},
		{"complete", "PATCH", "/complete", nil},
		{"delete", "DELETE", "", nil},
	} {
		for _, tag := range []string{`"1"`, `W/"2"`, `garbage`} {
			r := u.do(c.method, path+c.suffix, c.body, "If-Match", tag)
			if r.status != http.StatusPreconditionFailed {
				t.Errorf("%s with If-Match %s: %d, want 412", c.desc, tag, r.status)
				continue
			}
			r.problem(t)
		}
	}
	var cur task.Task
	u.do("GET", path, nil).json(t, &cur)
	if cur.Title != "v2" || cur.Version != 2 {
		t.Fatalf("stale writes changed the task: %+v", cur)
	}
	if r := u.do("PATCH", path, map[string]any{"title": "v3"}, "If-Match", `"2"`); r.status != 200 || r.header.Get("ETag") != `"3"` {
		t.Errorf("current If-Match: %d %s", r.status, r.body)
	}
	if r := u.do("DELETE", path, nil, "If-Match", `"3"`); r.status != 204 {
		t.Errorf("delete with current If-Match: %d", r.status)
	}
	if r := u.do("PUT", "/api/tasks/00000000-0000-4000-8000-000000000000", map[string]any{"title": "x"}, "If-Match", `"1"`); r.status != 404 {
		t.Errorf("If-Match on a missing task: %d, want 404", r.status)
	}
}

// TestIfMatchStarNeedsTheTask: "If-Match: *" is true only when the task
// exists (RFC 9110 section 13.1.1), so every write with it to a missing
// task, another user's task or a path that names no task is 412; the same
// writes to an existing task go through.
func TestIfMatchStarNeedsTheTask(t *testing.T) {
	srv := newServer(t)
	u, other := srv.newUser(t), srv.newUser(t)
	var theirs task.Task
	other.do("POST", "/api/tasks", map[string]any{"title": "other's"}).json(t, &theirs)
	writes := []struct {
		desc, method, suffix string
		body                 any
	}{
		{"put", "PUT", "", map[string]any{"title": "x"}},
		{"patch", "PATCH", "", map[string]any{"title": "x"}},
		{"complete", "PATCH", "/complete", nil},
		{"delete", "DELETE", "", nil},
	}
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", theirs.ID.String(), "not-a-uuid"} {
		for _, w := range writes {
			r := u.do(w.method, "/api/tasks/"+id+w.suffix, w.body, "If-Match", "*")
			if r.status != http.StatusPreconditionFailed {
				t.Errorf("%s %s with If-Match: *: %d %s, want 412", w.desc, id, r.status, r.body)
				continue
			}
			if p := r.problem(t); p.Type != "urn:gatehouse:problem:precondition-failed" {
				t.Errorf("%s %s: problem type %q", w.desc, id, p.Type)
			}
		}
	}
	var mine task.Task
	u.do("POST", "/api/tasks", map[string]any{"title": "mine"}).json(t, &mine)
	for _, w := range writes {
		want := http.StatusOK
		if w.method == "DELETE" {
			want = http.StatusNoContent
		}
		if r := u.do(w.method, "/api/tasks/"+mine.ID.String()+w.suffix, w.body, "If-Match", "*"); r.status != want {
			t.Errorf("%s of an existing task with If-Match: *: %d %s, want %d", w.desc, r.status, r.body, want)
		}
	}
	var still task.Task
	other.do("GET", "/api/tasks/"+theirs.ID.String(), nil).json(t, &still)
	if still.Title != "other's" || still.Version != 1 {
		t.Errorf("the other user's task changed: %+v", still)
	}
}

func TestIdempotencyKeyOverHTTP(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	body := map[string]any{"title": "once", "completed": true}
	first := u.do("POST", "/api/tasks", body, "Idempotency-Key", "abc-123")
	second := u.do("POST", "/api/tasks", body, "Idempotency-Key", "abc-123")
	if first.status != 201 || second.status != 201 {
		t.Fatalf("statuses %d, %d", first.status, second.status)
	}
	if string(first.body) != string(second.body) {
		t.Errorf("replay differs from the original response:\n%s\n%s", first.body, second.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" || second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed: first %q, second %q", first.header.Get("Idempotent-Replayed"), second.header.Get("Idempotent-Replayed"))
	}
	r := u.do("POST", "/api/tasks", map[string]any{"title": "other"}, "Idempotency-Key", "abc-123")
	if r.status != http.StatusUnprocessableEntity || !strings.HasSuffix(r.problem(t).Type, ":idempotency-key-reused") {
		t.Errorf("same key, other body: %d %s", r.status, r.body)
	}
	if r := u.do("POST", "/api/tasks", body, "Idempotency-Key", "has space"); r.status != 400 {
		t.Errorf("invalid key: %d", r.status)
	}
	var list struct{ Items []task.Task }
	u.do("GET", "/api/tasks", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("%d tasks after replays, want 1", len(list.Items))
	}
}

func TestListOverHTTP(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	for _, title := range []string{"c", "a", "b"} {
		u.do("POST", "/api/tasks", map[string]any{"title": title, "tags": []string{"t-" + title}})
	}
	var page struct {
		Items      []task.Task `json:"items"`
		NextCursor *string     `json:"next_cursor"`
	}
	var titles []string
	target := "/api/tasks?sort=title&order=desc&limit=2"
	for target != "" {
		r := u.do("GET", target, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", target, r.status, r.body)
		}
		r.json(t, &page)
		for _, it := range page.Items {
			titles = append(titles, it.Title)
		}
		target = ""
		if page.NextCursor != nil {
			target = "/api/tasks?sort=title&order=desc&limit=2&cursor=" + *page.NextCursor
		}
	}
	if strings.Join(titles, "") != "cba" {
		t.Errorf("walk by title desc = %v", titles)
	}
	r := u.do("GET", "/api/tasks?tag=t-a&tag=T-A&status=pending&q=A", nil)
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Title != "a" {
		t.Errorf("filtered list: %s", r.body)
	}
}
