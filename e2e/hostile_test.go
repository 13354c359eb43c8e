package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// rawAnswer is a response read off a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

func (a rawAnswer) problemType() string {
	var p problemBody
	_ = json.Unmarshal([]byte(a.body), &p)
	return p.Type
}

// sendRaw writes head (request line and header fields, CRLF-separated,
// without the blank line that ends them) byte for byte to base's host on
// a fresh connection, so no client library rewrites the target, and reads
// one response.
func sendRaw(t *testing.T, base, head string) rawAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.100q: %v", head, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// bearerHead is a GET head for target with token as bearer.
func bearerHead(base, target, token string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(base, "http://") +
		"\r\nConnection: close\r\nAuthorization: Bearer " + token
}

// testRawTargets sends request-targets that fasthttp would decode and
// re-encode through the real gateway to the real tasks service: the
// gateway signs the target as it forwards it, and the service must verify
// those very bytes (docs/identity-contract.md), so an odd spelling of a task id is a 404,
// never a 401 bad signature; and a signature over one spelling is no good
// for another.
func testRawTargets(t *testing.T, s *stack, token string) {
	api := newClient(t, s.gatewayURL, false).withBearer(token)
	own := createTask(t, api, "/api/tasks", map[string]any{"title": "raw target " + randomHex(t, 3)})

	for _, target := range []string{"/api/tasks/%41", "/api/tasks/é", "/api/tasks/%C3%A9", "/api/tasks/a'b", "/api/tasks/%7Ex"} {
		a := sendRaw(t, s.gatewayURL, bearerHead(s.gatewayURL, target, token))
		if a.status != http.StatusNotFound || a.problemType() != "urn:gatehouse:problem:not-found" {
			t.Errorf("GET %s through the gateway: %d %s, want 404 not-found as for /api/tasks/A", target, a.status, a.body)
		}
	}
	escaped := fmt.Sprintf("/api/tasks/%%%02X%s", own.ID[0], own.ID[1:])
	if a := sendRaw(t, s.gatewayURL, bearerHead(s.gatewayURL, escaped, token)); a.status != http.StatusOK || !strings.Contains(a.body, own.ID) {
		t.Errorf("GET %s through the gateway: %d %s, want 200 with task %s", escaped, a.status, a.body, own.ID)
	}
	if a := sendRaw(t, s.gatewayURL, bearerHead(s.gatewayURL, "/api/tasks?limit=100&q=raw%20%74arget", token)); a.status != http.StatusOK || !strings.Contains(a.body, own.ID) {
		t.Errorf("escaped query through the gateway: %d %s, want 200 with task %s", a.status, a.body, own.ID)
	}

	// Past the gateway: an assertion the gateway made for one spelling is
	// refused for another (the service used to verify its normalised
	// rebuild of the target, which equals for both).
	keys, err := identity.ParseKeys(s.identityKeys)
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decodeJWT(t, token)
	for _, c := range []struct{ sent, signed string }{
		{"/api/%74asks?limit=5", "/api/tasks?limit=5"},
		{"/api/tasks/%41", "/api/tasks/A"},
		{"/api/tasks/" + own.ID + "/./", "/api/tasks/" + own.ID},
	} {
		sig := keys.Sign(identity.Request{Method: "GET", Target: c.signed, UserID: claims.Sub, BodySHA256: identity.HashBody(nil)}, time.Now())
		head := "GET " + c.sent + " HTTP/1.1\r\nHost: tasks\r\nConnection: close\r\nX-User-ID: " + claims.Sub + "\r\nX-Identity-Signature: " + sig
		if a := sendRaw(t, s.tasksURL, head); a.status != http.StatusUnauthorized {
			t.Errorf("GET %s signed as %s, straight to the tasks service: %d %s, want 401", c.sent, c.signed, a.status, a.body)
		}
	}
}

// testHeadLimits: every request head the gateway accepts and forwards is
// one the tasks service reads (the service used to stop at fasthttp's
// default 4 KiB and answer 431 to searches the gateway had authenticated).
func testHeadLimits(t *testing.T, s *stack, token string) {
	// A search at the documented maxima, in its longest encoding: q of 200
	// characters and 20 tags of 50, each character 4 bytes of UTF-8, each
	// byte percent-encoded.
	wide := "𝄞"
	var target strings.Builder
	target.WriteString("/api/tasks?q=" + url.QueryEscape(strings.Repeat(wide, 200)))
	for i := range 20 {
		target.WriteString("&tag=" + url.QueryEscape(fmt.Sprintf("%02d", i)+strings.Repeat(wide, 48)))
	}
	a := sendRaw(t, s.gatewayURL, bearerHead(s.gatewayURL, target.String(), token))
	if a.status != http.StatusOK || !strings.Contains(a.body, `"items":[]`) {
		t.Errorf("search at the maxima (%d-byte target): %d %.300s, want 200 and no items", target.Len(), a.status, a.body)
	}

	// The largest head the gateway reads (16 KiB + JWT_MAX_BYTES, default
	// 8 KiB): the gateway forwards it and the service answers. One byte
	// more is the gateway's own 431.
	const gatewayHead = 16<<10 + 8<<10
	padded := func(size int) string {
		head := bearerHead(s.gatewayURL, "/api/tasks?limit=1", token) + "\r\nX-Pad: "
		return head + strings.Repeat("p", size-len(head)-len("\r\n\r\n"))
	}
	if a := sendRaw(t, s.gatewayURL, padded(gatewayHead)); a.status != http.StatusOK {
		t.Errorf("a %d-byte head, the gateway's largest: %d %.300s, want 200", gatewayHead, a.status, a.body)
	}
	if a := sendRaw(t, s.gatewayURL, padded(gatewayHead+1)); a.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte head, one byte past the gateway's largest: %d %.300s, want 431", gatewayHead+1, a.status, a.body)
	}
}
