// Package deadline gives connections coarse deadlines that cost a mutex
// instead of a runtime timer update.
//
// fasthttp sets a read or write deadline on a connection several times per
// request: the server's read, idle and write timeouts, the client's
// per-request deadline. Each net.Conn deadline change re-arms a runtime
// timer under the poller's locks, and on the gateway's request path the
// five of them cost more than serving the token from the cache. (fasthttp
// once skipped deadline updates for the same reason: golang/go#15133.)
//
// A Conn from a Watchdog only records its deadlines. The Watchdog's one
// goroutine looks at every connection each tick and trips the deadlines
// that have passed on the real connection, so a blocked Read or Write
// returns os.ErrDeadlineExceeded as usual, between the deadline and one
// tick after it. Setting a later deadline after a trip works as with any
// net.Conn.
//
// A server's connections can go further (ServerListener): the Conn applies
// the read, write and idle timeouts itself, from its own reads and writes
// and the Watchdog's clock of the last tick, so the server sets no
// deadlines and reads no clock per request at all. A client's connections
// can too (WrapClient): each request/response exchange is bounded from its
// first Write, without a per-request deadline from the HTTP client.
package deadline

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Watchdog trips the expired deadlines of the connections it wrapped.
type Watchdog struct {
	tick  time.Duration
	now   atomic.Int64 // Unix nanoseconds at the last tick
	mu    sync.Mutex
	conns map[*Conn]struct{}
	stop  chan struct{}
	done  chan struct{}
}

// New starts a Watchdog that checks deadlines every tick; a deadline fires
// at most one tick late. Close stops it.
func New(tick time.Duration) *Watchdog {
	w := &Watchdog{tick: tick, conns: make(map[*Conn]struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	w.now.Store(time.Now().UnixNano())
	go w.loop()
	return w
}

// Close stops the Watchdog. Connections it wrapped keep working, but their
// deadlines no longer fire; close it only after the server stopped.
func (w *Watchdog) Close() {
	close(w.stop)
	<-w.done
}

// Done is closed once the Watchdog has stopped.
func (w *Watchdog) Done() <-chan struct{} { return w.done }

// Tick is the interval at which deadlines are checked.
func (w *Watchdog) Tick() time.Duration { return w.tick }

// Wrap returns c with coarse deadlines. c must have no deadline set.
func (w *Watchdog) Wrap(c net.Conn) *Conn {
	wc := &Conn{Conn: c, w: w}
	w.mu.Lock()
	w.conns[wc] = struct{}{}
	w.mu.Unlock()
	return wc
}

// WrapClient returns c, the client side of an HTTP/1.1 connection, with
// every exchange bounded by timeout: the first Write after a Read (or the
// first Write ever) starts an exchange, and its request and response must
// then be written and read within timeout of the Watchdog's clock (so within
// a tick either side). The connection owns its deadlines: SetDeadline and
// friends do nothing (fasthttp clears them on a connection's first use,
// after the request is written). A connection left idle longer than
// timeout has its real deadlines tripped; the next exchange's first Write
// restores them.
func (w *Watchdog) WrapClient(c net.Conn, timeout time.Duration) *Conn {
	wc := w.Wrap(c)
	wc.exchange = timeout
	return wc
}

// Listener returns ln whose accepted connections are wrapped.
func (w *Watchdog) Listener(ln net.Listener) net.Listener {
	return listener{Listener: ln, w: w}
}

// ServerTimeouts are an HTTP/1.1 server connection's timeouts, with the
// meaning fasthttp gives them; zero means none.
type ServerTimeouts struct {
	// Read bounds reading a request: from its first byte (or, for a new
	// connection, from the accept) until the response starts.
	Read time.Duration
	// Write bounds writing a response, from its first byte on.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive
	// connection; zero means Read.
	Idle time.Duration
}

// ServerListener returns ln whose accepted connections enforce t
// themselves (see Conn.Read); the server must set no deadlines of its own.
// A connection's phase follows its I/O: a Read after the response was
// written starts the idle wait, the Read that then returns bytes starts
// the request's read timeout, and the first Write of the response starts
// the write timeout. Pipelined requests read from a buffer are covered by
// the timeout of the read that brought them in. The clock is the Watchdog's
// last tick, so a timeout fires within a tick either side of its length
// (more when the watchdog goroutine itself is kept waiting for a CPU).
func (w *Watchdog) ServerListener(ln net.Listener, t ServerTimeouts) net.Listener {
	if t.Idle == 0 {
		t.Idle = t.Read
	}
	return listener{Listener: ln, w: w, server: &t}
}

// Len is the number of open connections the Watchdog looks after.
func (w *Watchdog) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

func (w *Watchdog) loop() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var batch []*Conn
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			n := now.UnixNano()
			w.now.Store(n)
			// Expire outside w.mu, so accepting and closing connections
			// never waits for a scan.
			batch = batch[:0]
			w.mu.Lock()
			for c := range w.conns {
				batch = append(batch, c)
			}
			w.mu.Unlock()
			for _, c := range batch {
				c.expire(n)
			}
			clear(batch)
		}
	}
}

