package testenv

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
)

// Logs is a log sink a test can read while servers write to it from other
// goroutines. The zero value is ready to use.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Records parses what was written as JSON lines (slog's JSONHandler, the
// services' loggers) and returns those whose "msg" is msg. A line that is
// not JSON fails tb.
func (l *Logs) Records(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(l.String()), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
