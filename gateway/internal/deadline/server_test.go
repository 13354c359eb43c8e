package deadline_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/deadline"
)

// serverPair is pair through ServerListener with timeouts to.
func serverPair(t *testing.T, to deadline.ServerTimeouts) (server, client net.Conn) {
	t.Helper()
	w := newWatchdog(t)
	server, client = pairOn(t, func(ln net.Listener) net.Listener { return w.ServerListener(ln, to) })
	closeLater(t, client)
	return server, client
}

// closeLater closes c after 3 s, so that a timeout that never fires fails
// the test (its peer reads EOF) instead of hanging it.
func closeLater(t *testing.T, c net.Conn) {
	stop := time.AfterFunc(3*time.Second, func() { c.Close() })
	t.Cleanup(func() { stop.Stop() })
}

// within fails unless took is d, give or take a tick (the clock is the
// last tick's) plus scheduling slack: on a loaded machine the watchdog's
// tick itself can come late, which moves a timeout either way.
func within(t *testing.T, what string, took, d time.Duration) {
	t.Helper()
	if took < d-3*tick || took > d+tick+100*time.Millisecond {
		t.Fatalf("%s after %s, want %s (-%s/+%s)", what, took, d, 3*tick, tick+100*time.Millisecond)
	}
}

// timedOut fails unless err is a deadline error that came d after the
// start (within).
func timedOut(t *testing.T, what string, took time.Duration, err error, d time.Duration) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: %v, want a deadline error", what, err)
	}
	within(t, what+" timed out", took, d)
}

// request plays one request/response exchange: the client writes, the
// server reads it and writes the answer, the client reads that.
func request(t *testing.T, server, client net.Conn) {
	t.Helper()
	if _, err := client.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 16)); err != nil {
		t.Fatalf("server read: %v", err)
	}
	if _, err := server.Write([]byte("resp")); err != nil {
		t.Fatalf("server write: %v", err)
	}
	if _, err := client.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
}

func TestServerReadTimeoutFromAccept(t *testing.T) {
	// A new connection must deliver its request within Read, however
	// slowly its bytes trickle in (slowloris).
	const read = 80 * time.Millisecond
	server, client := serverPair(t, deadline.ServerTimeouts{Read: read, Idle: time.Hour})
	start := time.Now()
	go func() {
		for range 20 {
			if _, err := client.Write([]byte("G")); err != nil {
				return
			}
			time.Sleep(read / 8)
		}
	}()
	var err error
	for err == nil {
		_, err = server.Read(make([]byte, 1))
	}
	timedOut(t, "trickled request", time.Since(start), err, read)
}

func TestServerIdleTimeoutAfterResponse(t *testing.T) {
	const read = 60 * time.Millisecond
	for _, idle := range []time.Duration{150 * time.Millisecond, 0} {
		server, client := serverPair(t, deadline.ServerTimeouts{Read: read, Idle: idle})
		request(t, server, client)
		took, err := readErr(server)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle wait (Idle %s): %v, want a deadline error", idle, err)
		}
		want := idle
		if idle == 0 {
			want = read // unset, Idle is Read
		}
		within(t, "idle connection timed out", took, want)
	}
}

func TestServerReadTimeoutRestartsAtFirstByte(t *testing.T) {
	// After an idle wait the read timeout counts from the request's first
	// byte: a request started late but sent at once is served, one that
	// stalls after its first byte is cut off Read later.
	const read, idle = 80 * time.Millisecond, 400 * time.Millisecond
	server, client := serverPair(t, deadline.ServerTimeouts{Read: read, Idle: idle})
	request(t, server, client)
	time.Sleep(2 * read) // idle, well past Read
	request(t, server, client)
	time.Sleep(2 * read)
	// Timed from before the read that sees the first byte, where the read
	// timeout starts: a loaded machine may pause between that read and the
	// next, which must not look like a timeout that came early.
	start := time.Now()
	if _, err := client.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 16)); err != nil {
		t.Fatalf("first bytes after idling: %v", err)
	}
	_, err := readErr(server)
	timedOut(t, "stalled request", time.Since(start), err, read)
}

func TestServerBusyConnectionNeverTimesOut(t *testing.T) {
	const read = 40 * time.Millisecond
	server, client := serverPair(t, deadline.ServerTimeouts{Read: read, Write: read, Idle: read})
	for range 12 { // 12 × 15 ms: longer than every timeout
		request(t, server, client)
		time.Sleep(15 * time.Millisecond)
	}
}

func TestServerWriteTimeout(t *testing.T) {
	const write = 80 * time.Millisecond
	server, client := serverPair(t, deadline.ServerTimeouts{Read: time.Hour, Write: write})
	if _, err := client.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	// The client never reads the response: writes block once buffers fill.
	took, err := writeUntilError(server)
	timedOut(t, "blocked response", took, err, write)
}
