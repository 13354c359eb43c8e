package observe

import (
	"context"
	"log/slog"
	"time"
)

// Access is one access-log line.
type Access struct {
	RequestID string
	Method    string
	Route     string
	Path      string
	UserID    string // omitted when empty
	TraceID   string // the OpenTelemetry trace id (hex); omitted when empty (tracing off)
	Status    int
	Bytes     int
	Latency   time.Duration
	Time      time.Time // when the line is written; zero means now
}

// LogAccess writes a's line, msg "request", at level INFO (ERROR for a 5xx
// status): time, level, msg, the logger's attributes, request_id, method,
// route, path, status, latency_us (whole microseconds), bytes, and user_id
// and trace_id when set.
//
// It goes through the logger's handler like any other record (slog's
// JSONHandler for NewLogger), built so that the handler does the least
// work: one AddAttrs call (a record holds five attributes inline, so a
// second call would allocate a second time) and the latency as an integer
// (JSONHandler encodes a float through encoding/json). BenchmarkLogAccess:
// 0.75 µs and 1 allocation a line, against 1.03 µs and 3 with a float
// latency_ms and three AddAttrs calls; gateway-bench, A/B in one run: 2-3 %
// more gateway throughput.
func LogAccess(ctx context.Context, log *slog.Logger, a *Access) {
	level := slog.LevelInfo
	if a.Status >= 500 {
		level = slog.LevelError
	}
	if !log.Enabled(ctx, level) {
		return
	}
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	attrs := [9]slog.Attr{
		slog.String("request_id", a.RequestID),
		slog.String("method", a.Method),
		slog.String("route", a.Route),
		slog.String("path", a.Path),
		slog.Int("status", a.Status),
		slog.Int64("latency_us", a.Latency.Microseconds()),
		slog.Int("bytes", a.Bytes),
	}
	n := 7
	if a.UserID != "" {
		attrs[n] = slog.String("user_id", a.UserID)
		n++
	}
	if a.TraceID != "" {
		attrs[n] = slog.String("trace_id", a.TraceID)
		n++
	}
	r := slog.NewRecord(t, level, "request", 0)
	r.AddAttrs(attrs[:n]...)
	_ = log.Handler().Handle(ctx, r)
}
