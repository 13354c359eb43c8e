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

	"github.com/gatehouse-dev/gatehouse/gateway/internal/logbuf"
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

// A logger over a Writer adds no lock of its own (observe.AtomicWriter):
// access lines and slog records written at once from many goroutines must
// still come out whole, one JSON object per line.
func TestLoggerLinesStayWhole(t *testing.T) {
	var _ observe.AtomicWriter = (*logbuf.Writer)(nil)
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

// blockingWriter holds every Write until release is closed.
type blockingWriter struct {
	syncBuf
	entered chan struct{}
	release chan struct{}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.syncBuf.Write(p)
}

func TestWritesGoOnWhileAFlushIsStuck(t *testing.T) {
	// The log reader stalls (a full pipe): the flush's write blocks. Lines
	// logged meanwhile must be buffered at once, not wait for it.
	out := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := logbuf.New(out, 64, time.Hour)
	if _, err := w.Write([]byte("first line\n")); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush() }()
	<-out.entered // the flush is inside the stuck write
	wrote := make(chan struct{})
	go func() {
		for range 4 { // 48 bytes: fits the other buffer
			_, _ = w.Write([]byte("during flush\n"))
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(2 * time.Second):
		t.Fatal("Write waited for a stuck flush although the other buffer had room")
	}
	close(out.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "first line\n"+strings.Repeat("during flush\n", 4); got != want {
		t.Fatalf("wrote %q, want %q", got, want)
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
		t.Fatalf("wrote %q, want %q (whole lines, in order)", got, want)
	}
}
