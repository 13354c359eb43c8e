package logbuf_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/logbuf"
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
