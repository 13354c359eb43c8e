package logbuf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/logbuf"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBatchesAndFlushes(t *testing.T) {
	out := &syncBuf{}
	w := logbuf.New(out, 4096, 20*time.Millisecond)
	for range 10 {
		if _, err := w.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "" {
		t.Fatal("wrote through without buffering")
	}
	time.Sleep(100 * time.Millisecond)
	if got := out.String(); got != "line\nline\nline\nline\nline\nline\nline\nline\nline\nline\n" {
		t.Fatalf("after the interval: %q", got)
	}
	out.mu.Lock()
	writes := out.n
	out.mu.Unlock()
	if writes != 1 {
		t.Fatalf("%d underlying writes for 10 lines, want 1", writes)
	}
	_, _ = w.Write([]byte("last\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); len(got) < 5 || got[len(got)-5:] != "last\n" {
		t.Fatalf("Close did not flush: %q", got)
	}
}

// Access lines and slog records written at once from many goroutines
// through a logger over a Writer come out whole, one JSON object per line.
func TestLoggerLinesStayWhole(t *testing.T) {
	out := &syncBuf{}
	w := logbuf.New(out, 512, time.Millisecond) // small: flushes mid-run
	log := observe.NewLogger(w, "gateway", slog.LevelInfo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if i%2 == 0 {
					observe.LogAccess(context.Background(), log, &observe.Access{
						RequestID: "rid", Method: "GET", Route: "/api/tasks", Path: "/api/tasks",
						UserID: strings.Repeat("u", g*10), Status: 200, Latency: time.Millisecond,
					})
				} else {
					log.Info("event", "goroutine", g, "i", i)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line is not one JSON object (%v): %q", err, l)
		}
	}
}

func TestLineLargerThanTheBuffer(t *testing.T) {
	out := &syncBuf{}
	w := logbuf.New(out, 16, time.Hour)
	long := strings.Repeat("x", 40) + "\n"
	for _, l := range []string{"a\n", long, "b\n", "c\n"} {
		if _, err := w.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "a\n"+long+"b\nc\n"; got != want {
		t.Fatalf("wrote %q, want %q (in order)", got, want)
	}
}
