package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// randomBody returns n bytes of printable random text.
func randomBody(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// chunked frames body in chunks of size n.
func chunked(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestStreamedBodiesArriveExactly: the gateway streams request bodies and
// reads them only after authentication; what reaches each upstream is
// still exactly what the client sent, with Content-Length or chunked,
// below and above fasthttp's 8 KiB read-ahead, and the identity signature
// covers it (the tasks recorder verifies every request).
func TestStreamedBodiesArriveExactly(t *testing.T) {
	h := start(t, map[string]string{"BODY_LIMIT": "262144"})
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	for _, size := range []int{1, 8 << 10, 8<<10 + 1, 100 << 10, 256 << 10} {
		body := randomBody(t, size)
		for _, tc := range []struct {
			name, raw string
			rec       *recorder
		}{
			{"tasks, Content-Length", reqWithBody("POST", "/api/tasks", body, bearer), h.tasks},
			{"tasks, chunked", req("PUT", "/api/tasks/1", bearer, "Transfer-Encoding: chunked") + chunked(body, 5000), h.tasks},
			{"compat route", reqWithBody("PATCH", "/api/alice/tasks/1", body, bearer), h.tasks},
			{"auth, Content-Length", reqWithBody("POST", "/api/auth/sign-in/email", body), h.auth},
			{"auth, chunked", req("POST", "/api/auth/sign-up/email", "Transfer-Encoding: chunked") + chunked(body, 7000), h.auth},
		} {
			h.tasks.reset()
			h.auth.reset()
			resp := h.do(t, tc.raw)
			got := tc.rec.requests()
			if resp.status != 200 || len(got) != 1 {
				t.Fatalf("%s, %d bytes: status %d (%s), upstream saw %d requests", tc.name, size, resp.status, resp.body, len(got))
			}
			if got[0].Body != body || got[0].VerifyErr != nil || got[0].ContentLength != int64(size) {
				t.Fatalf("%s, %d bytes: upstream got %d bytes (Content-Length %d), equal %v, signature %v",
					tc.name, size, len(got[0].Body), got[0].ContentLength, got[0].Body == body, got[0].VerifyErr)
			}
		}
	}
}

// TestBodyLimitWithStreaming: BODY_LIMIT still holds: a declared
// Content-Length over it is a 413 problem once fasthttp's read-ahead (the
// first 8 KiB) has arrived, the rest unread; a chunked body growing past it
// is a 413; nothing reaches the upstreams. A body of exactly the limit
// passes.
func TestBodyLimitWithStreaming(t *testing.T) {
	const limit = 16 << 10
	h := start(t, map[string]string{"BODY_LIMIT": fmt.Sprint(limit)})
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	exact := randomBody(t, limit)
	if resp := h.do(t, reqWithBody("POST", "/api/tasks", exact, bearer)); resp.status != 200 {
		t.Fatalf("body of exactly BODY_LIMIT: %d %s", resp.status, resp.body)
	}
	h.tasks.reset()
	for _, tc := range []struct{ name, raw string }{
		{"tasks, declared", req("POST", "/api/tasks", bearer, "Content-Length: 1048576") + exact[:8<<10]},
		{"auth, declared", req("POST", "/api/auth/sign-in/email", "Content-Length: 1048576") + exact[:8<<10]},
		{"tasks, chunked", req("POST", "/api/tasks", bearer, "Transfer-Encoding: chunked") + chunked(exact+"x", 4096)},
		{"auth, chunked", req("POST", "/api/auth/sign-in/email", "Transfer-Encoding: chunked") + chunked(exact+"x", 4096)},
	} {
		resp := h.do(t, tc.raw)
		if resp.status != 413 {
			t.Fatalf("%s: %d %s, want 413", tc.name, resp.status, resp.body)
		}
		if p := resp.problem(t); p["status"] != float64(413) {
			t.Fatalf("%s: problem %v", tc.name, p)
		}
	}
	if n := len(h.tasks.requests()) + len(h.auth.requests()); n != 0 {
		t.Fatalf("upstreams saw %d oversized requests", n)
	}
}

// TestUnauthenticatedBodyIsNotAwaited: a request without a valid token is
// answered from its headers: the gateway does not wait for (or buffer) the
// megabyte it declares. Before bodies were streamed, fasthttp read the
// whole declared body before any handler ran, so this 401 came only after
// READ_TIMEOUT, once the gateway had held a 1 MiB buffer all along.
func TestUnauthenticatedBodyIsNotAwaited(t *testing.T) {
	h := start(t, map[string]string{"READ_TIMEOUT": "10s"})
	h.waitReady(t)
	for _, tc := range []struct{ name, auth string }{
		{"no token", "X-No-Token: 1"},
		{"forged token", "Authorization: Bearer " + forged(h.token("alice"))},
	} {
		raw := req("POST", "/api/tasks", tc.auth, "Content-Length: 1048576") + strings.Repeat("x", 8<<10)
		conn := send(t, h.addr, raw)
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("%s: no answer before the body (%v)", tc.name, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("%s: %d, want 401", tc.name, resp.StatusCode)
		}
	}
	if n := len(h.tasks.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// forged returns tok with its signature replaced.
func forged(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
}

// TestExpectContinue: 100 Continue invites the body, so the gateway sends
// it only to a request whose token verifies (RFC 9110 §10.1.1 lets a server
// answer with a final status instead). Unauthenticated requests get 417,
// never a 100, and no upstream sees them.
func TestExpectContinue(t *testing.T) {
	h := start(t, map[string]string{"BODY_LIMIT": "65536"})
	h.waitReady(t)
	body := randomBody(t, 20<<10)
	cl := fmt.Sprintf("Content-Length: %d", len(body))
	bearer := "Authorization: Bearer " + h.token("alice")

	// interim reads the status line of the first response on conn.
	interim := func(conn net.Conn, br *bufio.Reader) string {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no answer to the headers: %v", err)
		}
		return strings.TrimSpace(line)
	}

	conn := send(t, h.addr, req("POST", "/api/tasks", bearer, cl, "Expect: 100-continue"))
	defer conn.Close()
	br := bufio.NewReader(conn)
	if got := interim(conn, br); got != "HTTP/1.1 100 Continue" {
		t.Fatalf("valid token: %q, want 100 Continue", got)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after 100 Continue: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := h.tasks.requests(); len(got) != 1 || got[0].Body != body || got[0].VerifyErr != nil {
		t.Fatalf("upstream got %d requests", len(got))
	}
	h.tasks.reset()

	for _, tc := range []struct {
		name, raw string
		want      string
	}{
		{"no token", req("POST", "/api/tasks", cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"forged token", req("POST", "/api/tasks", "Authorization: Bearer "+forged(h.token("alice")), cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"malformed token", req("POST", "/api/tasks", "Authorization: Bearer x.y.z", cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"Better Auth route", req("POST", "/api/auth/sign-in/email", cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"unrouted path", req("POST", "/healthz", cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"dot segments", req("POST", "/api/tasks/../tasks", bearer, cl, "Expect: 100-continue"), "HTTP/1.1 417 Expectation Failed"},
		{"over BODY_LIMIT", req("POST", "/api/tasks", bearer, "Content-Length: 65537", "Expect: 100-continue"), "HTTP/1.1 413 Request Entity Too Large"},
	} {
		conn := send(t, h.addr, tc.raw)
		br := bufio.NewReader(conn)
		got := interim(conn, br)
		conn.Close()
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if n := len(h.tasks.requests()) + len(h.auth.requests()); n != 0 {
		t.Fatalf("upstreams saw %d requests", n)
	}
}
