package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tokenCounter is a reverse proxy in front of Better Auth that counts the
// gateway's session exchanges (GET /api/auth/token) and passes everything
// through unchanged.
type tokenCounter struct {
	srv   *httptest.Server
	calls atomic.Int64
}

func newTokenCounter(t *testing.T) (*tokenCounter, func(authURL string) string) {
	tc := &tokenCounter{}
	return tc, func(authURL string) string {
		target, err := url.Parse(authURL)
		if err != nil {
			t.Fatal(err)
		}
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.ErrorLog = log.New(io.Discard, "", 0) // Better Auth stopped: 502s are expected
		tc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/auth/token" {
				tc.calls.Add(1)
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(tc.srv.Close)
		return tc.srv.URL
	}
}

// sessionCookie is the value of the Better Auth session cookie c holds for
// the gateway.
func sessionCookie(t *testing.T, c *client) string {
	t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "better-auth.session_token" {
			return ck.Value
		}
	}
	t.Fatal("no better-auth.session_token cookie after sign-up")
	return ""
}

// forgedSessionCookie looks like Better Auth's: 32 alphanumerics, a dot and
// a URL-encoded base64 HMAC, signed with nothing.
func forgedSessionCookie(t *testing.T) string {
	t.Helper()
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	for range 32 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alnum[n.Int64()])
	}
	mac := make([]byte, 32)
	_, _ = rand.Read(mac)
	return b.String() + "." + url.QueryEscape(base64.StdEncoding.EncodeToString(mac))
}

// withCookie returns a client without a jar that sends the session cookie
// value v, and nothing else of a browser's.
func withCookie(t *testing.T, base, v string) func(method, path string, body any, headers ...string) response {
	c := newClient(t, base, false)
	return func(method, path string, body any, headers ...string) response {
		return c.do(method, path, body, append(headers, "Cookie", "better-auth.session_token="+v)...)
	}
}

