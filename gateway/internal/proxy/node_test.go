package proxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	"github.com/valyala/fasthttp"
)

// nodeUpstream is testdata/node-upstream.mjs running in node.
type nodeUpstream struct {
	port string
	cmd  *exec.Cmd
	done chan struct{}
}

// startNode starts testdata/node-upstream.mjs with env (PORT=, KEEP_ALIVE_MS=)
// and waits until it listens; it is stopped at cleanup.
func startNode(t *testing.T, env ...string) *nodeUpstream {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node not found in PATH (install Node.js 20+)")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "node-upstream.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeUpstream{cmd: cmd, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(n.stop)
	select {
	case l := <-line:
		port, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			t.Fatalf("node upstream said %q, want \"listening <port>\"", l)
		}
		n.port = port
	case <-time.After(10 * time.Second):
		t.Fatal("node upstream did not listen within 10s")
	}
	return n
}

// stop sends SIGTERM (the script closes every connection and exits) and
// waits for the process.
func (n *nodeUpstream) stop() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

func (n *nodeUpstream) upstream(t *testing.T) *Upstream {
	t.Helper()
	u, err := url.Parse("http://127.0.0.1:" + n.port)
	if err != nil {
		t.Fatal(err)
	}
	return NewUpstream(UpstreamConfig{URL: u, Timeout: 5 * time.Second, MaxConns: 4})
}

// nodeAnswer is node-upstream.mjs's response body.
type nodeAnswer struct {
	Method string `json:"method"`
	Bytes  int    `json:"bytes"`
	Seen   int    `json:"seen"`
	Port   int    `json:"port"`
}

// testBody is the body send gives a POST, PUT or PATCH.
const testBody = `{"title":"buy milk"}`

// send sends method with a small body (for POST, PUT, PATCH) and
// X-Test-Id id, plus extra header pairs, and returns node's answer.
func send(u *Upstream, method, id string, header ...string) (nodeAnswer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	u.Prepare(req, u.AppendURL(nil, []byte("/echo"), nil))
	req.Header.SetMethod(method)
	req.Header.Set("X-Test-Id", id)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if method != fasthttp.MethodGet && method != fasthttp.MethodDelete {
		req.Header.SetContentType("application/json")
		req.SetBodyString(testBody)
	}
	var a nodeAnswer
	if err := u.Do(req, resp); err != nil {
		return a, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return a, fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		return a, fmt.Errorf("body %q: %v", resp.Body(), err)
	}
	return a, nil
}