func (w *Watchdog) remove(c *Conn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

type listener struct {
	net.Listener
	w      *Watchdog
	server *ServerTimeouts
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := l.w.Wrap(c)
	if l.server != nil {
		wc.server = l.server
		wc.enter(phaseReading)
	}
	return wc, nil
}

// Conn is a net.Conn whose deadlines a Watchdog enforces.
type Conn struct {
	net.Conn
	w *Watchdog

	// read and write are the two directions' deadlines. Setting a deadline
	// that neither has passed nor replaces a tripped one is two atomic
	// stores and loads (settle); mu is taken only to move a real deadline,
	// by a setter or by the watchdog (trip), so the two never move it at
	// once.
	read, write direction
	mu          sync.Mutex

	// server holds the timeouts a server connection applies itself (nil
	// for other connections); exchange is a client connection's bound on
	// one request/response exchange (0 for other connections); phase is
	// where the connection is in the request cycle. They are used only by
	// the goroutine reading and writing the connection.
	server   *ServerTimeouts
	exchange time.Duration
	phase    phase
}

// phase is a server or client connection's place in the request cycle.
type phase uint8

const (
	phaseReading phase = iota // server: reading a request (or waiting for the first); client: reading a response
	phaseWriting              // server: writing the response; client: writing a request
	phaseIdle                 // server: waiting for the next request
)

// Read reads from the connection. On a server connection it first moves
// to the idle wait when the response has been written, and to the read
// timeout when the idle wait ends with bytes. On a client connection it
// marks the exchange's response as begun, so the next Write starts a new
// exchange.
func (c *Conn) Read(p []byte) (int, error) {
	if c.server == nil {
		c.phase = phaseReading
		return c.Conn.Read(p)
	}
	if c.phase == phaseWriting {
		c.enter(phaseIdle)
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.phase == phaseIdle {
		c.enter(phaseReading)
	}
	return n, err
}

// Write writes to the connection. On a server connection the first Write
// of a response starts the write timeout; on a client connection the first
// Write of a request starts the exchange's.
func (c *Conn) Write(p []byte) (int, error) {
	if c.phase != phaseWriting {
		switch {
		case c.server != nil:
			c.enter(phaseWriting)
		case c.exchange > 0:
			c.phase = phaseWriting
			d := c.w.now.Load() + int64(c.exchange)
			_ = c.setNanos(d, d)
		}
	}
	return c.Conn.Write(p)
}

// enter moves a server connection to phase, arming the phase's deadline
// from the Watchdog's clock and clearing the other direction's.
func (c *Conn) enter(p phase) {
	c.phase = p
	at := func(d time.Duration) int64 {
		if d <= 0 {
			return 0
		}
		return c.w.now.Load() + int64(d)
	}
	switch p {
	case phaseReading:
		_ = c.setNanos(at(c.server.Read), 0)
	case phaseIdle:
		_ = c.setNanos(at(c.server.Idle), 0)
	case phaseWriting:
		_ = c.setNanos(0, at(c.server.Write))
	}
}

// setNanos sets both deadlines (Unix nanoseconds, 0 for none).
func (c *Conn) setNanos(read, write int64) error {
	c.read.at.Store(read)
	c.write.at.Store(write)
	return c.settle(true, true)
}

// settle brings the real connection's read and/or write deadline in line
// with the recorded one: to the past for a deadline that had passed at the
// last tick, as a caller interrupting a blocked Read expects, and back to
// none when a tripped deadline was replaced. The caller has stored the new
// deadline before settle reads the tripped flag; trip sets the flag before
// it reads the deadline again. So either settle sees the flag and waits for
// mu, after the trip, to undo it, or trip sees the new deadline and does not
// trip: a deadline set in time is never tripped by an older one.
func (c *Conn) settle(read, write bool) error {
	now := c.w.now.Load()
	if (!read || c.read.settled(now)) && (!write || c.write.settled(now)) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		if err := c.read.move(now, c.Conn.SetReadDeadline); err != nil {
			return err
		}
	}
	if write {
		return c.write.move(now, c.Conn.SetWriteDeadline)
	}
	return nil
}

// direction is one direction's deadline: as recorded, and whether the real
// connection's deadline has been moved to the past for it.
type direction struct {
	at      atomic.Int64 // Unix nanoseconds, 0 for none
	tripped atomic.Bool
}

// settled reports that the real deadline needs no change: it is not
// tripped and the recorded one had not passed at now.
func (d *direction) settled(now int64) bool {
	return !d.tripped.Load() && !passed(d.at.Load(), now)
}

// passed reports whether deadline d (Unix nanoseconds, 0 for none) has
// passed at now.
func passed(d, now int64) bool { return d != 0 && now >= d }

// longAgo is the deadline that trips a real connection.
var longAgo = time.Unix(1, 0)

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.set(t, true, true) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.set(t, true, false) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.set(t, false, true) }

