package server_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// dialFrom opens a connection to addr from the loopback address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refusedWith reads what the gateway sent on c before closing it: a
// problem with status want, Connection: close and Retry-After.
func refusedWith(t *testing.T, c net.Conn, want int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("refused connection: %v, want a %d answer", err, want)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want || !resp.Close || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("refused connection: %d close=%v %v, want %d problem+json with Retry-After", resp.StatusCode, resp.Close, resp.Header, want)
	}
}

// served sends a valid request on c and wants 200.
func served(t *testing.T, c net.Conn, raw string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("held connection: %v %v, want 200", resp, err)
	}
	resp.Body.Close()
}

// servedFrom dials from and wants a 200 for raw, retrying for up to 3 s
// while the gateway answers 503: a connection the test closed before (the
// harness's readiness probe) may hold its slot for a moment.
func servedFrom(t *testing.T, from, addr, raw string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := dialFrom(t, from, addr)
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return c
		}
		if err == nil && resp.StatusCode == 503 && time.Now().Before(deadline) {
			c.Close()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t.Fatalf("held connection from %s: %v %v, want 200", from, resp, err)
	}
}

// TestConnectionCaps: CLIENT_MAX_CONNS_PER_ADDR connections from one
// address are held, the next is answered 429 and closed, while other
// addresses are served; CLIENT_MAX_CONNS in all, then 503. A slot frees
// when its connection closes. Behind trusted proxies (whose addresses the
// peers are) the per-address cap does not apply.
func TestConnectionCaps(t *testing.T) {
	h := start(t, map[string]string{"CLIENT_MAX_CONNS": "6", "CLIENT_MAX_CONNS_PER_ADDR": "3"})
	h.waitReady(t)
	get := req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice"))
	var mine []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.2", h.addr)
		served(t, c, get)
		mine = append(mine, c)
	}
	refusedWith(t, dialFrom(t, "127.0.0.2", h.addr), 429)
	// Another address is served meanwhile.
	other := dialFrom(t, "127.0.0.3", h.addr)
	served(t, other, get)
	// A closed connection frees its slot.
	mine[0].Close()
	deadline := time.Now().Add(3 * time.Second) // the socket lingers briefly
	for {
		c := dialFrom(t, "127.0.0.2", h.addr)
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte(get)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			mine[0] = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed connection never came back: %v %v", resp, err)
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	// Six in all: 3 + 1 held; two more from a third address fill the
	// gateway, and the next from anywhere is a 503.
	for range 2 {
		servedFrom(t, "127.0.0.4", h.addr, get)
	}
	refusedWith(t, dialFrom(t, "127.0.0.5", h.addr), 503)

	t.Run("behind trusted proxies", func(t *testing.T) {
		h := start(t, map[string]string{"CLIENT_MAX_CONNS": "6", "CLIENT_MAX_CONNS_PER_ADDR": "3", "TRUSTED_PROXY_HOPS": "1"})
		h.waitReady(t)
		for range 6 {
			servedFrom(t, "127.0.0.2", h.addr, req("GET", "/healthz", "X-Forwarded-For: 203.0.113.7"))
		}
		refusedWith(t, dialFrom(t, "127.0.0.2", h.addr), 503)
	})
}
