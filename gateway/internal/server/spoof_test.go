package server_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// TestSpoofingAttempts: whatever a client sends, the tasks upstream sees
// exactly one X-User-ID, the token's sub, with a signature that verifies
// over what it received — or the request never reaches it.
func TestSpoofingAttempts(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	forged := "X-Identity-Signature: v1,kid=k1,t=1700000000,sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

	cases := []struct {
		name    string
		raw     string
		blocked int // expected status when the request must not be forwarded; 0 = forwarded
		check   func(t *testing.T, s seen)
	}{
		{name: "client X-User-ID", raw: req("GET", "/api/tasks", bearer, "X-User-ID: bob")},
		{name: "two client X-User-ID headers", raw: req("GET", "/api/tasks", "X-User-ID: bob", bearer, "X-User-Id: carol")},
		{name: "underscore spelling X_User_ID", raw: req("GET", "/api/tasks", bearer, "X_User_ID: bob")},
		{name: "mixed spelling x_user-id", raw: req("GET", "/api/tasks", bearer, "x_user-id: bob")},
		{name: "forged X-Identity-Signature", raw: req("GET", "/api/tasks", bearer, forged)},
		{name: "underscore X_Identity_Signature", raw: req("GET", "/api/tasks", bearer, "X_Identity_Signature: v1,kid=k1,t=1,sig=x")},
		{name: "other X-Identity-* header", raw: req("GET", "/api/tasks", bearer, "X-Identity-Email: bob@example.com")},
		{name: "Connection names X-User-ID", raw: req("GET", "/api/tasks", bearer, "Connection: X-User-ID, X-Identity-Signature")},
		{name: "Connection names a smuggled header", raw: req("GET", "/api/tasks", bearer, "Connection: keep-alive, X-Smuggled", "X-Smuggled: 1"), check: func(t *testing.T, s seen) {
			if s.Header.Get("X-Smuggled") != "" {
				t.Error("header named by Connection was forwarded")
			}
		}},
		{name: "X-Forwarded-* games", raw: req("GET", "/api/tasks", bearer, "X-Forwarded-For: 10.0.0.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Forwarded: for=1.2.3.4;host=evil", "X-Real-IP: 10.9.9.9"), check: func(t *testing.T, s seen) {
			if got := s.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
			}
			if got := s.Header.Get("X-Forwarded-Host"); got != "gateway.test" {
				t.Errorf("X-Forwarded-Host = %q", got)
			}
			if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
				t.Errorf("X-Forwarded-Proto = %q", got)
			}
			if s.Header.Get("Forwarded") != "" || s.Header.Get("X-Real-Ip") != "" {
				t.Error("client Forwarded/X-Real-IP forwarded")
			}
		}},
		{name: "credentials are not forwarded", raw: req("GET", "/api/tasks", bearer, "Cookie: better-auth.session_token=abc"), check: func(t *testing.T, s seen) {
			if s.Header.Get("Authorization") != "" || s.Header.Get("Cookie") != "" {
				t.Errorf("credentials reached the tasks service: %v", s.Header)
			}
		}},
		{name: "X-Auth-* headers in any spelling", raw: req("GET", "/api/tasks", bearer, "X-Auth-Request-User: bob", "X_Auth_Token: t", "x-auth-email: bob@example.com")},
		{name: "method override header", raw: req("POST", "/api/tasks", bearer, "X-HTTP-Method-Override: DELETE", "Content-Length: 0"), check: func(t *testing.T, s seen) {
			if s.Header.Get("X-Http-Method-Override") != "" {
				t.Error("method override forwarded")
			}
		}},
		{name: "identity and credentials in chunked trailers", raw: req("POST", "/api/tasks", bearer, "Transfer-Encoding: chunked", "Trailer: X-User-Id, X-Smuggled, X-Identity-Signature") +
			"5\r\nhello\r\n0\r\nX-User-Id: bob\r\nX-Smuggled: 1\r\nX-Identity-Signature: v1,kid=k1,t=1,sig=x\r\n\r\n", check: func(t *testing.T, s seen) {
			if s.Body != "hello" {
				t.Errorf("body %q, want hello", s.Body)
			}
			if s.Header.Get("X-Smuggled") != "" || s.Header.Get("Authorization") != "" || s.Header.Get("Trailer") != "" {
				t.Errorf("trailer fields reached the upstream: %v", s.Header)
			}
		}},
		{name: "unannounced chunked trailers", raw: req("POST", "/api/tasks", bearer, "Transfer-Encoding: chunked") +
			"5\r\nhello\r\n0\r\nX-User-Id: bob\r\nX-Identity-Signature: v1,kid=k1,t=1,sig=x\r\nX-Auth-Token: t\r\n\r\n", check: func(t *testing.T, s seen) {
			if s.Body != "hello" || s.Header.Get("X-Auth-Token") != "" {
				t.Errorf("body %q, headers %v", s.Body, s.Header)
			}
		}},
		{name: "absolute-form target naming another host", raw: req("GET", "http://evil.example/api/tasks?limit=5", bearer), check: func(t *testing.T, s seen) {
			// The configured upstream gets the origin-form target it signs.
			if s.Target != "/api/tasks?limit=5" {
				t.Errorf("upstream target %q", s.Target)
			}
		}},
		{name: "absolute-form target with dot-dot", raw: req("GET", "http://gateway.test/api/tasks/../auth/get-session", bearer), blocked: 400},
		{name: "HTTP/1.0 request", raw: strings.Replace(req("GET", "/api/tasks", bearer, "X-User-ID: bob"), "HTTP/1.1", "HTTP/1.0", 1)},
		{name: "dot-dot into auth", raw: req("GET", "/api/tasks/../auth/get-session", bearer), blocked: 400},
		{name: "encoded dot-dot", raw: req("GET", "/api/tasks/%2e%2E/auth", bearer), blocked: 400},
		{name: "encoded slash", raw: req("GET", "/api/tasks%2F..%2Fauth", bearer), blocked: 400},
		{name: "encoded backslash", raw: req("GET", "/api/tasks/..%5Cauth", bearer), blocked: 400},
		{name: "double-encoded dot", raw: req("GET", "/api/tasks/%252e%252e/x", bearer), blocked: 400},
		{name: "single dot segment", raw: req("GET", "/api/./tasks", bearer), blocked: 400},
		{name: "empty segment", raw: req("GET", "/api//tasks", bearer), blocked: 400},
		{name: "compat route for another user", raw: req("GET", "/api/bob/tasks", bearer), blocked: 403},
		{name: "compat route with encoded user id", raw: req("GET", "/api/b%6Fb/tasks", bearer), blocked: 403},
		{name: "upper-case path", raw: req("GET", "/API/tasks", bearer), blocked: 404},
		{name: "spoofed identity without a token", raw: req("GET", "/api/tasks", "X-User-ID: alice", forged), blocked: 401},
		{name: "token in the query string", raw: req("GET", "/api/tasks?access_token="+strings.TrimPrefix(bearer, "Authorization: Bearer ")), blocked: 401},
		{name: "TRACE", raw: req("TRACE", "/api/tasks", bearer), blocked: 405},
	}
	if len(cases) < 12 {
		t.Fatalf("only %d spoofing cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.tasks.reset()
			h.auth.reset()
			resp := h.do(t, tc.raw)
			got := h.tasks.requests()
			if tc.blocked != 0 {
				if resp.status != tc.blocked {
					t.Fatalf("status %d, want %d (body %s)", resp.status, tc.blocked, resp.body)
				}
				resp.problem(t)
				if len(got) != 0 || len(h.auth.requests()) != 0 {
					t.Fatalf("blocked request reached an upstream: %+v %+v", got, h.auth.requests())
				}
				return
			}
			if resp.status != http.StatusOK || len(got) != 1 {
				t.Fatalf("status %d, upstream saw %d requests (body %s)", resp.status, len(got), resp.body)
			}
			s := got[0]
			if ids := s.Header.Values(identity.HeaderUserID); len(ids) != 1 || ids[0] != "alice" {
				t.Fatalf("upstream X-User-ID = %q, want [alice]", ids)
			}
			if s.VerifyErr != nil {
				t.Fatalf("upstream could not verify the assertion: %v", s.VerifyErr)
			}
			for name := range s.Header {
				n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if (strings.HasPrefix(n, "x-user-") && name != "X-User-Id") || (strings.HasPrefix(n, "x-identity-") && name != "X-Identity-Signature") || strings.HasPrefix(n, "x-auth-") {
					t.Errorf("client header %q reached the upstream", name)
				}
			}
			if sigs := s.Header.Values(identity.HeaderSignature); len(sigs) != 1 {
				t.Errorf("%d signatures reached the upstream", len(sigs))
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// TestUpstreamVerifierIsStrict is the control of TestSpoofingAttempts,
// whose forwarded cases pass only when the upstream's verifier (the
// pkg/identity one tasks-service runs) accepts the gateway's assertion: that
// acceptance proves something only if the same verifier refuses the
// assertion with any one bit of its signature changed, or replayed for
// another user, target or body.
func TestUpstreamVerifierIsStrict(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	h.tasks.reset()
	if resp := h.do(t, reqWithBody("POST", "/api/tasks?x=1", `{"title":"a"}`, "Authorization: Bearer "+h.token("alice"))); resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got := h.tasks.requests()
	if len(got) != 1 || got[0].VerifyErr != nil {
		t.Fatalf("upstream saw %d requests; verify error %v", len(got), got[0].VerifyErr)
	}
	s := got[0]
	header := s.Header.Get(identity.HeaderSignature)
	r := identity.Request{Method: s.Method, Target: s.Target, UserID: s.Header.Get(identity.HeaderUserID), BodySHA256: identity.HashBody([]byte(s.Body))}
	a, err := identity.Parse(header)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(a.T, 0)
	if err := h.tasks.verify.Verify(header, r, now); err != nil {
		t.Fatalf("control: the assertion as received fails: %v", err)
	}
	prefix := header[:strings.Index(header, "sig=")+len("sig=")]
	for i := range a.Sig {
		for bit := range 8 {
			sig := append([]byte(nil), a.Sig...)
			sig[i] ^= 1 << bit
			if err := h.tasks.verify.Verify(prefix+base64.RawURLEncoding.EncodeToString(sig), r, now); !errors.Is(err, identity.ErrBadSignature) {
				t.Errorf("signature byte %d bit %d flipped: %v, want %v", i, bit, err, identity.ErrBadSignature)
			}
		}
	}
	for name, other := range map[string]identity.Request{
		"another user":   {Method: r.Method, Target: r.Target, UserID: "bob", BodySHA256: r.BodySHA256},
		"another target": {Method: r.Method, Target: "/api/tasks", UserID: r.UserID, BodySHA256: r.BodySHA256},
		"another body":   {Method: r.Method, Target: r.Target, UserID: r.UserID, BodySHA256: identity.HashBody([]byte(`{"title":"b"}`))},
	} {
		if err := h.tasks.verify.Verify(header, other, now); !errors.Is(err, identity.ErrBadSignature) {
			t.Errorf("assertion replayed for %s: %v, want %v", name, err, identity.ErrBadSignature)
		}
	}
}

// TestRequestSmuggling: a request whose framing two HTTP parsers could
// read differently (Content-Length and Transfer-Encoding together, two
// lengths, an unknown or repeated coding, a space before the colon) is
// either refused with 400 or answered once with Connection: close, so
// whatever a front proxy made of the bytes after it, the gateway never
// reads them as a request of the same connection. Each case carries a
// second request behind the first; the control shows that a cleanly framed
// pipeline does reach the upstream twice, so the test sees a smuggled
// request when there is one. What reaches the upstream is re-framed by the
// gateway: one Content-Length, no Transfer-Encoding.
func TestRequestSmuggling(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	next := req("GET", "/api/tasks?smuggled=1", bearer)
	post := func(framing ...string) string {
		return strings.TrimSuffix(req("POST", "/api/tasks", append([]string{bearer}, framing...)...), "\r\n")
	}
	cases := []struct {
		name string
		raw  string
	}{
		{"Content-Length then Transfer-Encoding", post("Content-Length: 4", "Transfer-Encoding: chunked") + "\r\n0\r\n\r\n" + next},
		{"Transfer-Encoding then a longer Content-Length", post("Transfer-Encoding: chunked", "Content-Length: 90") + "\r\n0\r\n\r\n" + next},
		{"identity coding with Content-Length", post("Transfer-Encoding: identity", "Content-Length: 0") + "\r\n" + next},
		{"two Content-Length values", post("Content-Length: 0", "Content-Length: 90") + "\r\n" + next},
		{"Content-Length list", post("Content-Length: 0, 90") + "\r\n" + next},
		{"Content-Length with a sign", post("Content-Length: +0") + "\r\n" + next},
		{"unknown coding", post("Transfer-Encoding: xchunked") + "\r\n0\r\n\r\n" + next},
		{"chunked then identity", post("Transfer-Encoding: chunked, identity") + "\r\n0\r\n\r\n" + next},
		{"two Transfer-Encoding fields", post("Transfer-Encoding: chunked", "Transfer-Encoding: identity") + "\r\n0\r\n\r\n" + next},
		{"space before the colon", post("Transfer-Encoding : chunked") + "\r\n0\r\n\r\n" + next},
		{"chunk size ended by a bare LF", post("Transfer-Encoding: chunked") + "\r\n1\nx\n0\n\n" + next},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.tasks.reset()
			statuses, closed := pipeline(t, h.addr, tc.raw)
			got := h.tasks.requests()
			for _, s := range got {
				if strings.Contains(s.Target, "smuggled") {
					t.Fatalf("the request behind an ambiguous one reached the upstream (responses %v)", statuses)
				}
				if len(s.TransferEncoding) != 0 || s.ContentLength != int64(len(s.Body)) {
					t.Errorf("upstream got Transfer-Encoding %q, Content-Length %d for %d bytes: want the gateway's own framing", s.TransferEncoding, s.ContentLength, len(s.Body))
				}
			}
			switch {
			case len(statuses) == 1 && statuses[0] == http.StatusBadRequest && len(got) == 0:
			case len(statuses) == 1 && statuses[0] == http.StatusOK && len(got) == 1 && closed:
			default:
				t.Fatalf("responses %v, upstream saw %d, connection closed %v: want one 400, or one answer and the connection closed", statuses, len(got), closed)
			}
		})
	}
	t.Run("control: a clean pipeline", func(t *testing.T) {
		h.tasks.reset()
		statuses, _ := pipeline(t, h.addr, post("Content-Length: 0")+"\r\n"+next)
		if len(statuses) != 2 || len(h.tasks.requests()) != 2 {
			t.Fatalf("responses %v, upstream saw %d: want both requests answered", statuses, len(h.tasks.requests()))
		}
	})
}

// pipeline writes raw on a new connection and reads responses until the
// gateway closes it or is quiet for a second; closed reports which.
func pipeline(t *testing.T, addr, raw string) (statuses []int, closed bool) {
	t.Helper()
	conn := send(t, addr, raw)
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return statuses, !(errors.As(err, &ne) && ne.Timeout())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
}

// TestClientConnectionSemantics: the gateway drops Connection and other
// hop-by-hop headers from what it forwards, but must still honour the
// client's Connection: close and HTTP/1.0 itself, and keep a keep-alive
// connection open.
func TestClientConnectionSemantics(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	for _, tc := range []struct {
		name      string
		raw       string
		wantClose bool
	}{
		{"keep-alive", req("GET", "/api/tasks", bearer), false},
		{"Connection: close", req("GET", "/api/tasks", bearer, "Connection: close"), true},
		{"HTTP/1.0", strings.Replace(req("GET", "/api/tasks", bearer), "HTTP/1.1", "HTTP/1.0", 1), true},
		{"HTTP/1.0 keep-alive", strings.Replace(req("GET", "/api/tasks", bearer, "Connection: keep-alive"), "HTTP/1.1", "HTTP/1.0", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", h.addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			for i := 0; i < 2; i++ {
				if _, err := io.WriteString(conn, tc.raw); err != nil {
					if tc.wantClose && i == 1 {
						return
					}
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if tc.wantClose && i == 1 {
						return // closed after the first response, as asked
					}
					t.Fatalf("request %d: %v", i+1, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
				}
				if resp.Close != tc.wantClose {
					t.Fatalf("request %d: response Close = %v, want %v", i+1, resp.Close, tc.wantClose)
				}
				if tc.wantClose {
					if _, err := br.ReadByte(); err == nil {
						t.Fatal("connection still open after Connection: close")
					}
					return
				}
			}
		})
	}
}

// TestBehindTrustedProxies: with TRUSTED_PROXY_HOPS=1 (an ingress in front)
// both upstreams receive one X-Forwarded-For address, the one the ingress
// appended, and the ingress's X-Forwarded-Proto; what the client wrote to
// the left never gets through, so Better Auth's own limits (which read the
// first X-Forwarded-For entry) key on the real client. A request that
// skipped the ingress has no entry from it and is attributed to its peer.
func TestBehindTrustedProxies(t *testing.T) {
	h := start(t, map[string]string{"TRUSTED_PROXY_HOPS": "1"})
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	for _, tc := range []struct {
		name, path  string
		headers     []string
		rec         *recorder
		xff, scheme string
	}{
		{"auth via the ingress", "/api/auth/get-session", []string{"X-Forwarded-For: 6.6.6.6, 203.0.113.7", "X-Forwarded-Proto: https"}, h.auth, "203.0.113.7", "https"},
		{"tasks via the ingress", "/api/tasks", []string{bearer, "X-Forwarded-For: 6.6.6.6,203.0.113.7", "X-Forwarded-Proto: https"}, h.tasks, "203.0.113.7", "https"},
		{"skipping the ingress", "/api/auth/get-session", nil, h.auth, "127.0.0.1", "http"},
		{"ingress entry not an address", "/api/auth/get-session", []string{"X-Forwarded-For: 203.0.113.7, evil"}, h.auth, "127.0.0.1", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rec.reset()
			if resp := h.do(t, req("GET", tc.path, tc.headers...)); resp.status != 200 {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			got := tc.rec.requests()
			if len(got) != 1 {
				t.Fatalf("upstream saw %d requests", len(got))
			}
			if xff := got[0].Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != tc.xff {
				t.Errorf("X-Forwarded-For = %q, want [%s]", xff, tc.xff)
			}
			if p := got[0].Header.Get("X-Forwarded-Proto"); p != tc.scheme {
				t.Errorf("X-Forwarded-Proto = %q, want %s", p, tc.scheme)
			}
		})
	}
}
