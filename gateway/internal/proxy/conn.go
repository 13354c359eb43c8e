package proxy

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Errors an upstream connection returns instead of starting an exchange it
// knows would fail. Nothing of the request has been written, so the request
// is retried on another connection whatever its method (Upstream.retry).
var (
	// errIdleExpired: the connection idled longer than the upstream keeps
	// idle connections (Upstream.idleLimit).
	errIdleExpired = errors.New("proxy: idle upstream connection retired before reuse")
	// errPeerClosed: the upstream closed the connection (or sent bytes
	// nobody asked for) while it was idle.
	errPeerClosed = errors.New("proxy: upstream closed the idle connection")
)

// conn is a client connection to an upstream. Before it starts an exchange
// on a connection that already served one, it refuses — with errIdleExpired
// or errPeerClosed and without writing a byte — when the connection idled
// past the upstream's limit or the upstream has closed it (for an
// idempotent request, only once it idled peekAfter: see there). That closes the
// race Go's net/http Transport closes with a background read per connection:
// an HTTP/1.1 server may close an idle connection at any time, and a request
// written onto it is lost with no way to know whether it was processed.
//
// A connection is used by one exchange at a time (fasthttp's pool hands it
// out); its fields need no locks.
type conn struct {
	net.Conn
	up *Upstream
	// raw is the socket for the liveness check; nil skips the check.
	raw syscall.RawConn
	// tls: bytes may arrive while idle (TLS session tickets), so only EOF
	// or an error means closed.
	tls bool
	// peek is c.peekFD, bound once so that a check allocates nothing;
	// closed is its verdict and buf its one-byte buffer.
	peek   func(fd uintptr) bool
	closed bool
	buf    [1]byte

	used     bool      // an exchange has been started
	reading  bool      // the current exchange's response is being read
	lastRead time.Time // when response bytes last arrived
}

func newConn(c net.Conn, up *Upstream, tls bool) *conn {
	uc := &conn{Conn: c, up: up, tls: tls}
	if sc, ok := c.(syscall.Conn); ok {
		uc.raw, _ = sc.SyscallConn()
	}
	uc.peek = uc.peekFD
	return uc
}

// Write starts an exchange with its first call after the last response
// began (the first call ever starts the first exchange).
func (c *conn) Write(p []byte) (int, error) {
	if c.reading || !c.used {
		if c.used {
			idle := time.Since(c.lastRead)
			if idle >= c.up.idleLimit() {
				return 0, errIdleExpired
			}
			if (idle >= peekAfter || !idempotentHead(p)) && c.peerClosed() {
				return 0, errPeerClosed
			}
		}
		c.used, c.reading = true, false
	}
	return c.Conn.Write(p)
}

// peekAfter is how long a connection must have idled before an idempotent
// request peeks at it (peerClosed); a request that may not be sent twice
// always does. The peek is a system call per request: 3.8-5.4 % of the
// gateway's CPU in profiles under gateway-bench load, where a connection is
// reused within microseconds of its last response (under 1 % of the full
// path's CPU, of which the gateway is about a seventh). A connection idle for less than
// peekAfter has rarely been closed by its upstream — keep-alive timeouts are
// seconds (Node: 5 s), so what closes one that soon is a restart or drain —
// and if it has, the idempotent request written onto it fails before the
// first response byte and is sent again on a fresh connection (retry).
const peekAfter = 50 * time.Millisecond

// idempotentHead reports whether a request whose head starts with p (the
// first Write of an exchange starts with the request line) has a method
// that may be sent twice (see idempotent). Over TLS, p is a TLS record:
// every request on an https upstream peeks, as all did before.
func idempotentHead(p []byte) bool {
	for _, m := range idempotentMethods {
		if len(p) > len(m) && string(p[:len(m)]) == m && p[len(m)] == ' ' {
			return true
		}
	}
	return false
}

var idempotentMethods = []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}

// peerClosed reports whether the upstream has closed the idle connection
// (peekFD); it reads nothing, takes one system call and never waits.
func (c *conn) peerClosed() bool {
	if c.raw == nil {
		return false
	}
	c.closed = false
	err := c.raw.Read(c.peek)
	return c.closed || err != nil
}

// Read reads response bytes, remembering when they last came.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.reading = true
	if n > 0 {
		c.lastRead = time.Now()
	}
	return n, err
}
