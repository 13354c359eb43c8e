package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/rs/zerolog"
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
// A logger from NewLogger writes the line through zerolog (see handler);
// any other goes through its handler like any other record.
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
	if h, ok := log.Handler().(*handler); ok {
		h.writeAccess(level, t, a)
		return
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
	r.AddAttrs(attrs[:n]...) // one call: a second would grow the record's overflow again
	_ = log.Handler().Handle(ctx, r)
}

// handler is NewLogger's: slog's JSONHandler (with the service attribute)
// for every record, and zerolog on the same writer for the access line,
// which is written on every request. The access line is the same JSON
// object either way (TestAccessLineEncodersAgree), built by a chain of
// typed field calls instead of slog's generic attribute walk: per line
// 0.26 µs and no allocation against 0.9 µs and 1 (BenchmarkLogAccess,
// both paths), and in gateway-bench, A/B of the two builds in one run, 3 %
// more gateway throughput (quartiles 1-6 %): level with a build that
// formats no access line at all (99.3 %, quartiles 96.2-100.6 %).
//
// Loggers derived with With or WithGroup get the embedded JSONHandler's
// handlers, so their access lines, carrying the extra attributes, take
// the slog path.
type handler struct {
	slog.Handler
	access  zerolog.Logger
	service string
}

func (h *handler) writeAccess(level slog.Level, t time.Time, a *Access) {
	var ts [40]byte
	stamp := append(t.AppendFormat(append(ts[:0], '"'), time.RFC3339Nano), '"')
	e := h.access.Log().
		RawJSON(slog.TimeKey, stamp).
		Str(slog.LevelKey, level.String()).
		Str(slog.MessageKey, "request").
		Str("service", h.service).
		Str("request_id", a.RequestID).
		Str("method", a.Method).
		Str("route", a.Route).
		Str("path", a.Path).
		Int("status", a.Status).
		Int64("latency_us", a.Latency.Microseconds()).
		Int("bytes", a.Bytes)
	if a.UserID != "" {
		e = e.Str("user_id", a.UserID)
	}
	if a.TraceID != "" {
		e = e.Str("trace_id", a.TraceID)
	}
	e.Send()
}
