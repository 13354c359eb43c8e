package drain_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/drain"
	"github.com/gofiber/fiber/v2"
)

// serve starts app's drain.Server on a loopback listener.
func serve(t *testing.T, app *fiber.App) (*drain.Server, string) {
	t.Helper()
	d := drain.New(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return d, ln.Addr().String()
}

// keptAlive is a client's kept-alive connection.
type keptAlive struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *keptAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keptAlive{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends GET path and returns the response, or the error that ended it.
func (k *keptAlive) get(path string) (*http.Response, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := k.c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func newApp(slow chan struct{}) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/slow", func(c *fiber.Ctx) error {
		<-slow
		return c.SendString("slow")
	})
	return app
}

// TestDrain: while a server drains, a request on a connection that was
// idle when the drain began is answered, and every response — to it and
// to a request in flight at the start — says Connection: close; the drain
// ends as soon as the clients have closed their connections.
func TestDrain(t *testing.T) {
	slow := make(chan struct{})
	d, addr := serve(t, newApp(slow))
	idle, busy := dial(t, addr), dial(t, addr)
	for _, k := range []*keptAlive{idle, busy} {
		resp, err := k.get("/")
		if err != nil || resp.Close {
			t.Fatalf("before the drain: %v, %v; want a kept-alive 200", resp, err)
		}
	}
	inflight := make(chan *http.Response, 1)
	go func() {
		resp, err := busy.get("/slow")
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		inflight <- resp
	}()
	time.Sleep(100 * time.Millisecond) // /slow is running

	const grace = 5 * time.Second
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- d.Shutdown(grace, 10*time.Second) }()
	time.Sleep(200 * time.Millisecond)
	if !d.Draining() {
		t.Error("Draining() is false during Shutdown")
	}

	resp, err := idle.get("/")
	if err != nil {
		t.Fatalf("request on a connection idle when the drain began: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("during the drain: status %d, Connection: close %t; want 200 with close", resp.StatusCode, resp.Close)
	}
	idle.c.Close()
	close(slow)
	if resp := <-inflight; resp == nil || !resp.Close {
		t.Fatalf("in-flight response %v: want Connection: close", resp)
	}
	busy.c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if elapsed := time.Since(start); elapsed >= grace {
		t.Fatalf("Shutdown took %s although every client had closed its connection; want well under the %s grace", elapsed, grace)
	}
}

// TestDrainClosesIdleAfterGrace: a connection its client keeps idle through
// the whole grace is closed then, and Shutdown returns.
func TestDrainClosesIdleAfterGrace(t *testing.T) {
	d, addr := serve(t, newApp(nil))
	k := dial(t, addr)
	if _, err := k.get("/"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Shutdown(300*time.Millisecond, 5*time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("Shutdown took %s; want the 300 ms grace and a little more", elapsed)
	}
	_ = k.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := k.br.ReadByte(); err == nil {
		t.Fatalf("idle connection still open after the drain (read %q)", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle connection still open after the drain")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial after the drain: %v, want connection refused", err)
	}
}
