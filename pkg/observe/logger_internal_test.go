package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAppendTimeAndMillisMatchStdlib(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	base := time.Date(2026, 3, 29, 0, 59, 58, 0, time.UTC)
	for i := range 5000 {
		tm := base.Add(time.Duration(i) * 987654321 * time.Nanosecond / 7)
		for _, loc := range []*time.Location{time.UTC, berlin} {
			tl := tm.In(loc)
			if got, want := string(appendTime(nil, tl)), tl.Format(time.RFC3339Nano); got != want {
				t.Fatalf("appendTime(%v) = %s, want %s", tl, got, want)
			}
		}
	}
	for _, us := range []int64{0, 1, 9, 10, 100, 999, 1000, 1001, 1010, 1100, 123456, 5000000, -1500} {
		if got, want := string(appendMillis(nil, us)), strconv.FormatFloat(float64(us)/1000, 'f', -1, 64); got != want {
			t.Errorf("appendMillis(%d) = %s, want %s", us, got, want)
		}
	}
}

func TestAppendJSONStringMatchesSlog(t *testing.T) {
	cases := []string{"", "plain", `q"b\s`, "a\nb\r\tc\x00\x1f", "caf\u00e9", "\xff\xfe", "x\u2028y\u2029", "<&>"}
	// Every byte value at every place of a string long enough for the
	// eight-byte scan (plainPrefix) to see it in its first, second or
	// third word.
	for c := range 256 {
		for i := range 17 {
			b := []byte("abcdefghijklmnopq")
			b[i] = byte(c)
			cases = append(cases, string(b))
		}
	}
	cases = append(cases, "/api/tasks/0123456789abcdef\u2028/x", "bench-user-0001-2f1c9a7e3b5d")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}}))
	for _, s := range cases {
		buf.Reset()
		log.Info("", "k", s)
		want := strings.TrimSpace(buf.String())
		if got := `{"k":` + string(appendJSONString(nil, s)) + "}"; got != want {
			t.Errorf("appendJSONString(%q): %s, slog writes %s", s, got, want)
		}
	}
}

// TestLogAccessFastPathMatchesSlog compares a line of the direct encoder
// with the line slog's JSONHandler writes for the same access.
func TestLogAccessFastPathMatchesSlog(t *testing.T) {
	a := &Access{RequestID: "r-1", Method: "GET", Route: "/api/tasks/*", Path: "/api/tasks/\"caf\u00e9\"\n",
		UserID: "u1", Status: 502, Bytes: 12, Latency: 1234567 * time.Nanosecond}
	var fast, ref bytes.Buffer
	LogAccess(context.Background(), NewLogger(&fast, "svc", slog.LevelInfo), a)
	LogAccess(context.Background(), slog.New(slog.NewJSONHandler(&ref, nil)).With("service", "svc"), a)
	strip := func(s string) string { // drop the time, which differs
		i := strings.Index(s, `","level"`)
		return s[i:]
	}
	if strip(fast.String()) != strip(ref.String()) {
		t.Fatalf("direct encoder:\n%s\nslog:\n%s", fast.String(), ref.String())
	}
	var m map[string]any
	if err := json.Unmarshal(fast.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
		t.Fatal(err)
	}
	fast.Reset()
	LogAccess(context.Background(), NewLogger(&fast, "svc", slog.LevelError), &Access{Status: 200})
	if fast.Len() != 0 {
		t.Fatalf("INFO line written at level ERROR: %s", fast.String())
	}
}
