package store

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// TestIfMatchRace: two writers holding the same version race; exactly one
// wins, the other gets PreconditionFailed.
func TestIfMatchRace(t *testing.T) {
	db := New(pg.MustOpen(t), pgtest.Role)
	s := mustTasks(t, db, newUser(t))
	orig := mustCreate(t, s, "race")
	for round := range 5 {
		cur, err := s.Get(context.Background(), orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		v := cur.Version
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				title := "writer"
				d, _ := task.Input{Title: &title}.Draft()
				_, errs[i] = s.Replace(context.Background(), orig.ID, d, &v)
			}()
		}
		wg.Wait()
		wins, stale := 0, 0
		for _, err := range errs {
			switch task.ErrorCode(err) {
			case task.PreconditionFailed:
				stale++
			default:
				if err == nil {
					wins++
				} else {
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			}
		}
		if wins != 1 || stale != 1 {
			t.Fatalf("round %d: %d wins, %d precondition failures; want exactly 1 and 1", round, wins, stale)
		}
		after, _ := s.Get(context.Background(), orig.ID)
		if after.Version != v+1 {
			t.Fatalf("round %d: version %d, want %d", round, after.Version, v+1)
		}
	}
}

// TestIdempotentCreateUnderConcurrency: 20 concurrent creates with one key
// make exactly one task, and every caller gets that task.
func TestIdempotentCreateUnderConcurrency(t *testing.T) {
	raw := pg.MustOpen(t)
	db := New(raw, pgtest.Role)
	user := newUser(t)
	s := mustTasks(t, db, user)
	title := "pay rent"
	d, _ := task.Input{Title: &title}.Draft()
	idem := &task.Idempotency{Key: "key-1", BodyHash: [32]byte{1}}

	const n = 20
	results := make([]task.Task, n)
	errs := make([]error, n)
	replays := make([]bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], replays[i], errs[i] = s.Create(context.Background(), d, idem)
		}()
	}
	close(start)
	wg.Wait()

	originals := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if results[i].ID != results[0].ID || !results[i].CreatedAt.Equal(results[0].CreatedAt) || results[i].Title != title {
			t.Errorf("create %d returned %v/%v, want the one task %v", i, results[i].ID, results[i].CreatedAt, results[0].ID)
		}
		if !replays[i] {
			originals++
		}
	}
	if originals != 1 {
		t.Errorf("%d callers were told they created the task, want 1", originals)
	}
	page, err := s.List(context.Background(), task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("%d rows after 20 creates with one key, want 1", len(page.Items))
	}
	if got := page.Items[0]; got.ID != results[0].ID || !got.CreatedAt.Equal(results[0].CreatedAt) || got.Version != 1 {
		t.Errorf("stored %v, replayed %v: the replay must be the original response", got, results[0])
	}

	// The same key with another body is refused and creates nothing.
	other := *idem
	other.BodyHash = [32]byte{2}
	if _, _, err := s.Create(context.Background(), d, &other); task.ErrorCode(err) != task.IdempotencyMismatch {
		t.Errorf("same key, other body: %v, want idempotency_mismatch", err)
	}
	// Keys are per user: another user may use the same key.
	if _, replayed, err := mustTasks(t, db, newUser(t)).Create(context.Background(), d, idem); err != nil || replayed {
		t.Errorf("another user's first use of the key: replayed=%v err=%v, want a fresh create", replayed, err)
	}

	// A key older than 24 h may be reused (and is kept until then).
	if _, err := raw.ExecContext(context.Background(),
		"UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE user_id = ?", user); err != nil {
		t.Fatal(err)
	}
	if _, replayed, err := s.Create(context.Background(), d, idem); err != nil || !replayed {
		t.Errorf("23 h old key: replayed=%v err=%v, want a replay", replayed, err)
	}
	if _, err := raw.ExecContext(context.Background(),
		"UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = ?", user); err != nil {
		t.Fatal(err)
	}
	if fresh, replayed, err := s.Create(context.Background(), d, &other); err != nil || replayed || fresh.ID == results[0].ID {
		t.Errorf("25 h old key: replayed=%v err=%v, want a new task", replayed, err)
	}
}
