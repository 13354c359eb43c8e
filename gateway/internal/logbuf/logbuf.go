// Package logbuf batches log output: one write system call per flush
// instead of one per access-log line, which at tens of thousands of
// requests per second is a measurable share of the gateway's CPU.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Writer buffers writes to an underlying writer and flushes them every
// interval, when the buffer fills, and on Close. Lines are never split
// across flushes by Writer itself (each Write is appended whole, or written
// out whole when it is larger than the buffer).
//
// Writer is double-buffered: a flush swaps in an empty buffer and writes
// the full one without holding the lock that Write takes, so request
// goroutines keep logging while a slow reader (a full pipe, a busy log
// collector) holds up the write; only when the second buffer fills too
// does a Write wait for the flush.
type Writer struct {
	mu   sync.Mutex // guards buf
	buf  []byte
	size int // of each buffer

	// out serialises writes to w; its holder owns spare, the empty buffer
	// the next flush swaps in.
	out   sync.Mutex
	spare []byte
	w     io.Writer

	stop chan struct{}
	done chan struct{}
}

// New returns a Writer over w with two size-byte buffers, flushed every
// interval. Call Close to flush and stop the flusher.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	b := &Writer{
		buf: make([]byte, 0, size), spare: make([]byte, 0, size), size: size, w: w,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.loop(interval)
	return b
}

// Write appends p; it never blocks on the underlying writer unless both
// buffers are full. A p larger than the buffer is written out directly.
func (b *Writer) Write(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if len(b.buf)+len(p) <= b.size {
			b.buf = append(b.buf, p...)
			b.mu.Unlock()
			return len(p), nil
		}
		b.mu.Unlock()
		if len(p) > b.size {
			// After what is buffered, so a goroutine's lines stay in order.
			b.out.Lock()
			defer b.out.Unlock()
			if err := b.flushLocked(); err != nil {
				return 0, err
			}
			return b.w.Write(p)
		}
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
}

// AtomicWrites marks Writer as safe for concurrent use with each Write
// kept whole (observe.AtomicWriter), so a logger adds no lock of its own.
func (b *Writer) AtomicWrites() {}

// Flush writes out what is buffered. Writes go on into the other buffer
// meanwhile.
func (b *Writer) Flush() error {
	b.out.Lock()
	defer b.out.Unlock()
	return b.flushLocked()
}

// flushLocked is Flush with b.out held.
func (b *Writer) flushLocked() error {
	b.mu.Lock()
	full := b.buf
	b.buf = b.spare
	b.mu.Unlock()
	var err error
	if len(full) > 0 {
		_, err = b.w.Write(full)
	}
	b.spare = full[:0]
	return err
}

// Close flushes and stops the periodic flusher.
func (b *Writer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}

func (b *Writer) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}
