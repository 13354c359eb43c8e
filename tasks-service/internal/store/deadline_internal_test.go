package store

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// TestStatementTimeoutEndsBeforeTheDeadline: Postgres's statement_timeout
// leaves a margin before the request's deadline (a fifth of the time left,
// at most 1 s), is never above StatementTimeout, and a deadline that leaves
// no time is Unavailable without a statement.
func TestStatementTimeoutEndsBeforeTheDeadline(t *testing.T) {
	cases := []struct {
		desc     string
		left     time.Duration // 0: no deadline
		min, max time.Duration
	}{
		{"no deadline", 0, StatementTimeout, StatementTimeout},
		{"a long deadline is capped", time.Minute, StatementTimeout, StatementTimeout},
		{"10 s left: 1 s margin, capped", 10 * time.Second, StatementTimeout, StatementTimeout},
		{"5 s left: 1 s margin", 5 * time.Second, 3900 * time.Millisecond, 4 * time.Second},
		{"500 ms left: a fifth", 500 * time.Millisecond, 380 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, c := range cases {
		ctx := context.Background()
		start := time.Now()
		if c.left > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.left)
			defer cancel()
		}
		got, err := statementTimeout(ctx)
		// Time passing between the deadline and the call (a loaded
		// machine) shortens what is left, so the floor moves down by it.
		if low := c.min - time.Since(start); err != nil || got < low || got > c.max {
			t.Errorf("%s: %s %v, want %s..%s", c.desc, got, err, low, c.max)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	if _, err := statementTimeout(ctx); task.ErrorCode(err) != task.Unavailable {
		t.Errorf("deadline passed: %v, want Unavailable", err)
	}
	b, err := appendStatementTimeout(context.Background(), nil)
	if err != nil || string(b) != "SET LOCAL statement_timeout = 5000; " {
		t.Errorf("SET LOCAL: %q %v", b, err)
	}
}
