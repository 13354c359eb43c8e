// Package janitor deletes expired Idempotency-Key records in the background,
// so that the table holds about one window's worth of keys instead of
// growing forever. Each pass deletes in bounded batches — one short
// statement each, so no lock is held for long — until a batch comes back
// short; a failed pass is logged and the next pass tries again. It never
// stops the service.
package janitor

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultInterval   = 10 * time.Minute
	DefaultBatch      = 1000
	DefaultMaxBatches = 100
)

// Prune deletes at most limit expired records and returns how many it
// deleted (store.DB.PruneIdempotencyKeys).
type Prune func(ctx context.Context, limit int) (int64, error)

// Config configures a Janitor; zero fields take the defaults.
type Config struct {
	Prune Prune
	// Interval is the mean time between passes (DefaultInterval).
	Interval time.Duration
	// Jitter spreads the passes of replicas that start together: each wait
	// is Interval ± up to Jitter, and the first pass comes after a random
	// delay of up to Jitter. Default Interval/5; at most Interval/2.
	Jitter time.Duration
	// Batch is the most rows one statement deletes (DefaultBatch).
	Batch int
	// MaxBatches bounds one pass (DefaultMaxBatches); what is left waits for
	// the next pass.
	MaxBatches int
	// Log receives one line per pass: Info when rows were deleted, Debug
	// when none, Warn when the pass failed or hit MaxBatches.
	Log *slog.Logger
}

// Janitor runs Prune periodically.
type Janitor struct{ c Config }

// New returns a Janitor for c with defaults applied. c.Prune is required.
func New(c Config) *Janitor {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Jitter <= 0 {
		c.Jitter = c.Interval / 5
	}
	c.Jitter = min(c.Jitter, c.Interval/2)
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.MaxBatches <= 0 {
		c.MaxBatches = DefaultMaxBatches
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Janitor{c: c}
}

// Run makes a pass after a random delay of up to Jitter and then every
// Interval ± Jitter, until ctx is done; only then does it return. A
// statement in flight when ctx ends is cancelled and rolls back.
func (j *Janitor) Run(ctx context.Context) {
	j.c.Log.Debug("idempotency key janitor started", "interval", j.c.Interval, "jitter", j.c.Jitter, "batch", j.c.Batch)
	wait := j.firstWait()
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		j.logPass(ctx)
		wait = j.nextWait()
	}
}

// firstWait is in [0, Jitter]; nextWait in [Interval-Jitter, Interval+Jitter].
func (j *Janitor) firstWait() time.Duration { return randDuration(j.c.Jitter + 1) }
func (j *Janitor) nextWait() time.Duration {
	return j.c.Interval - j.c.Jitter + randDuration(2*j.c.Jitter+1)
}

func (j *Janitor) logPass(ctx context.Context) {
	start := time.Now()
	r, err := j.Pass(ctx)
	attrs := []any{"deleted", r.Deleted, "batches", r.Batches, "took", time.Since(start).Round(time.Millisecond)}
	switch {
	case ctx.Err() != nil: // shutting down; the batches that finished are committed
		j.c.Log.Debug("idempotency key pruning stopped by shutdown", attrs...)
	case err != nil:
		j.c.Log.Warn("idempotency key pruning failed; retrying next pass", append(attrs, "error", err.Error())...)
	case r.More:
		j.c.Log.Warn("idempotency keys pruned; more expired keys remain for the next pass", attrs...)
	case r.Deleted > 0:
		j.c.Log.Info("idempotency keys pruned", attrs...)
	default:
		j.c.Log.Debug("idempotency keys pruned", attrs...)
	}
}

// Result is what one pass did.
type Result struct {
	Deleted int64 // rows deleted by the batches that succeeded (each commits on its own)
	Batches int   // statements that succeeded
	More    bool  // the pass stopped at MaxBatches with every batch full
}

// Pass deletes expired records batch by batch until a batch deletes fewer
// than Batch rows, MaxBatches batches ran, ctx is done or a batch fails.
func (j *Janitor) Pass(ctx context.Context) (Result, error) {
	var r Result
	for r.Batches < j.c.MaxBatches {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		n, err := j.c.Prune(ctx, j.c.Batch)
		if err != nil {
			return r, err
		}
		r.Deleted += n
		r.Batches++
		if n < int64(j.c.Batch) {
			return r, nil
		}
	}
	r.More = true
	return r, nil
}

// randDuration returns a random duration in [0, n); n must be > 0.
func randDuration(n time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(n))) }
