package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDrainClosesKeptAliveConnectionsCleanly: after SIGTERM, a client's
// kept-alive connection that was idle still gets its next request answered,
// with Connection: close, as does a request in flight; the client is never
// left with a connection closed under its next request. Once the clients
// have closed their connections, Run returns without waiting out
// SHUTDOWN_IDLE_GRACE.
func TestDrainClosesKeptAliveConnectionsCleanly(t *testing.T) {
	h := start(t, map[string]string{"SHUTDOWN_IDLE_GRACE": "5s", "SHUTDOWN_TIMEOUT": "10s"})
	h.tasks.handle = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = w.Write([]byte(`{"items":[]}`))
	}
	h.waitReady(t)
	auth := "Authorization: Bearer " + h.token("alice")

	open := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", h.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	exchange := func(c net.Conn, br *bufio.Reader, raw string) (*http.Response, error) {
		if _, err := io.WriteString(c, raw); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	idle, idleR := open()
	busy, busyR := open()
	for _, c := range []struct {
		c  net.Conn
		br *bufio.Reader
	}{{idle, idleR}, {busy, busyR}} {
		resp, err := exchange(c.c, c.br, req("GET", "/api/tasks", auth))
		if err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("before SIGTERM: %v %v; want a kept-alive 200", resp, err)
		}
	}
	inflight := make(chan *http.Response, 1)
	go func() {
		resp, err := exchange(busy, busyR, req("GET", "/api/tasks?slow=1", auth))
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		inflight <- resp
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	h.cancel() // what SIGTERM does in main
	time.Sleep(200 * time.Millisecond)

	resp, err := exchange(idle, idleR, req("GET", "/api/tasks", auth))
	if err != nil {
		t.Fatalf("request on a connection idle at SIGTERM: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("request during the drain: %d, Connection: %q; want 200 with close", resp.StatusCode, resp.Header.Get("Connection"))
	}
	if r := <-inflight; r == nil || r.StatusCode != 200 || !r.Close {
		t.Fatalf("in-flight request: %+v; want 200 with Connection: close", r)
	}
	for _, br := range []*bufio.Reader{idleR, busyR} {
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after Connection: close the gateway should close the connection; read: %v", err)
		}
	}
	idle.Close()
	busy.Close()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(8 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("the drain took %s with no connection left; SHUTDOWN_IDLE_GRACE should end early", elapsed)
	}
	if _, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial after the drain: %v; want refused", err)
	}
}