// TestSessionMode drives session mode against the real Better Auth: a
// browser-like client signs up through the gateway and uses the tasks API
// with its session cookie alone; a sign-out from another client is refused
// within SESSION_CACHE_TTL; a forged cookie is 401; 200 distinct forged
// cookies cost Better Auth a bounded number of exchanges (counted by a
// proxy in front of it); with Better Auth stopped, a cached session works
// and a new one gets 503 with Retry-After.
func TestSessionMode(t *testing.T) {
	const ttl = 4 * time.Second
	counter, upstream := newTokenCounter(t)
	s := startStack(t, stackConfig{alg: "EdDSA", authUpstream: upstream, gatewayEnv: []string{
		"SESSION_MODE=on",
		"SESSION_CACHE_TTL=" + ttl.String(),
		"SESSION_EXCHANGE_RPS=1", "SESSION_EXCHANGE_BURST=20",
		// This test counts the session exchange budget alone; the failure
		// budget per address is TestSessionFailureBudget's (gateway module).
		"RATE_LIMIT_AUTH_FAILURE_RPS=0",
	}})

	t.Run("set-auth-token is readable by an allowed origin", func(t *testing.T) {
		u := signUp(t, s.gatewayURL, "Erin", false)
		r := expect(t, "sign in", newClient(t, s.gatewayURL, false).do("POST", "/api/auth/sign-in/email",
			map[string]string{"email": u.email, "password": u.password}, "Origin", trustedOrigin), http.StatusOK)
		var exposed []string
		for _, v := range r.header.Values("Access-Control-Expose-Headers") {
			for _, f := range strings.Split(v, ",") {
				exposed = append(exposed, strings.ToLower(strings.TrimSpace(f)))
			}
		}
		if r.header.Get("Set-Auth-Token") == "" || !slices.Contains(exposed, "set-auth-token") || r.header.Get("Access-Control-Allow-Origin") != trustedOrigin {
			t.Fatalf("sign-in from %s: set-auth-token %q, Access-Control-Expose-Headers %q, Allow-Origin %q",
				trustedOrigin, r.header.Get("Set-Auth-Token"), exposed, r.header.Get("Access-Control-Allow-Origin"))
		}
	})

	alice := signUp(t, s.gatewayURL, "Alice", true) // a browser: its cookie jar holds Better Auth's cookie
	aliceCookie := sessionCookie(t, alice.session)

	t.Run("tasks with the cookie alone", func(t *testing.T) {
		before := counter.calls.Load()
		var created task
		expect(t, "create", alice.session.do("POST", "/api/tasks", map[string]string{"title": "from the cookie"}), http.StatusCreated).json(t, &created)
		if created.UserID != alice.id {
			t.Fatalf("task of %q, want %q", created.UserID, alice.id)
		}
		var list taskList
		expect(t, "list", alice.session.do("GET", "/api/tasks", nil), http.StatusOK).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID != created.ID {
			t.Fatalf("list %v", ids(list.Items))
		}
		if n := counter.calls.Load() - before; n != 1 {
			t.Fatalf("two requests cost %d exchanges, want 1 (cached)", n)
		}
		// A cross-site change with the cookie attached is refused.
		p := expectProblem(t, "cross-site POST", alice.session.do("POST", "/api/tasks", map[string]string{"title": "planted"},
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		if !strings.HasSuffix(p.Type, ":cross-origin-cookie") {
			t.Fatalf("cross-site POST: %+v", p)
		}
	})

	t.Run("a forged cookie", func(t *testing.T) {
		forged := withCookie(t, s.gatewayURL, forgedSessionCookie(t))
		before := counter.calls.Load()
		for range 10 {
			p := expectProblem(t, "forged cookie", forged("GET", "/api/tasks", nil), http.StatusUnauthorized)
			if !strings.HasSuffix(p.Type, ":invalid-session") {
				t.Fatalf("forged cookie: %+v", p)
			}
		}
		if n := counter.calls.Load() - before; n != 1 {
			t.Fatalf("one forged cookie sent 10 times cost %d exchanges, want 1 (the refusal is cached)", n)
		}
	})

	t.Run("sign-out from another client is refused within the lifetime", func(t *testing.T) {
		otherTab := withCookie(t, s.gatewayURL, aliceCookie)
		expect(t, "sign out", otherTab("POST", "/api/auth/sign-out", map[string]string{}, "Origin", trustedOrigin), http.StatusOK)
		signedOut := time.Now()
		for {
			r := alice.session.do("GET", "/api/tasks", nil)
			if r.status == http.StatusUnauthorized {
				p := expectProblem(t, "after sign-out", r, http.StatusUnauthorized)
				if !strings.HasSuffix(p.Type, ":invalid-session") {
					t.Fatalf("after sign-out: %+v", p)
				}
				break
			}
			expect(t, "before the entry expires", r, http.StatusOK)
			if time.Since(signedOut) > ttl+time.Second {
				t.Fatalf("still accepted %s after sign-out (SESSION_CACHE_TTL %s)", time.Since(signedOut).Round(time.Millisecond), ttl)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("refused %s after sign-out", time.Since(signedOut).Round(time.Millisecond))
	})

	t.Run("200 distinct forged cookies cost a bounded number of exchanges", func(t *testing.T) {
		time.Sleep(2 * time.Second) // let the exchange budget refill a little: the bound below includes it
		before := counter.calls.Load()
		began := time.Now()
		statuses := map[int]int{}
		for range 200 {
			r := withCookie(t, s.gatewayURL, forgedSessionCookie(t))("GET", "/api/tasks", nil)
			statuses[r.status]++
		}
		n := counter.calls.Load() - before
		bound := int64(20 + time.Since(began).Seconds() + 1) // the burst plus 1/s while the flood lasts
		t.Logf("200 forged cookies: %v, %d exchanges in %s", statuses, n, time.Since(began).Round(time.Millisecond))
		if n > bound || statuses[http.StatusUnauthorized]+statuses[http.StatusServiceUnavailable] != 200 {
			t.Fatalf("200 forged cookies: %v and %d exchanges at Better Auth, want at most %d", statuses, n, bound)
		}
	})

	t.Run("Better Auth stopped", func(t *testing.T) {
		time.Sleep(3 * time.Second) // budget for the two exchanges below
		dave := signUp(t, s.gatewayURL, "Dave", true)
		carol := signUp(t, s.gatewayURL, "Carol", true) // signed in, never used on the API
		expect(t, "dave before the outage", dave.session.do("GET", "/api/tasks", nil), http.StatusOK)
		cached := time.Now()
		s.stopBetterAuth()
		if time.Since(cached) > ttl-time.Second {
			t.Fatalf("stopping Better Auth took %s, too long to test the cached entry", time.Since(cached))
		}
		expect(t, "dave's cached session during the outage", dave.session.do("GET", "/api/tasks", nil), http.StatusOK)
		r := carol.session.do("GET", "/api/tasks", nil)
		p := expectProblem(t, "carol's new session during the outage", r, http.StatusServiceUnavailable)
		if !strings.HasSuffix(p.Type, ":not-ready") || r.header.Get("Retry-After") == "" {
			t.Fatalf("new session during the outage: %+v, Retry-After %q", p, r.header.Get("Retry-After"))
		}
	})
}
