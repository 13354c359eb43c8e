package deadline_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/deadline"
)

const tick = 10 * time.Millisecond

// pair returns a wrapped server-side connection accepted through the
// Watchdog's listener and the raw client side, over real TCP.
func pair(t *testing.T, w *deadline.Watchdog) (wrapped, peer net.Conn) {
	t.Helper()
	return pairOn(t, w.Listener)
}

// pairOn is pair through the listener that wrap returns.
func pairOn(t *testing.T, wrap func(net.Listener) net.Listener) (wrapped, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := wrap(ln)
	defer wl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := wl.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	wrapped, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	if _, ok := wrapped.(*deadline.Conn); !ok {
		t.Fatalf("accepted %T, want *deadline.Conn", wrapped)
	}
	t.Cleanup(func() { wrapped.Close(); peer.Close() })
	return wrapped, peer
}

func newWatchdog(t *testing.T) *deadline.Watchdog {
	w := deadline.New(tick)
	t.Cleanup(w.Close)
	return w
}

// readErr reads one byte and reports the error and how long it took.
func readErr(c net.Conn) (time.Duration, error) {
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	return time.Since(start), err
}

func TestReadDeadlineFiresWithinATick(t *testing.T) {
	w := newWatchdog(t)
	c, _ := pair(t, w)
	const d = 50 * time.Millisecond
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	took, err := readErr(c)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked read: %v, want a deadline error", err)
	}
	// Never early; late by at most a tick plus scheduling.
	if took < d-time.Millisecond || took > d+tick+40*time.Millisecond {
		t.Fatalf("deadline of %s fired after %s (tick %s)", d, took, tick)
	}
}

func TestExtendedDeadlineDoesNotFire(t *testing.T) {
	w := newWatchdog(t)
	c, peer := pair(t, w)
	// Keep moving the deadline forward, as fasthttp does per request; the
	// data arrives after the first deadline would have passed.
	stop := time.Now().Add(150 * time.Millisecond)
	go func() {
		for time.Now().Before(stop) {
			_ = c.SetReadDeadline(time.Now().Add(40 * time.Millisecond))
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = peer.Write([]byte("x"))
	}()
	_ = c.SetReadDeadline(time.Now().Add(40 * time.Millisecond))
	if took, err := readErr(c); err != nil {
		t.Fatalf("read with a deadline kept ahead failed after %s: %v", took, err)
	}
}

// The watchdog finds a deadline passed while the connection's owner is
// moving it forward, without a lock: the new deadline must stand. (Had the
// watchdog tripped without looking again after announcing the trip, the
// read below would fail with a deadline error.)
func TestDeadlineMovedAsTheWatchdogTripsItStands(t *testing.T) {
	w := newWatchdog(t)
	c, peer := pair(t, w)
	moved := make(chan struct{})
	var once sync.Once
	defer deadline.SetTripHook(func() {
		once.Do(func() {
			// Runs on the watchdog's goroutine, which holds the
			// connection's lock: setting a deadline must not need it.
			if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
			close(moved)
		})
	})()
	if err := c.SetReadDeadline(time.Now().Add(2 * tick)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-moved:
	case <-time.After(2 * time.Second):
		t.Fatal("the watchdog never found the deadline passed")
	}
	time.Sleep(3 * tick) // further ticks must leave the moved deadline alone too
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if took, err := readErr(c); err != nil {
		t.Fatalf("read after the deadline was moved failed after %s: %v", took, err)
	}
}

func TestTrippedDeadlineCanBeReplaced(t *testing.T) {
	for _, next := range []time.Time{{}, time.Now().Add(time.Hour)} {
		w := newWatchdog(t)
		c, peer := pair(t, w)
		_ = c.SetReadDeadline(time.Now().Add(tick))
		if _, err := readErr(c); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("first read: %v, want a deadline error", err)
		}
		if err := c.SetReadDeadline(next); err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(3 * tick); _, _ = peer.Write([]byte("x")) }()
		if took, err := readErr(c); err != nil {
			t.Fatalf("read after replacing a tripped deadline with %v failed after %s: %v", next, took, err)
		}
	}
}

func TestPastDeadlineTripsAtOnce(t *testing.T) {
	w := newWatchdog(t)
	c, _ := pair(t, w)
	time.Sleep(2 * tick) // the Watchdog's clock has moved past "now - tick"
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	took, err := readErr(c)
	if !errors.Is(err, os.ErrDeadlineExceeded) || took > tick {
		t.Fatalf("read after a past deadline: %v after %s, want an immediate deadline error", err, took)
	}
}

func TestWriteDeadline(t *testing.T) {
	w := newWatchdog(t)
	c, _ := pair(t, w) // the peer never reads: writes block once buffers fill
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := writeUntilError(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked write: %v, want a deadline error", err)
	}
}

// writeUntilError writes to c, whose peer does not read, until a write
// fails (or 5 s pass), and reports how long that took and the error.
func writeUntilError(c net.Conn) (time.Duration, error) {
	chunk := make([]byte, 1<<20)
	start := time.Now()
	var err error
	for err == nil && time.Since(start) < 5*time.Second {
		_, err = c.Write(chunk)
	}
	return time.Since(start), err
}

func TestNoDeadlineNeverFires(t *testing.T) {
	w := newWatchdog(t)
	c, peer := pair(t, w)
	_ = c.SetReadDeadline(time.Now().Add(tick))
	_ = c.SetReadDeadline(time.Time{}) // cleared before it passed
	go func() { time.Sleep(5 * tick); _, _ = peer.Write([]byte("x")) }()
	if _, err := readErr(c); err != nil {
		t.Fatalf("read without a deadline: %v", err)
	}
}

func TestClosedConnectionsAreForgotten(t *testing.T) {
	w := newWatchdog(t)
	c, peer := pair(t, w)
	if w.Len() != 1 {
		t.Fatalf("watching %d connections, want 1", w.Len())
	}
	c.Close()
	c.Close() // twice is harmless
	if w.Len() != 0 {
		t.Fatalf("watching %d connections after Close, want 0", w.Len())
	}
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer read after close: %v, want EOF", err)
	}
}

// BenchmarkSetReadDeadline: what fasthttp pays per deadline change, on a
// plain TCP connection (a runtime timer update) and on a Conn.
func BenchmarkSetReadDeadline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	w := deadline.New(10 * time.Millisecond)
	defer w.Close()
	for _, tc := range []struct {
		name string
		c    net.Conn
	}{{"net.TCPConn", raw}, {"deadline.Conn", w.Wrap(raw)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_ = tc.c.SetReadDeadline(time.Now().Add(15 * time.Second))
			}
		})
	}
}
