package observe_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
)

// BenchmarkLogAccess is one access-log line through slog's JSONHandler.
func BenchmarkLogAccess(b *testing.B) {
	log := observe.NewLogger(io.Discard, "gateway", slog.LevelInfo)
	a := &observe.Access{
		RequestID: "9f86d081884c7d65-a3f2b1c4d5e6f708", Method: "GET", Route: "/api/tasks",
		Path: "/api/tasks", UserID: "bench-user-0001-2f1c9a7e3b5d", Status: 200, Bytes: 31,
		Latency: 1234 * time.Microsecond, Time: time.Now(),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		observe.LogAccess(ctx, log, a)
	}
}

// BenchmarkObserve is one request counted in the metrics of a known series.
func BenchmarkObserve(b *testing.B) {
	m := observe.NewMetrics("gateway")
	b.ReportAllocs()
	for b.Loop() {
		m.Observe("GET", "/api/tasks", 200, 1234*time.Microsecond)
	}
}
