package api_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/mock"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// TestHandlersPassExactlyWhatTheStoreNeeds: over a mock store, each route
// hands the store the validated request — normalised draft, Idempotency-Key
// with the hash of the exact body, If-Match version, parsed list query —
// and turns its answer into the documented response.
func TestHandlersPassExactlyWhatTheStoreNeeds(t *testing.T) {
	id := uuid.New()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stored := task.Task{ID: id, UserID: "u1", Title: "Buy milk", Priority: task.Medium, Tags: []string{"home"}, CreatedAt: now, UpdatedAt: now, Version: 3}
	var (
		gotDraft   task.Draft
		gotIdem    *task.Idempotency
		gotIfMatch *int64
		gotQuery   task.ListQuery
		gotID      uuid.UUID
	)
	st := &mock.Store{
		CreateFn: func(_ context.Context, d task.Draft, idem *task.Idempotency) (task.Task, bool, error) {
			gotDraft, gotIdem = d, idem
			return stored, true, nil
		},
		ReplaceFn: func(_ context.Context, id uuid.UUID, d task.Draft, ifMatch *int64) (task.Task, error) {
			gotID, gotDraft, gotIfMatch = id, d, ifMatch
			return stored, nil
		},
		ListFn: func(_ context.Context, q task.ListQuery) (task.Page, error) {
			gotQuery = q
			return task.Page{Items: []task.Task{stored}, NextCursor: "next"}, nil
		},
		DeleteFn: func(_ context.Context, id uuid.UUID, ifMatch *int64) error {
			gotID, gotIfMatch = id, ifMatch
			return nil
		},
	}
	u := startMock(t, st).newUser(t)

	body := `{"title":"  Buy milk ","tags":["Home","home"]}`
	r := u.do("POST", "/api/tasks", body, "Idempotency-Key", "retry-1")
	if r.status != 201 || r.header.Get("Location") != "/api/tasks/"+id.String() || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("ETag") != `"3"` {
		t.Errorf("create: %d %v", r.status, r.header)
	}
	if gotDraft.Title != "Buy milk" || !slices.Equal(gotDraft.Tags, []string{"home"}) || gotDraft.Priority != task.Medium {
		t.Errorf("create draft %+v", gotDraft)
	}
	if gotIdem == nil || gotIdem.Key != "retry-1" || gotIdem.BodyHash != sha256.Sum256([]byte(body)) {
		t.Errorf("create idempotency %+v", gotIdem)
	}

	r = u.do("PUT", "/api/tasks/"+id.String(), map[string]any{"title": "x", "priority": "high"}, "If-Match", `"3"`)
	if r.status != 200 || gotID != id || gotDraft.Priority != task.High || gotIfMatch == nil || *gotIfMatch != 3 {
		t.Errorf("replace: %d id %v draft %+v if-match %v", r.status, gotID, gotDraft, gotIfMatch)
	}

	r = u.do("GET", "/api/tasks?status=pending&priority=high&tag=a&tag=b&sort=title&order=desc&limit=5", nil)
	want := task.ListQuery{Status: task.StatusPending, Priority: task.High, Tags: []string{"a", "b"}, Sort: task.SortTitle, Desc: true, Limit: 5}
	if r.status != 200 || gotQuery.Status != want.Status || gotQuery.Priority != want.Priority || !slices.Equal(gotQuery.Tags, want.Tags) ||
		gotQuery.Sort != want.Sort || gotQuery.Desc != want.Desc || gotQuery.Limit != want.Limit || gotQuery.Cursor != "" {
		t.Errorf("list: %d query %+v, want %+v", r.status, gotQuery, want)
	}
	var page struct {
		Items      []task.Task
		NextCursor *string `json:"next_cursor"`
	}
	r.json(t, &page)
	if len(page.Items) != 1 || page.NextCursor == nil || *page.NextCursor != "next" {
		t.Errorf("list body %s", r.body)
	}

	gotIfMatch = new(int64)
	if r = u.do("DELETE", "/api/tasks/"+id.String(), nil); r.status != 204 || gotID != id || gotIfMatch != nil {
		t.Errorf("delete: %d id %v if-match %v", r.status, gotID, gotIfMatch)
	}
	if calls := st.Calls(); !slices.Equal(calls, []string{"Create", "Replace", "List", "Delete"}) {
		t.Errorf("store calls %v", calls)
	}
}
