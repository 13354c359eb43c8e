// Package linger closes server connections the way Go's net/http does
// after a response to a request whose body it did not read: half-close,
// then wait for the client before letting go of the socket.
//
// fasthttp answers a request it refuses early (413 for a body over the
// limit, 400 for a malformed one) and closes the connection while the client
// may still be sending. Closing a TCP socket with unread input makes the
// kernel send a reset, and a reset discards whatever the client had not yet
// read — the client sees "connection reset by peer" instead of the problem
// response. A connection from a lingering Listener closes its write side
// instead (the client reads the response and end-of-stream), drains and
// discards what the client still sends for up to a timeout, and only then
// closes the socket.
package linger

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps ln so that its connections linger for up to d when
// closed. Connections that cannot half-close (not TCP) close at once.
func Listener(ln net.Listener, d time.Duration) net.Listener {
	return &listener{Listener: ln, d: d}
}

type listener struct {
	net.Listener
	d time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(halfCloser); !ok {
		return c, nil
	}
	return &conn{Conn: c, d: l.d}, nil
}

type halfCloser interface {
	CloseWrite() error
}

type conn struct {
	net.Conn
	d      time.Duration
	closed atomic.Bool
}

// maxDrain bounds what a lingering connection reads and throws away.
const maxDrain = 1 << 20

var drainBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// Close half-closes the connection and returns; the socket is closed when
// the client closes its side, after d, or after maxDrain bytes.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	if err := c.Conn.(halfCloser).CloseWrite(); err != nil {
		return c.Conn.Close()
	}
	go c.drain()
	return nil
}

func (c *conn) drain() {
	defer c.Conn.Close()
	if c.Conn.SetReadDeadline(time.Now().Add(c.d)) != nil {
		return
	}
	bp := drainBufs.Get().(*[]byte)
	defer drainBufs.Put(bp)
	for n := 0; n < maxDrain; {
		k, err := c.Conn.Read(*bp)
		n += k
		if err != nil {
			return
		}
	}
}
