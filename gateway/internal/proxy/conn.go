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
// past the upstream's limit or the upstream has closed it. That closes the
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
			if time.Since(c.lastRead) >= c.up.idleLimit() {
				return 0, errIdleExpired
			}
			if c.peerClosed() {
				return 0, errPeerClosed
			}
		}
		c.used, c.reading = true, false
	}
	return c.Conn.Write(p)
}

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
