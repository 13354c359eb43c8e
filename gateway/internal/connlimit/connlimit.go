// Package connlimit bounds the client connections a server holds: in total
// and per client address. Every connection costs the gateway its buffers
// and a goroutine however little it sends; these caps, not timeouts, are
// what bound that memory, and the per-address cap keeps one client from
// taking the whole budget. An IPv6 client is counted by its /64, which one
// client usually holds whole (as the rate limiter keys it).
//
// A refused connection is sent a canned response and closed at once, before
// anything is read from it; the accept loop never waits on it.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what Listener enforces.
type Config struct {
	Max        int // connections held at once; 0: no cap
	MaxPerAddr int // connections held at once per client address; 0: no cap
	// OverMax and OverAddr are written to a connection refused by Max and
	// by MaxPerAddr before it is closed (e.g. a 503 and a 429 response).
	OverMax, OverAddr []byte
}

// Listener wraps ln so that it holds at most cfg.Max connections, and at
// most cfg.MaxPerAddr from one address. A connection counts until it is
// closed, however it is wrapped later.
func Listener(ln net.Listener, cfg Config) net.Listener {
	return &listener{Listener: ln, cfg: cfg, perAddr: make(map[netip.Prefix]int)}
}

type listener struct {
	net.Listener
	cfg Config

	mu      sync.Mutex
	total   int
	perAddr map[netip.Prefix]int
}

// refuseWriteTimeout bounds the write of a refusal; it fits in an empty
// socket buffer, so the write returns at once unless the peer is gone.
const refuseWriteTimeout = 100 * time.Millisecond

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, keyed := addrKey(c.RemoteAddr())
		refusal, ok := l.admit(key, keyed)
		if ok {
			return &conn{Conn: c, l: l, key: key, keyed: keyed}, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}
}

// admit counts a new connection from key, or returns the refusal to send.
func (l *listener) admit(key netip.Prefix, keyed bool) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Max > 0 && l.total >= l.cfg.Max {
		return l.cfg.OverMax, false
	}
	if keyed && l.cfg.MaxPerAddr > 0 {
		if l.perAddr[key] >= l.cfg.MaxPerAddr {
			return l.cfg.OverAddr, false
		}
		l.perAddr[key]++
	}
	l.total++
	return nil, true
}

func (l *listener) release(key netip.Prefix, keyed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if keyed && l.cfg.MaxPerAddr > 0 {
		if n := l.perAddr[key] - 1; n > 0 {
			l.perAddr[key] = n
		} else {
			delete(l.perAddr, key)
		}
	}
}

// addrKey is the key an address is counted under: an IPv4 address, or the
// /64 of an IPv6 one. ok is false for a peer without an IP address.
func addrKey(a net.Addr) (netip.Prefix, bool) {
	tcp, isTCP := a.(*net.TCPAddr)
	if !isTCP {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// conn releases its slot when it is first closed.
type conn struct {
	net.Conn
	l      *listener
	key    netip.Prefix
	keyed  bool
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.l.release(c.key, c.keyed)
	}
	return err
}

// CloseWrite half-closes a TCP connection (see package linger).
func (c *conn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return &net.OpError{Op: "close", Net: "tcp", Err: net.ErrClosed}
}
