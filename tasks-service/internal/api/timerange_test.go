package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// TestTimesOutOfRange: a time is range-checked after conversion to UTC, so
// no offset smuggles in a year Postgres stores but cannot give back
// through JSON (year 10000) or one it cannot take (year 0). The poison
// create used to answer 500 after committing the row, and every list of
// that user was 500 from then on.
func TestTimesOutOfRange(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	count := func() int {
		t.Helper()
		n, err := srv.db.NewSelect().Table("tasks").Where("user_id = ?", u.id).Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	refused := func(what string, r response, status int, field string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, status)
		}
		if f := r.problem(t).fields(); !slices.Equal(f, []string{field}) {
			t.Errorf("%s names %v, want [%s]", what, f, field)
		}
	}

	poison := []string{
		"9999-12-31T23:59:59-01:00", // year 10000 in UTC
		"9999-12-31T23:00:00-23:59",
		"0001-01-01T00:30:00+01:00", // year 0 in UTC
		"0000-12-31T23:59:59Z",
		"0000-01-01T00:00:00Z",
	}
	for _, due := range poison {
		refused("create due "+due, u.do("POST", "/api/tasks", map[string]any{"title": "p", "due_at": due}), 422, "due_at")
	}
	if n := count(); n != 0 {
		t.Fatalf("%d rows written by refused creates", n)
	}

	var tk task.Task
	u.do("POST", "/api/tasks", map[string]any{"title": "kept"}).json(t, &tk)
	path := "/api/tasks/" + tk.ID.String()
	for _, due := range poison[:2] {
		refused("replace due "+due, u.do("PUT", path, map[string]any{"title": "p", "due_at": due}), 422, "due_at")
		refused("patch due "+due, u.do("PATCH", path, map[string]any{"due_at": due}), 422, "due_at")
	}
	var after task.Task
	if r := u.do("GET", path, nil); r.status != 200 {
		t.Fatalf("get after refused updates: %d %s", r.status, r.body)
	} else if r.json(t, &after); after.Version != tk.Version || after.DueAt != nil {
		t.Errorf("refused updates changed the task: %+v", after)
	}

	// The extremes of the range are stored, listed, paged through and
	// sent back intact.
	for _, due := range []string{"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:30:00-01:00", "9999-12-31T23:59:59+01:00"} {
		if r := u.do("POST", "/api/tasks", map[string]any{"title": "edge", "due_at": due}); r.status != 201 {
			t.Fatalf("create due %s: %d %s", due, r.status, r.body)
		}
	}
	for _, order := range []string{"asc", "desc"} {
		seen, target := 0, "/api/tasks?sort=due_at&limit=1&order="+order
		for range 10 {
			var page struct {
				Items      []task.Task
				NextCursor *string `json:"next_cursor"`
			}
			r := u.do("GET", target, nil)
			if r.status != 200 {
				t.Fatalf("list %s: %d %s", target, r.status, r.body)
			}
			r.json(t, &page)
			seen += len(page.Items)
			if page.NextCursor == nil {
				break
			}
			target = "/api/tasks?sort=due_at&limit=1&order=" + order + "&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		if seen != 5 {
			t.Errorf("order %s: paged through %d tasks, want 5", order, seen)
		}
	}

	// Filters and cursors carrying an out-of-range time are 400s naming
	// the parameter, never a query Postgres refuses.
	for _, due := range poison {
		refused("due_before "+due, u.do("GET", "/api/tasks?due_before="+url.QueryEscape(due), nil), 400, "due_before")
		refused("due_after "+due, u.do("GET", "/api/tasks?due_after="+url.QueryEscape(due), nil), 400, "due_after")
		cursor := base64.RawURLEncoding.EncodeToString([]byte(`{"s":"due_at","d":false,"v":"` + due + `","id":"` + tk.ID.String() + `"}`))
		refused("cursor at "+due, u.do("GET", "/api/tasks?sort=due_at&cursor="+cursor, nil), 400, "cursor")
	}
	// Text Postgres cannot store is refused the same way.
	refused("q not UTF-8", u.do("GET", "/api/tasks?q=%FF", nil), 400, "q")
	refused("tag not UTF-8", u.do("GET", "/api/tasks?tag=%C3%28", nil), 400, "tag")
	if r := u.do("GET", "/api/tasks", nil); r.status != http.StatusOK {
		t.Errorf("list after it all: %d %s", r.status, r.body)
	}
}
