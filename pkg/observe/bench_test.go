package observe_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
)

// BenchmarkLogAccess is one access-log line through NewLogger's logger
// (zerolog) and through a plain slog JSONHandler, the path any other
// logger takes.
func BenchmarkLogAccess(b *testing.B) {
	a := &observe.Access{
		RequestID: "9f86d081884c7d65-a3f2b1c4d5e6f708", Method: "GET", Route: "/api/tasks",
		Path: "/api/tasks", UserID: "bench-user-0001-2f1c9a7e3b5d", Status: 200, Bytes: 31,
		Latency: 1234 * time.Microsecond, Time: time.Now(),
	}
	ctx := context.Background()
	for _, l := range []struct {
		name string
		log  *slog.Logger
	}{
		{"zerolog", observe.NewLogger(io.Discard, "gateway", slog.LevelInfo)},
		{"slog", slog.New(slog.NewJSONHandler(io.Discard, nil)).With("service", "gateway")},
	} {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				observe.LogAccess(ctx, l.log, a)
			}
		})
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
