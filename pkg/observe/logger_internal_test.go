package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestLogAccessLine checks the fields of an access line, their JSON
// escaping, the level a 5xx gets and that a disabled level writes nothing.
func TestLogAccessLine(t *testing.T) {
	at := time.Date(2026, 3, 29, 0, 59, 58, 123456789, time.UTC)
	a := &Access{RequestID: "r-1", Method: "GET", Route: "/api/tasks/*", Path: "/api/tasks/\"caf\u00e9\"\n",
		UserID: "u1", Status: 502, Bytes: 12, Latency: 1234567 * time.Nanosecond, Time: at}
	var buf bytes.Buffer
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelInfo), a)
	want := `{"time":"2026-03-29T00:59:58.123456789Z","level":"ERROR","msg":"request","service":"svc",` +
		`"request_id":"r-1","method":"GET","route":"/api/tasks/*","path":"/api/tasks/\"café\"\n",` +
		`"status":502,"latency_us":1234,"bytes":12,"user_id":"u1"}` + "\n"
	if buf.String() != want {
		t.Fatalf("line:\n%s\nwant:\n%s", buf.String(), want)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}

	buf.Reset()
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelInfo), &Access{Status: 200, Latency: time.Millisecond})
	m = nil
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["level"] != "INFO" || m["latency_us"] != 1000.0 || m["user_id"] != nil {
		t.Fatalf("200 line without a user: %s", buf.String())
	}

	buf.Reset()
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelError), &Access{Status: 200})
	if buf.Len() != 0 {
		t.Fatalf("INFO line written at level ERROR: %s", buf.String())
	}
}
