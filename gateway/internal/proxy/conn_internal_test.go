package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// closingServer answers every request on a connection with 200 (keep-alive
// announced) and then closes the connection, as an upstream does that
// closes idle connections right after a response (a drain, a restart). It
// counts the requests it answered.
func closingServer(t *testing.T) (addr string, answered *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answered = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_ = req.Body.Close()
				answered.Add(1)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"))
			}()
		}
	}()
	return ln.Addr().String(), answered
}

// TestPeekAfterBoundary: an idempotent request looks at a reused connection
// only once it idled peekAfter; one that may not be sent twice always
// does. A connection the upstream has closed is refused before a byte is
// written (errPeerClosed) when looked at, and written onto otherwise.
func TestPeekAfterBoundary(t *testing.T) {
	addr, _ := closingServer(t)
	u, _ := url.Parse("http://" + addr)
	up := NewUpstream(UpstreamConfig{URL: u})
	for _, tc := range []struct {
		desc   string
		head   string
		idle   time.Duration
		peeked bool
	}{
		{"GET reused at once", "GET /x HTTP/1.1\r\n", 0, false},
		{"GET reused within peekAfter", "GET /x HTTP/1.1\r\n", peekAfter / 2, false},
		{"GET reused at peekAfter", "GET /x HTTP/1.1\r\n", peekAfter, true},
		{"DELETE reused at once", "DELETE /x HTTP/1.1\r\n", 0, false},
		{"POST reused at once", "POST /x HTTP/1.1\r\n", 0, true},
		{"PATCH reused at once", "PATCH /x HTTP/1.1\r\n", 0, true},
		{"a method that only starts like GET", "GETX /x HTTP/1.1\r\n", 0, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			c := newConn(raw, up, false)
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			time.Sleep(20 * time.Millisecond) // the server's FIN has arrived
			c.lastRead = time.Now().Add(-tc.idle)
			_, err = c.Write([]byte(tc.head))
			if got := err == errPeerClosed; got != tc.peeked {
				t.Fatalf("Write after %s idle: %v; want refused: %v", tc.idle, err, tc.peeked)
			}
			if !tc.peeked && err != nil {
				t.Fatalf("Write onto the half-closed connection: %v", err)
			}
		})
	}
}

// TestClosedRightAfterTheResponse: the upstream closes every connection
// just after its response, and the next request comes at once, well within
// peekAfter. Each succeeds and reaches the upstream once: a GET, not peeked,
// fails on the closed connection before the first response byte and is
// sent again on a fresh one; a POST is refused by the peek before a byte is
// written and goes out on a fresh connection.
func TestClosedRightAfterTheResponse(t *testing.T) {
	addr, answered := closingServer(t)
	u, _ := url.Parse("http://" + addr)
	up := NewUpstream(UpstreamConfig{URL: u, Timeout: 5 * time.Second, MaxConns: 4})
	send := func(method string) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		up.Prepare(req, up.AppendURL(nil, []byte("/x"), nil))
		req.Header.SetMethod(method)
		if method != "GET" {
			req.SetBodyString("{}")
		}
		if err := up.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != 200 {
			return fmt.Errorf("status %d", resp.StatusCode())
		}
		return nil
	}
	// Four connections in the pool at once, all closed by the upstream: a
	// GET that fails on one is sent again on a fresh connection, not on
	// the next stale one.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := send("GET"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	time.Sleep(5 * time.Millisecond)
	for i, method := range []string{"GET", "GET", "POST", "GET", "POST", "POST", "PUT", "GET"} {
		before := answered.Load()
		if err := send(method); err != nil {
			t.Fatalf("request %d (%s): %v", i, method, err)
		}
		if n := answered.Load() - before; n != 1 {
			t.Fatalf("request %d (%s) answered %d times", i, method, n)
		}
		time.Sleep(5 * time.Millisecond) // the FIN arrives; still well within peekAfter
	}
}
