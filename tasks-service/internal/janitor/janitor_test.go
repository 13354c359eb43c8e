package janitor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// fakeTable is a Prune over a counter of expired rows; errs[i], when set,
// is what call i returns; with block, a call waits for its context.
type fakeTable struct {
	mu      sync.Mutex
	rows    int64
	errs    map[int]error
	block   bool
	calls   []int // the limits asked for
	started chan struct{}
}

func (f *fakeTable) prune(ctx context.Context, limit int) (int64, error) {
	f.mu.Lock()
	i := len(f.calls)
	f.calls = append(f.calls, limit)
	err, block, started := f.errs[i], f.block, f.started
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if block {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(f.rows, int64(limit))
	f.rows -= n
	return n, nil
}

func (f *fakeTable) snapshot() (rows int64, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rows, len(f.calls)
}

// logger returns a debug-level JSON logger writing to logs.
func logger(logs *testenv.Logs) *slog.Logger {
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runInBackground starts j.Run and returns a function that cancels it and
// fails tb unless Run returns within a second.
func runInBackground(tb testing.TB, j *Janitor) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx)
	}()
	return func() {
		tb.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			tb.Fatal("Run did not return within 1s of its context being cancelled")
		}
	}
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPass: a pass deletes in batches of Batch until one comes back short,
// and no further than MaxBatches or the first error.
func TestPass(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name       string
		rows       int64
		batch, max int
		errs       map[int]error
		want       Result
		wantErr    error
		wantLeft   int64
	}{
		{name: "several batches, the last short", rows: 2500, batch: 1000, max: 100, want: Result{Deleted: 2500, Batches: 3}},
		{name: "an exact multiple ends with an empty batch", rows: 2000, batch: 1000, max: 100, want: Result{Deleted: 2000, Batches: 3}},
		{name: "nothing expired", rows: 0, batch: 1000, max: 100, want: Result{Batches: 1}},
		{name: "MaxBatches leaves the rest for the next pass", rows: 10, batch: 2, max: 3, want: Result{Deleted: 6, Batches: 3, More: true}, wantLeft: 4},
		{name: "an error ends the pass, keeping what was deleted", rows: 5000, batch: 1000, max: 100, errs: map[int]error{1: boom},
			want: Result{Deleted: 1000, Batches: 1}, wantErr: boom, wantLeft: 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTable{rows: tc.rows, errs: tc.errs}
			got, err := New(Config{Prune: f.prune, Batch: tc.batch, MaxBatches: tc.max}).Pass(context.Background())
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("Pass = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
			if left, _ := f.snapshot(); left != tc.wantLeft {
				t.Errorf("%d rows left, want %d", left, tc.wantLeft)
			}
			for i, limit := range f.calls {
				if limit != tc.batch {
					t.Errorf("call %d asked for %d rows, want Batch=%d", i, limit, tc.batch)
				}
			}
		})
	}
}

// TestDefaultsAndJitter: zero fields take the defaults, and waits vary
// within Interval ± Jitter (the first within [0, Jitter]).
func TestDefaultsAndJitter(t *testing.T) {
	j := New(Config{})
	if c := j.c; c.Interval != 10*time.Minute || c.Jitter != 2*time.Minute || c.Batch != 1000 || c.MaxBatches != 100 || c.Log == nil {
		t.Errorf("defaults %+v", c)
	}
	if j := New(Config{Interval: time.Minute, Jitter: time.Hour}); j.c.Jitter != 30*time.Second {
		t.Errorf("a jitter longer than the interval became %v, want 30s", j.c.Jitter)
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		next, first := j.nextWait(), j.firstWait()
		if next < 8*time.Minute || next > 12*time.Minute {
			t.Fatalf("wait %v outside 10m ± 2m", next)
		}
		if first < 0 || first > 2*time.Minute {
			t.Fatalf("first wait %v outside [0, 2m]", first)
		}
		seen[next] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 1000: no jitter", len(seen))
	}
}

// TestRunRetriesAfterAFailedPass: a database error is logged as a warning
// and the next pass tries again; Run keeps going and prunes everything.
func TestRunRetriesAfterAFailedPass(t *testing.T) {
	var logs testenv.Logs
	f := &fakeTable{rows: 25, errs: map[int]error{0: errors.New("permission denied to set role")}}
	stop := runInBackground(t, New(Config{Prune: f.prune, Interval: 10 * time.Millisecond, Jitter: time.Millisecond, Batch: 10, Log: logger(&logs)}))
	eventually(t, "expired rows remain", func() bool { rows, _ := f.snapshot(); return rows == 0 })
	stop()

	failed := logs.Records(t, "idempotency key pruning failed; retrying next pass")
	if len(failed) != 1 || failed[0]["level"] != "WARN" || failed[0]["error"] != "permission denied to set role" {
		t.Errorf("failure logged as %v, want one WARN with the error", failed)
	}
	pruned := logs.Records(t, "idempotency keys pruned")
	if len(pruned) == 0 || pruned[0]["level"] != "INFO" || pruned[0]["deleted"] != 25.0 || pruned[0]["batches"] != 3.0 {
		t.Errorf("first successful pass logged as %v, want INFO deleted=25 batches=3", pruned)
	}
	for _, rec := range pruned[1:] {
		if rec["level"] != "DEBUG" || rec["deleted"] != 0.0 {
			t.Errorf("a pass with nothing to delete logged %v, want DEBUG deleted=0", rec)
		}
	}
}

// TestRunStopsWhenCancelled: a cancelled context ends Run, whether it is
// waiting for the next pass or in the middle of a batch; no batch starts
// afterwards, and a shutdown is not reported as a failure.
func TestRunStopsWhenCancelled(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		f := &fakeTable{rows: 100}
		stop := runInBackground(t, New(Config{Prune: f.prune, Interval: time.Hour, Jitter: 30 * time.Minute}))
		time.Sleep(20 * time.Millisecond)
		stop()
		if _, calls := f.snapshot(); calls != 0 {
			t.Errorf("%d batches ran, want none before the first pass", calls)
		}
	})
	t.Run("during a batch", func(t *testing.T) {
		var logs testenv.Logs
		f := &fakeTable{rows: 100, block: true, started: make(chan struct{}, 10)}
		stop := runInBackground(t, New(Config{Prune: f.prune, Interval: time.Millisecond, Jitter: time.Millisecond, Log: logger(&logs)}))
		select {
		case <-f.started:
		case <-time.After(5 * time.Second):
			t.Fatal("no pass started")
		}
		stop()
		time.Sleep(20 * time.Millisecond)
		if _, calls := f.snapshot(); calls != 1 {
			t.Errorf("%d batches ran, want only the one cancelled", calls)
		}
		if w := logs.Records(t, "idempotency key pruning failed; retrying next pass"); len(w) != 0 {
			t.Errorf("shutdown logged as a failure: %v", w)
		}
		if d := logs.Records(t, "idempotency key pruning stopped by shutdown"); len(d) != 1 {
			t.Errorf("shutdown during a pass logged %v, want one debug line", d)
		}
	})
}
