package server_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
)

// tokenRequests returns what the auth upstream received on /api/auth/token.
func tokenRequests(h *harness) []seen {
	var out []seen
	for _, s := range h.auth.requests() {
		if strings.HasPrefix(s.Target, "/api/auth/token") {
			out = append(out, s)
		}
	}
	return out
}

// TestSessionMode: with SESSION_MODE=on a request without a bearer token is
// authenticated by Better Auth's session cookie, exchanged at the auth
// upstream for a JWT that the gateway verifies. The exchange carries the
// session cookie alone to AUTH_UPSTREAM_URL; a bearer token always wins;
// cross-site changes are refused before any exchange.
func TestSessionMode(t *testing.T) {
	h := start(t, map[string]string{"SESSION_MODE": "on"})
	h.waitReady(t)
	h.sessions.Store("s-alice", "alice")
	aliceCookie := "Cookie: theme=dark; better-auth.session_token=s-alice; csrf=zzz; better-auth.session_data=cached"

	t.Run("cookie only", func(t *testing.T) {
		h.auth.reset()
		h.tasks.reset()
		resp := h.do(t, "GET /api/tasks HTTP/1.1\r\nHost: evil.example\r\n"+aliceCookie+"\r\nX-Api-Key: secret\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
		if resp.status != 200 {
			t.Fatalf("%d %s", resp.status, resp.body)
		}
		got := h.tasks.requests()
		if len(got) != 1 || got[0].Header.Get("X-User-Id") != "alice" || got[0].VerifyErr != nil || got[0].Header.Get("Cookie") != "" {
			t.Fatalf("tasks upstream got %+v", got)
		}
		ex := tokenRequests(h)
		if len(ex) != 1 || len(h.auth.requests()) != 1 {
			t.Fatalf("auth upstream got %d requests, %d exchanges; want 1", len(h.auth.requests()), len(ex))
		}
		s := ex[0]
		if s.Method != "GET" || s.Target != "/api/auth/token" || s.Body != "" {
			t.Errorf("exchange %s %s %q", s.Method, s.Target, s.Body)
		}
		if c := s.Header.Values("Cookie"); len(c) != 1 || c[0] != "better-auth.session_token=s-alice" {
			t.Errorf("exchange Cookie %q, want the session cookie alone", c)
		}
		if xff := s.Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" {
			t.Errorf("exchange X-Forwarded-For %q, want the TCP peer only", xff)
		}
		allowed := map[string]bool{"Cookie": true, "Accept": true, "User-Agent": true, "X-Forwarded-For": true, "Accept-Encoding": true}
		for name := range s.Header {
			if !allowed[name] {
				t.Errorf("exchange carries %s: %q", name, s.Header.Values(name))
			}
		}
		// Cached: the next request costs no exchange.
		if resp := h.do(t, req("GET", "/api/tasks", aliceCookie)); resp.status != 200 || len(tokenRequests(h)) != 1 {
			t.Fatalf("second request: %d, %d exchanges", resp.status, len(tokenRequests(h)))
		}
	})

	t.Run("bearer wins", func(t *testing.T) {
		h.auth.reset()
		h.tasks.reset()
		resp := h.do(t, req("GET", "/api/tasks", aliceCookie, "Authorization: Bearer "+h.token("bob")))
		if got := h.tasks.requests(); resp.status != 200 || len(got) != 1 || got[0].Header.Get("X-User-Id") != "bob" {
			t.Fatalf("bearer bob with alice's cookie: %d %+v", resp.status, got)
		}
		resp = h.do(t, req("GET", "/api/tasks", aliceCookie, "Authorization: Bearer not.a-valid.token"))
		if resp.status != 401 || !strings.HasSuffix(resp.problem(t)["type"].(string), ":invalid-token") {
			t.Fatalf("bad bearer with a good cookie: %d %s", resp.status, resp.body)
		}
		if n := len(tokenRequests(h)); n != 0 {
			t.Fatalf("%d exchanges with a bearer token present", n)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		h.auth.reset()
		resp := h.do(t, req("GET", "/api/tasks", "Cookie: better-auth.session_token=forged"))
		if resp.status != 401 || !strings.HasSuffix(resp.problem(t)["type"].(string), ":invalid-session") || resp.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("forged cookie: %d %v %s", resp.status, resp.header, resp.body)
		}
		resp = h.do(t, req("GET", "/api/tasks"))
		if resp.status != 401 || !strings.HasSuffix(resp.problem(t)["type"].(string), ":unauthenticated") {
			t.Fatalf("no credentials: %d %s", resp.status, resp.body)
		}
	})

	t.Run("cross-site changes", func(t *testing.T) {
		h.sessions.Store("s-carol", "carol") // not yet exchanged
		carol := "Cookie: better-auth.session_token=s-carol"
		h.auth.reset()
		h.tasks.reset()
		for _, r := range []string{
			reqWithBody("POST", "/api/tasks", `{"title":"planted"}`, carol, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example", "Content-Type: text/plain"),
			req("DELETE", "/api/tasks/t1", carol, "Origin: https://evil.example"),
			reqWithBody("PATCH", "/api/carol/tasks/t1", `{}`, carol, "Sec-Fetch-Site: same-site", "Origin: https://evil.gateway.test"),
		} {
			resp := h.do(t, r)
			if resp.status != 403 || !strings.HasSuffix(resp.problem(t)["type"].(string), ":cross-origin-cookie") {
				t.Errorf("%s: %d %s", requestLine(r), resp.status, resp.body)
			}
		}
		if n, m := len(tokenRequests(h)), len(h.tasks.requests()); n != 0 || m != 0 {
			t.Fatalf("cross-site changes cost %d exchanges and reached the tasks service %d times", n, m)
		}
		for _, r := range []string{
			reqWithBody("POST", "/api/tasks", `{"title":"mine"}`, carol, "Sec-Fetch-Site: same-origin", "Origin: http://gateway.test", "Content-Type: application/json"),
			reqWithBody("POST", "/api/tasks", `{"title":"mine"}`, carol, "Sec-Fetch-Site: same-site", "Origin: https://app.example.com", "Content-Type: application/json"),
			req("GET", "/api/tasks", carol, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"),
		} {
			if resp := h.do(t, r); resp.status != 200 {
				t.Errorf("%s: %d %s", requestLine(r), resp.status, resp.body)
			}
		}
	})

	t.Run("Better Auth down", func(t *testing.T) {
		h.sessions.Store("s-dave", "dave")
		h.auth.srv.Close()
		if resp := h.do(t, req("GET", "/api/tasks", aliceCookie)); resp.status != 200 {
			t.Fatalf("cached session while Better Auth is down: %d %s", resp.status, resp.body)
		}
		resp := h.do(t, req("GET", "/api/tasks", "Cookie: better-auth.session_token=s-dave"))
		if resp.status != 503 || resp.header.Get("Retry-After") == "" || !strings.HasSuffix(resp.problem(t)["type"].(string), ":not-ready") {
			t.Fatalf("new session while Better Auth is down: %d %v %s", resp.status, resp.header, resp.body)
		}
	})
}

// TestSessionModeOff: by default the session cookie is not a credential.
func TestSessionModeOff(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	h.sessions.Store("s-alice", "alice")
	resp := h.do(t, req("GET", "/api/tasks", "Cookie: better-auth.session_token=s-alice"))
	if resp.status != 401 || len(tokenRequests(h)) != 0 || len(h.tasks.requests()) != 0 {
		t.Fatalf("session cookie with SESSION_MODE off: %d, %d exchanges", resp.status, len(tokenRequests(h)))
	}
}

// TestSessionFailureBudget: sessions Better Auth refuses draw from the
// client address's failure budget, as refused bearer tokens do; past it, a
// session not in the cache is refused with 429 before any exchange, while a
// cached session of the same address keeps working.
func TestSessionFailureBudget(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	store, err := ratelimit.NewStore(ratelimit.Config{MaxKeys: 1000}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	failures := ratelimit.New("auth-failure", ratelimit.Rate{PerSecond: 0.001, Burst: 5}, store)
	h := startWith(t, map[string]string{"SESSION_MODE": "on"}, server.Hooks{Failures: failures}, log)
	h.waitReady(t)
	h.sessions.Store("s-alice", "alice")
	h.sessions.Store("s-bob", "bob")
	alice := "Cookie: better-auth.session_token=s-alice"
	if resp := h.do(t, req("GET", "/api/tasks", alice)); resp.status != 200 {
		t.Fatalf("alice: %d %s", resp.status, resp.body)
	}
	h.auth.reset()
	statuses := map[int]int{}
	for i := range 20 {
		resp := h.do(t, req("GET", "/api/tasks", "Cookie: better-auth.session_token=forged-"+itoa(i)))
		statuses[resp.status]++
		if resp.status == 429 && resp.header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %v", resp.header)
		}
	}
	if statuses[401] != 5 || statuses[429] != 15 {
		t.Fatalf("20 forged cookies: %v, want 5 × 401 then 15 × 429", statuses)
	}
	if n := len(tokenRequests(h)); n != 5 {
		t.Fatalf("20 forged cookies cost %d exchanges, want the budget of 5", n)
	}
	if resp := h.do(t, req("GET", "/api/tasks", alice)); resp.status != 200 {
		t.Fatalf("alice's cached session from the same address: %d %s", resp.status, resp.body)
	}
	if resp := h.do(t, req("GET", "/api/tasks", "Cookie: better-auth.session_token=s-bob")); resp.status != 429 {
		t.Fatalf("a session not in the cache from an address over its budget: %d", resp.status)
	}
}