// TestIdleGapsToNode: Node closes an idle keep-alive connection after 5 s.
// After every idle gap — shorter than that, just past it, well past it, and
// past the 30 s the gateway once kept idle connections — a GET and a POST
// both succeed and reach node exactly once. The gaps run at once (not as
// parallel subtests, which -parallel would queue), each on an Upstream of
// its own, so the test takes the longest gap.
func TestIdleGapsToNode(t *testing.T) {
	node := startNode(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, gap := range []time.Duration{time.Second, 6 * time.Second, 12 * time.Second, 31 * time.Second} {
		for _, method := range []string{fasthttp.MethodGet, fasthttp.MethodPost} {
			u := node.upstream(t)
			wg.Go(func() {
				for i := range 2 {
					if i == 1 {
						time.Sleep(gap)
					}
					a, err := send(u, method, fmt.Sprintf("gap-%s-%s-%d", method, gap, i))
					if err == nil && (a.Method != method || a.Seen != 1) {
						err = fmt.Errorf("node saw %+v, want %s once", a, method)
					}
					if err != nil {
						errs <- fmt.Errorf("%s %d after %s idle: %w", method, i+1, gap*time.Duration(i), err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestUpstreamRestartsBetweenRequests: node stops (closing its idle
// connections) and a new node serves the same port before the next
// request. A POST must not fail on the closed pooled connection, though
// POST is never retried after it was sent: the gateway finds the closed
// connection before writing.
func TestUpstreamRestartsBetweenRequests(t *testing.T) {
	node := startNode(t)
	u := node.upstream(t)
	for _, method := range []string{fasthttp.MethodGet, fasthttp.MethodPost, fasthttp.MethodPatch} {
		if _, err := send(u, method, "before-"+method); err != nil {
			t.Fatalf("%s before the restart: %v", method, err)
		}
	}
	for round := range 2 {
		node.stop()
		node = startNode(t, "PORT="+node.port)
		for _, method := range []string{fasthttp.MethodPost, fasthttp.MethodPatch, fasthttp.MethodGet} {
			id := fmt.Sprintf("after-%d-%s", round, method)
			a, err := send(u, method, id)
			if err != nil {
				t.Fatalf("%s after restart %d: %v", method, round+1, err)
			}
			if a.Seen != 1 {
				t.Fatalf("%s after restart %d reached node %d times", method, round+1, a.Seen)
			}
			if method != fasthttp.MethodGet && a.Bytes != len(testBody) {
				t.Fatalf("%s after restart %d: node read %d body bytes, want %d", method, round+1, a.Bytes, len(testBody))
			}
		}
	}
}

// TestRetryBeforeFirstResponseByte: node drops a request on a kept-alive
// connection without answering (as when it closes that connection just as
// the request arrives). An idempotent request is sent again, once, on a
// fresh connection; a POST or PATCH, which node may have processed, is not:
// it fails with ErrUpstreamUnavailable.
func TestRetryBeforeFirstResponseByte(t *testing.T) {
	node := startNode(t)
	for _, tc := range []struct {
		method    string
		retried   bool
		wantSeen  int
		wantError error
	}{
		{fasthttp.MethodGet, true, 2, nil},
		{fasthttp.MethodPut, true, 2, nil},
		{fasthttp.MethodDelete, true, 2, nil},
		{fasthttp.MethodPost, false, 1, ErrUpstreamUnavailable},
		{fasthttp.MethodPatch, false, 1, ErrUpstreamUnavailable},
	} {
		t.Run(tc.method, func(t *testing.T) {
			u := node.upstream(t)
			if _, err := send(u, tc.method, "warm-"+tc.method); err != nil {
				t.Fatal(err)
			}
			id := "drop-" + tc.method
			a, err := send(u, tc.method, id, "X-Drop", "once")
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("error %v, want %v", err, tc.wantError)
			}
			if err == nil && a.Seen != tc.wantSeen {
				t.Fatalf("node saw the request %d times, want %d", a.Seen, tc.wantSeen)
			}
			if !tc.retried {
				// node counted the dropped request once; a retry would make it 2.
				b, err := send(u, tc.method, id)
				if err != nil || b.Seen != 2 {
					t.Fatalf("after the drop: %+v, %v; want node to have seen one earlier request", b, err)
				}
			}
		})
	}
}

// TestKeepAliveHeaderShortensIdleLimit: a server that announces
// Keep-Alive: timeout=2 has its idle connections retired after 1 s, not
// after the default 4 s.
func TestKeepAliveHeaderShortensIdleLimit(t *testing.T) {
	node := startNode(t, "KEEP_ALIVE_MS=2000")
	u := node.upstream(t)
	if got := u.idleLimit(); got != DefaultIdleTimeout {
		t.Fatalf("idle limit before any response %s, want %s", got, DefaultIdleTimeout)
	}
	if _, err := send(u, fasthttp.MethodGet, "ka"); err != nil {
		t.Fatal(err)
	}
	if got := u.idleLimit(); got != time.Second {
		t.Fatalf("idle limit after Keep-Alive: timeout=2 is %s, want 1s", got)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := send(u, fasthttp.MethodPost, "ka-post"); err != nil {
		t.Fatalf("POST after 2.5 s idle: %v", err)
	}
}

// TestIdleConnectionRetired: a connection idle past the idle limit is not
// reused (node, told to keep idle connections a minute, sees a new client
// port); one idle for less is.
func TestIdleConnectionRetired(t *testing.T) {
	node := startNode(t, "KEEP_ALIVE_MS=60000")
	u, err := url.Parse("http://127.0.0.1:" + node.port)
	if err != nil {
		t.Fatal(err)
	}
	up := NewUpstream(UpstreamConfig{URL: u, Timeout: 5 * time.Second, MaxConns: 4, IdleTimeout: 2 * time.Second})
	port := func(id string) int {
		t.Helper()
		a, err := send(up, fasthttp.MethodPost, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Port
	}
	first := port("r1")
	time.Sleep(100 * time.Millisecond)
	if p := port("r2"); p != first {
		t.Fatalf("after 100 ms idle the request went on a new connection (port %d, was %d)", p, first)
	}
	time.Sleep(3 * time.Second)
	if p := port("r3"); p == first {
		t.Fatalf("after 3 s idle (limit 2 s) the request reused the connection on port %d", p)
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	for _, tc := range []struct {
		header string
		n      int
		ok     bool
		limit  time.Duration
	}{
		{"timeout=5", 5, true, 4 * time.Second},
		{"timeout=5, max=1000", 5, true, 4 * time.Second},
		{"max=100, Timeout = 30", 30, true, 29 * time.Second},
		{"timeout=1", 1, true, 500 * time.Millisecond},
		{"timeout=0", 0, true, 0},
		{"max=5", 0, false, 0},
		{"timeout=", 0, false, 0},
		{"timeout=-1", 0, false, 0},
		{"timeout=5s", 0, false, 0},
		{"timeout=9999999", 0, false, 0},
	} {
		n, ok := keepAliveTimeout([]byte(tc.header))
		if n != tc.n || ok != tc.ok {
			t.Errorf("keepAliveTimeout(%q) = %d, %t; want %d, %t", tc.header, n, ok, tc.n, tc.ok)
		}
		if ok && keepAliveLimit(n) != tc.limit {
			t.Errorf("keepAliveLimit(%d) = %s, want %s", n, keepAliveLimit(n), tc.limit)
		}
	}
}