func (c *Conn) set(t time.Time, read, write bool) error {
	if c.exchange > 0 {
		return nil // a client connection bounds its exchanges itself
	}
	var d int64
	if !t.IsZero() {
		d = max(t.UnixNano(), 1)
	}
	if read {
		c.read.at.Store(d)
	}
	if write {
		c.write.at.Store(d)
	}
	return c.settle(read, write)
}

// move makes the real deadline, which set moves, agree with the recorded
// one (see settle). The connection's mu must be held.
func (d *direction) move(now int64, set func(time.Time) error) error {
	past := passed(d.at.Load(), now)
	switch {
	case past && !d.tripped.Load():
		d.tripped.Store(true)
		return set(longAgo)
	case !past && d.tripped.Load():
		d.tripped.Store(false)
		return set(time.Time{})
	}
	return nil
}

// expire trips the deadlines that passed by now (Unix nanoseconds).
func (c *Conn) expire(now int64) {
	if !passed(c.read.at.Load(), now) && !passed(c.write.at.Load(), now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read.trip(now, c.Conn.SetReadDeadline)
	c.write.trip(now, c.Conn.SetWriteDeadline)
}

// trip moves the real deadline, which set moves, to the past if the
// recorded one passed by now. It announces the trip before it looks at the
// deadline a second time, and stands down if a setter moved it meanwhile
// (see settle). The connection's mu must be held.
func (d *direction) trip(now int64, set func(time.Time) error) {
	if d.tripped.Load() || !passed(d.at.Load(), now) {
		return
	}
	if h := testHookTrip.Load(); h != nil {
		(*h)()
	}
	d.tripped.Store(true)
	if !passed(d.at.Load(), now) {
		d.tripped.Store(false)
		return
	}
	_ = set(longAgo)
}

// testHookTrip, set by tests, runs in trip between finding a deadline
// passed and announcing the trip: the window in which a setter may move it.
var testHookTrip atomic.Pointer[func()]

// Close closes the connection and forgets it.
func (c *Conn) Close() error {
	c.w.remove(c)
	return c.Conn.Close()
}
