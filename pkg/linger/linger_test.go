package linger_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/linger"
	"github.com/gofiber/fiber/v2"
)

// serve runs a Fiber app with a 1 KiB body limit on ln.
func serve(t *testing.T, ln net.Listener) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 1 << 10})
	app.Post("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}

// TestRefusedUploadGetsItsAnswer: clients uploading past the body limit
// read the server's 413, never a connection reset. (Without lingering, Go's
// client sometimes fails the request with "write: connection reset by peer"
// because the server closed before the upload ended.)
func TestRefusedUploadGetsItsAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + serve(t, linger.Listener(ln, time.Second)) + "/"
	body := strings.Repeat("a", 70<<10)
	for i := range 30 {
		resp, err := http.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("upload %d: status %d, want 413", i, resp.StatusCode)
		}
	}
}

// TestClose closes a server connection that has unread input, plainly and
// through a lingering Listener, and looks at it from the client: a plain
// close resets the connection at once; a lingering one sends end-of-stream,
// keeps taking the client's bytes for the linger time, then goes away.
func TestClose(t *testing.T) {
	for _, lingering := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var l net.Listener = ln
		if lingering {
			l = linger.Listener(ln, 300*time.Millisecond)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server := <-accepted
		if _, err := client.Write(make([]byte, 64<<10)); err != nil { // never read by the server
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := server.Close(); err != nil {
			t.Fatal(err)
		}
		_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, readErr := client.Read(make([]byte, 1))
		start := time.Now()
		var writeErr error
		for time.Since(start) < 3*time.Second && writeErr == nil {
			_, writeErr = client.Write([]byte("x"))
			time.Sleep(10 * time.Millisecond)
		}
		open := time.Since(start)
		client.Close()
		ln.Close()
		switch {
		case !lingering && (readErr == nil || !strings.Contains(readErr.Error(), "reset")):
			t.Fatalf("plain close: client read %v, want a connection reset (the control case)", readErr)
		case lingering && readErr != io.EOF:
			t.Fatalf("lingering close: client read %v, want EOF", readErr)
		case lingering && (open < 200*time.Millisecond || writeErr == nil):
			t.Fatalf("lingering close: client writes failed after %s (%v), want after about 300ms", open, writeErr)
		}
		if lingering {
			if err := server.Close(); err == nil {
				t.Fatal("second Close succeeded")
			}
		}
	}
}
