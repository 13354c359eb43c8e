package store

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// TestGateServesInArrivalOrder: with the pool's one connection taken,
// statements that queue for it run in the order they arrived — database/sql
// alone would hand the connection to a random waiter — each wait is
// reported to WithPoolWaits, a statement that did not wait is not, and one
// whose context ends while it waits gives up without a statement.
func TestGateServesInArrivalOrder(t *testing.T) {
	db := pg.MustOpen(t)
	db.SetMaxOpenConns(1)
	var waitsMu sync.Mutex
	var waits []time.Duration
	d := New(db, pgtest.Role, WithPoolWaits(func(w time.Duration) {
		waitsMu.Lock()
		waits = append(waits, w)
		waitsMu.Unlock()
	}))
	if cap(d.gate) != 1 {
		t.Fatalf("gate of %d for a pool of 1", cap(d.gate))
	}
	s, err := d.tasks("gate-user")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(context.Background(), task.ListQuery{Sort: task.SortCreatedAt, Limit: 20}); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 0 {
		t.Fatalf("a statement on a free pool reported waits %v", waits)
	}
	d.gate <- struct{}{} // the connection is taken
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	const n = 5
	for i := range n {
		wg.Go(func() {
			if _, err := s.List(context.Background(), task.ListQuery{Sort: task.SortCreatedAt, Limit: 20}); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		// The next one arrives once this one waits at the gate.
		for deadline := time.Now().Add(10 * time.Second); waitingAtGate() < i+1; {
			if time.Now().After(deadline) {
				t.Fatalf("request %d never queued", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.List(ctx, task.ListQuery{Sort: task.SortCreatedAt, Limit: 20}); task.ErrorCode(err) != task.Unavailable {
		t.Errorf("a deadline while waiting: %v, want Unavailable", err)
	}
	time.Sleep(20 * time.Millisecond) // every queued statement has waited at least this long
	<-d.gate                          // the connection is free
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in the order %v, want arrival order", order)
		}
	}
	if len(waits) != n {
		t.Fatalf("%d waits reported for %d queued statements (the one that gave up is not one): %v", len(waits), n, waits)
	}
	for _, w := range waits {
		if w < 20*time.Millisecond {
			t.Fatalf("waits %v: each queued statement waited at least 20ms", waits)
		}
	}
}

// waitingAtGate counts the goroutines blocked at the gate (DB.enter).
func waitingAtGate() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "store.(*DB).enter(") {
			n++
		}
	}
	return n
}
