package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// TestPaginationWalk: 1,000 tasks with many ties and missing due dates;
// walking every sort in both orders 37 at a time returns each task exactly
// once, in order.
func TestPaginationWalk(t *testing.T) {
	raw := pg.MustOpen(t)
	user := newUser(t)
	s := mustTasks(t, New(raw, pgtest.Role), user)
	ctx := context.Background()

	// One bulk insert (as the login role; RLS is not under test here).
	const n = 1000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := raw.ExecContext(ctx, `INSERT INTO tasks (id, user_id, title, priority, due_at, created_at, updated_at)
		SELECT gen_random_uuid(), ?, 'task ' || (i % 97), 1 + i % 3,
			CASE WHEN i % 4 = 0 THEN NULL ELSE ?::timestamptz + (i % 50) * interval '1 hour' END,
			?::timestamptz + (i % 200) * interval '1 second', ?::timestamptz + (i % 10) * interval '1 minute'
		FROM generate_series(1, ?) AS i`, user, base, base, base, n); err != nil {
		t.Fatal(err)
	}

	for _, sort := range task.Sorts {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", sort, desc), func(t *testing.T) {
				seen := make(map[uuid.UUID]bool, n)
				var prev *task.Task
				q := task.ListQuery{Status: task.StatusAll, Sort: sort, Desc: desc, Limit: 37}
				for pages := 0; ; pages++ {
					if pages > n {
						t.Fatal("cursor never ends")
					}
					page, err := s.List(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for i := range page.Items {
						it := page.Items[i]
						if seen[it.ID] {
							t.Fatalf("task %v returned twice", it.ID)
						}
						seen[it.ID] = true
						if prev != nil && outOfOrder(*prev, it, sort, desc) {
							t.Fatalf("%v then %v is out of order", *prev, it)
						}
						prev = &it
					}
					if page.NextCursor == "" {
						break
					}
					q.Cursor = page.NextCursor
				}
				if len(seen) != n {
					t.Fatalf("walk returned %d distinct tasks, want %d", len(seen), n)
				}
			})
		}
	}
}

// outOfOrder reports whether b may not follow a; undated tasks come last.
func outOfOrder(a, b task.Task, sort task.Sort, desc bool) bool {
	cmp := 0
	switch sort {
	case task.SortCreatedAt:
		cmp = a.CreatedAt.Compare(b.CreatedAt)
	case task.SortUpdatedAt:
		cmp = a.UpdatedAt.Compare(b.UpdatedAt)
	case task.SortPriority:
		cmp = int(a.Priority.Rank()) - int(b.Priority.Rank())
	case task.SortDueAt:
		switch {
		case a.DueAt == nil && b.DueAt != nil:
			return true
		case a.DueAt != nil && b.DueAt == nil:
			return false
		case a.DueAt != nil:
			cmp = a.DueAt.Compare(*b.DueAt)
		}
	case task.SortTitle:
		return false // collation order is Postgres's; uniqueness and completeness are checked
	}
	if desc {
		cmp = -cmp
	}
	return cmp > 0
}

// TestListFilters checks each filter against a small known set.
func TestListFilters(t *testing.T) {
	s := mustTasks(t, New(pg.MustOpen(t), pgtest.Role), newUser(t))
	ctx := context.Background()
	mk := func(title, desc string, p task.Priority, tags []string, due *time.Time, done bool) {
		in := task.Input{Title: &title, Description: &desc, Tags: tags, Completed: &done}
		ps := string(p)
		in.Priority = &ps
		if due != nil {
			ds := due.Format(time.RFC3339)
			in.DueAt = &ds
		}
		d, err := in.Draft()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Create(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	jan, feb := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC)
	mk("Buy milk", "2% fat", task.Low, []string{"home", "shop"}, &jan, false)
	mk("File taxes", "before deadline", task.High, []string{"admin"}, &feb, true)
	mk("Call mum", "", task.Medium, []string{"home"}, nil, false)
	mk("100% done_ish", "", task.Medium, nil, nil, false)

	mid := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		desc string
		q    task.ListQuery
		want int
	}{
		{"all", task.ListQuery{}, 4},
		{"pending", task.ListQuery{Status: task.StatusPending}, 3},
		{"completed", task.ListQuery{Status: task.StatusCompleted}, 1},
		{"priority high", task.ListQuery{Priority: task.High}, 1},
		{"tag home", task.ListQuery{Tags: []string{"home"}}, 2},
		{"tags home+shop", task.ListQuery{Tags: []string{"home", "shop"}}, 1},
		{"search is case-insensitive", task.ListQuery{Search: "MILK"}, 1},
		{"search matches description", task.ListQuery{Search: "deadline"}, 1},
		{"search % is literal", task.ListQuery{Search: "100%"}, 1},
		{"search _ is literal", task.ListQuery{Search: "e_i"}, 1},
		{"search 2% is literal", task.ListQuery{Search: "2%"}, 1},
		{"due before", task.ListQuery{DueBefore: &mid}, 1},
		{"due after", task.ListQuery{DueAfter: &mid}, 1},
	}
	for _, c := range cases {
		c.q.Sort, c.q.Limit = task.SortCreatedAt, 50
		if c.q.Status == "" {
			c.q.Status = task.StatusAll
		}
		page, err := s.List(ctx, c.q)
		if err != nil {
			t.Errorf("%s: %v", c.desc, err)
			continue
		}
		if len(page.Items) != c.want {
			t.Errorf("%s: %d tasks, want %d", c.desc, len(page.Items), c.want)
		}
	}

	// A cursor from another sort is refused, naming the parameter.
	page, err := s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortTitle, Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v, %q", err, page.NextCursor)
	}
	_, err = s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 1, Cursor: page.NextCursor})
	var te *task.Error
	if task.ErrorCode(err) != task.Malformed || !asTaskError(err, &te) || len(te.Fields) != 1 || te.Fields[0].Field != "cursor" {
		t.Errorf("cursor of another sort: %v, want malformed naming cursor", err)
	}
	for _, bad := range []string{"!!", "e30", "eyJzIjoidGl0bGUifQ"} {
		if _, err := s.List(ctx, task.ListQuery{Status: task.StatusAll, Sort: task.SortTitle, Limit: 1, Cursor: bad}); task.ErrorCode(err) != task.Malformed {
			t.Errorf("cursor %q: %v, want malformed", bad, err)
		}
	}
}
