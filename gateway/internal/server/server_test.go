package server_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

func TestTasksRouteSignsWhatItSends(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	body := `{"title":"buy milk"}`
	resp := h.do(t, reqWithBody("POST", "/api/tasks?x=1&tag=a%20b", body, "Authorization: Bearer "+h.token("alice"), "Content-Type: application/json", "X-Request-ID: req-123"))
	if resp.status != 200 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got := h.tasks.requests()
	if len(got) != 1 {
		t.Fatalf("upstream saw %d requests", len(got))
	}
	s := got[0]
	if s.Target != "/api/tasks?x=1&tag=a%20b" || s.Body != body || s.Method != "POST" || s.VerifyErr != nil {
		t.Fatalf("upstream got %s %s %q verify=%v", s.Method, s.Target, s.Body, s.VerifyErr)
	}
	if s.Header.Get("X-Request-Id") != "req-123" || resp.header.Get("X-Request-Id") != "req-123" {
		t.Fatalf("request id not propagated: upstream %q, client %q", s.Header.Get("X-Request-Id"), resp.header.Get("X-Request-Id"))
	}
	if resp.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("security headers missing")
	}
	// Percent-encoded bytes travel as sent: no decoding, no re-encoding.
	h.tasks.reset()
	resp = h.do(t, req("DELETE", "/api/tasks/caf%C3%A9~x?q=%2F%3F&a=b+c", "Authorization: Bearer "+h.token("alice")))
	got = h.tasks.requests()
	if resp.status != 200 || len(got) != 1 || got[0].Target != "/api/tasks/caf%C3%A9~x?q=%2F%3F&a=b+c" || got[0].VerifyErr != nil {
		t.Fatalf("encoded target: %d %+v", resp.status, got)
	}
}

func TestCompatRoute(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	tok := "Authorization: Bearer " + h.token("alice")
	resp := h.do(t, reqWithBody("PATCH", "/api/alice/tasks/0d6b/complete?v=2", `{"completed":true}`, tok))
	if resp.status != 200 {
		t.Fatalf("own compat route: %d %s", resp.status, resp.body)
	}
	got := h.tasks.requests()
	if len(got) != 1 || got[0].Target != "/api/tasks/0d6b/complete?v=2" || got[0].VerifyErr != nil || got[0].Header.Get(identity.HeaderUserID) != "alice" {
		t.Fatalf("upstream got %+v", got)
	}
	resp = h.do(t, req("GET", "/api/bob/tasks", tok))
	if resp.status != 403 || len(h.tasks.requests()) != 1 {
		t.Fatalf("other user's compat route: %d, upstream saw %d", resp.status, len(h.tasks.requests()))
	}
	if p := resp.problem(t); p["status"] != float64(403) {
		t.Fatalf("problem %v", p)
	}
	// Without a token the answer is 401, not 403: identity comes first.
	if resp := h.do(t, req("GET", "/api/alice/tasks")); resp.status != 401 {
		t.Fatalf("compat route without token: %d", resp.status)
	}
}

// TestNotAForwardProxy sends absolute-form targets naming other hosts
// (RFC 9112 §3.2.2, what a client says to a forward proxy): the gateway
// must send them to its configured upstream, never to the named host.
func TestNotAForwardProxy(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	elsewhere := newRecorder(t, nil, nil) // the host the client names; must see nothing
	target := elsewhere.srv.URL
	resp := h.do(t, req("GET", target+"/api/auth/get-session?x=1"))
	got := h.auth.requests()
	if resp.status != 200 || len(got) != 1 || got[0].Target != "/api/auth/get-session?x=1" {
		t.Fatalf("auth route: %d, auth upstream saw %+v", resp.status, got)
	}
	resp = h.do(t, req("GET", target+"/api/tasks", "Authorization: Bearer "+h.token("alice")))
	if resp.status != 200 || len(h.tasks.requests()) != 1 {
		t.Fatalf("tasks route: %d %s", resp.status, resp.body)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("the host named in the request target got %d requests", n)
	}
}

func TestAuthPassthrough(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	body := `{"email":"a@example.com","password":"pw"}`
	resp := h.do(t, reqWithBody("POST", "/api/auth/sign-in/email?callbackURL=%2Fhome", body,
		"Cookie: better-auth.session_token=old; other=1", "Content-Type: application/json", "Authorization: Bearer opaque-session", "X-User-ID: bob"))
	if resp.status != 200 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	cookies := resp.header.Values("Set-Cookie")
	if len(cookies) != 2 || !strings.Contains(strings.Join(cookies, ";"), "session_token=tok123") || !strings.Contains(strings.Join(cookies, ";"), "session_data=data456") {
		t.Fatalf("Set-Cookie = %q, want both Better Auth cookies", cookies)
	}
	if resp.header.Get("Set-Auth-Jwt") != "header.payload.sig" {
		t.Fatal("set-auth-jwt header lost")
	}
	got := h.auth.requests()
	if len(got) != 1 {
		t.Fatalf("auth upstream saw %d requests", len(got))
	}
	s := got[0]
	if s.Target != "/api/auth/sign-in/email?callbackURL=%2Fhome" || s.Body != body ||
		s.Header.Get("Cookie") != "better-auth.session_token=old; other=1" || s.Header.Get("Authorization") != "Bearer opaque-session" {
		t.Fatalf("auth upstream got %s %q cookie=%q auth=%q", s.Target, s.Body, s.Header.Get("Cookie"), s.Header.Get("Authorization"))
	}
	if s.Header.Get("X-User-Id") != "" || s.Header.Get(identity.HeaderSignature) != "" {
		t.Fatal("identity headers reached Better Auth")
	}
	if len(h.tasks.requests()) != 0 {
		t.Fatal("auth request reached the tasks service")
	}
}

func TestUnauthenticated(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	resp := h.do(t, req("GET", "/api/tasks"))
	if resp.status != 401 || !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q", resp.status, resp.header.Get("WWW-Authenticate"))
	}
	resp.problem(t)
	other := testissuer.NewKey(jwa.EdDSA, "ba-key-1")
	resp = h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+testissuer.Mint(other, h.iss.Claims("alice", time.Now()))))
	wa := resp.header.Get("WWW-Authenticate")
	if resp.status != 401 || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "error_description=") {
		t.Fatalf("forged token: %d %q", resp.status, wa)
	}
	if p := resp.problem(t); p["type"] == "" || strings.Contains(resp.body, "jws") {
		t.Fatalf("problem leaks internals or lacks type: %s", resp.body)
	}
	if len(h.tasks.requests()) != 0 {
		t.Fatal("unauthenticated request reached the tasks service")
	}
}

func TestCookieTokenSource(t *testing.T) {
	h := start(t, map[string]string{"JWT_COOKIE_NAME": "gh_jwt"})
	h.waitReady(t)
	resp := h.do(t, req("GET", "/api/tasks", "Cookie: a=1; gh_jwt="+h.token("alice")))
	if resp.status != 200 || h.tasks.requests()[0].Header.Get("Cookie") != "" {
		t.Fatalf("cookie token: %d %s", resp.status, resp.body)
	}
}

// TestCookieTokenCrossSiteForgery tries what another site can make a
// victim's browser send with the token cookie attached: a form or a
// "simple" fetch POST, with the Sec-Fetch-Site and Origin a browser sets.
// None may reach the tasks service; the same requests from the gateway's
// own origin, from a frontend in CORS_ALLOWED_ORIGINS, from non-browser
// clients, or with the token in Authorization must.
func TestCookieTokenCrossSiteForgery(t *testing.T) {
	h := start(t, map[string]string{"JWT_COOKIE_NAME": "gh_jwt"})
	h.waitReady(t)
	cookie := "Cookie: gh_jwt=" + h.token("alice")
	body := `{"title":"planted"}`
	cases := []struct {
		name    string
		raw     string
		allowed bool
	}{
		{"cross-site form POST", reqWithBody("POST", "/api/tasks", body, cookie, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example", "Content-Type: text/plain"), false},
		{"cross-site fetch DELETE", req("DELETE", "/api/tasks/t1", cookie, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"), false},
		{"sibling subdomain (same-site) PATCH", reqWithBody("PATCH", "/api/tasks/t1", body, cookie, "Sec-Fetch-Site: same-site", "Origin: https://evil.gateway.test"), false},
		{"old browser: foreign Origin, no Sec-Fetch-Site", reqWithBody("POST", "/api/tasks", body, cookie, "Origin: https://evil.example"), false},
		{"Origin null (sandboxed frame, data: URL)", reqWithBody("POST", "/api/tasks", body, cookie, "Origin: null"), false},
		{"compat route from another site", reqWithBody("POST", "/api/alice/tasks", body, cookie, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"), false},
		{"unknown method from another site", req("PURGE", "/api/tasks", cookie, "Sec-Fetch-Site: cross-site"), false},
		{"same-origin POST", reqWithBody("POST", "/api/tasks", body, cookie, "Sec-Fetch-Site: same-origin", "Origin: http://gateway.test"), true},
		{"Origin matches Host, no Sec-Fetch-Site", reqWithBody("POST", "/api/tasks", body, cookie, "Origin: http://gateway.test"), true},
		{"trusted frontend (CORS_ALLOWED_ORIGINS)", reqWithBody("POST", "/api/tasks", body, cookie, "Sec-Fetch-Site: same-site", "Origin: https://app.example.com"), true},
		{"not a browser: neither header", reqWithBody("POST", "/api/tasks", body, cookie), true},
		{"cross-site GET (reads are guarded by CORS)", req("GET", "/api/tasks", cookie, "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"), true},
		{"bearer token from another site", reqWithBody("POST", "/api/tasks", body, "Authorization: Bearer "+h.token("alice"), "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.tasks.requests())
			resp := h.do(t, tc.raw)
			reached := len(h.tasks.requests()) > before
			if tc.allowed {
				if resp.status != 200 || !reached {
					t.Fatalf("refused: %d %s", resp.status, resp.body)
				}
				return
			}
			if reached {
				t.Fatalf("a forged request reached the tasks service (%d)", resp.status)
			}
			if resp.status == 403 {
				if p := resp.problem(t); !strings.HasSuffix(p["type"].(string), ":cross-origin-cookie") {
					t.Fatalf("403 of type %v", p["type"])
				}
			} else if resp.status < 400 {
				t.Fatalf("status %d", resp.status)
			}
		})
	}
}

func TestDeadAndSlowUpstreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	h := start(t, map[string]string{"TASKS_SERVICE_URL": dead})
	h.waitReady(t)
	resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice")))
	if resp.status != 502 {
		t.Fatalf("dead upstream: %d %s", resp.status, resp.body)
	}
	if p := resp.problem(t); strings.Contains(resp.body, "connection refused") || p["status"] != float64(502) {
		t.Fatalf("502 problem leaks or is wrong: %s", resp.body)
	}
	if ra := resp.header.Get("Retry-After"); ra != "1" {
		t.Fatalf("dead upstream: Retry-After %q, want 1 (a client retries a 502 after a second)", ra)
	}

	// A listener that accepts and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	h2 := start(t, map[string]string{"TASKS_SERVICE_URL": "http://" + hang.Addr().String(), "UPSTREAM_TIMEOUT": "300ms"})
	h2.waitReady(t)
	began := time.Now()
	resp = h2.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h2.token("alice")))
	if resp.status != 504 || time.Since(began) > 3*time.Second {
		t.Fatalf("hanging upstream: %d after %s", resp.status, time.Since(began))
	}
	resp.problem(t)
	if ra := resp.header.Get("Retry-After"); ra != "5" {
		t.Fatalf("hanging upstream: Retry-After %q, want 5", ra)
	}
}

func TestCORS(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	resp := h.do(t, req("OPTIONS", "/api/tasks", "Origin: https://app.example.com", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization,content-type"))
	if resp.status != 204 || resp.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", resp.status, resp.header)
	}
	resp = h.do(t, req("OPTIONS", "/api/tasks", "Origin: https://evil.example", "Access-Control-Request-Method: POST"))
	if resp.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from a foreign origin allowed: %v", resp.header)
	}
	resp = h.do(t, req("GET", "/api/tasks", "Origin: https://app.example.com", "Authorization: Bearer "+h.token("alice")))
	if resp.status != 200 || resp.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("proxied response lost CORS headers: %d %v", resp.status, resp.header)
	}
	if len(h.tasks.requests()) != 1 {
		t.Fatalf("preflights reached the upstream: %d requests", len(h.tasks.requests()))
	}
}

// TestCORSExposesWhatBetterAuthExposes: Better Auth lists set-auth-token
// (bearer plugin) and set-auth-jwt (jwt plugin) in its own
// Access-Control-Expose-Headers; a frontend in CORS_ALLOWED_ORIGINS must be
// able to read them through the gateway, next to what the gateway exposes.
// Better Auth's other Access-Control-* headers never pass, and a foreign
// origin gets no expose list at all (TestCORSOriginConfusion).
func TestCORSExposesWhatBetterAuthExposes(t *testing.T) {
	h := start(t, nil) // CORS_ALLOWED_ORIGINS=https://app.example.com
	h.waitReady(t)
	resp := h.do(t, reqWithBody("POST", "/api/auth/sign-in/email", `{}`, "Origin: https://app.example.com", "Content-Type: application/json"))
	exposed := listValues(resp.header, "Access-Control-Expose-Headers")
	for _, name := range []string{"set-auth-token", "set-auth-jwt", "etag", "www-authenticate"} {
		if !slices.Contains(exposed, name) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", resp.header.Values("Access-Control-Expose-Headers"), name)
		}
	}
	if len(exposed) != len(slices.Compact(slices.Sorted(slices.Values(exposed)))) {
		t.Errorf("Access-Control-Expose-Headers repeats a name: %q", resp.header.Values("Access-Control-Expose-Headers"))
	}
	if got := resp.header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q: the upstream's wildcard leaked", got)
	}
	if resp.header.Get("Set-Auth-Token") != "tok123.sig" {
		t.Errorf("Set-Auth-Token %q", resp.header.Get("Set-Auth-Token"))
	}

	// Without CORS the gateway grants nothing, and Better Auth cannot either.
	h2 := start(t, map[string]string{"CORS_ALLOWED_ORIGINS": ""})
	h2.waitReady(t)
	resp = h2.do(t, reqWithBody("POST", "/api/auth/sign-in/email", `{}`, "Origin: https://app.example.com", "Content-Type: application/json"))
	for name := range resp.header {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			t.Errorf("CORS disabled, yet %s: %q", name, resp.header.Values(name))
		}
	}
}

// TestCORSRequestHeaders: a preflight succeeds only when every header the
// page asks for is in Access-Control-Allow-Headers. W3C trace context
// (traceparent, tracestate, baggage) is allowed by default, as are the
// headers the API reads; CORS_ALLOWED_HEADERS replaces the extras.
func TestCORSRequestHeaders(t *testing.T) {
	preflight := func(h *harness, headers string) []string {
		t.Helper()
		resp := h.do(t, req("OPTIONS", "/api/tasks", "Origin: https://app.example.com", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: "+headers))
		if resp.status != 204 || resp.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("preflight: %d %v", resp.status, resp.header)
		}
		return listValues(resp.header, "Access-Control-Allow-Headers")
	}
	missing := func(allowed []string, names ...string) []string {
		var out []string
		for _, n := range names {
			if !slices.Contains(allowed, n) {
				out = append(out, n)
			}
		}
		return out
	}
	api := []string{"authorization", "content-type", "if-match", "if-none-match", "idempotency-key", "x-request-id"}
	trace := []string{"traceparent", "tracestate", "baggage"}

	h := start(t, nil)
	h.waitReady(t)
	allowed := preflight(h, "authorization,content-type,traceparent,tracestate,baggage")
	if m := missing(allowed, append(api, trace...)...); len(m) > 0 {
		t.Errorf("default: %v not allowed (allowed %v)", m, allowed)
	}
	if slices.Contains(allowed, "x-requested-with") {
		t.Errorf("default allows X-Requested-With: %v", allowed)
	}

	h2 := start(t, map[string]string{"CORS_ALLOWED_HEADERS": "X-Requested-With,traceparent"})
	h2.waitReady(t)
	allowed = preflight(h2, "x-requested-with,authorization")
	if m := missing(allowed, append(api, "x-requested-with", "traceparent")...); len(m) > 0 {
		t.Errorf("CORS_ALLOWED_HEADERS=X-Requested-With,traceparent: %v not allowed (allowed %v)", m, allowed)
	}
	if slices.Contains(allowed, "baggage") {
		t.Errorf("CORS_ALLOWED_HEADERS replaces the extras, yet baggage is allowed: %v", allowed)
	}
}

// listValues returns the comma-separated names of every name header,
// lower-cased.
func listValues(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, f := range strings.Split(v, ",") {
			if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestCORSOriginConfusion: origins an attacker's page can present that
// merely resemble the allowed one get no CORS header at all, preflight or
// not: no grant, so a browser never hands them a credentialed response, and
// not the policy either. The allowed origin's grants say Vary: Origin, so no
// shared cache serves one origin's grant to another.
func TestCORSOriginConfusion(t *testing.T) {
	h := start(t, nil) // CORS_ALLOWED_ORIGINS=https://app.example.com
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	for _, origin := range []string{
		"null", // sandboxed iframes, data: and file: documents
		"https://app.example.com.evil.example",
		"https://evilapp.example.com",
		"https://sub.app.example.com",
		"https://app.example.co",
		"http://app.example.com",
		"https://app.example.com:8443",
		"https://app.example.com/",
		"https://app.example.com, https://evil.example",
		"https://app.example.com%2f.evil.example",
		"*",
	} {
		t.Run(origin, func(t *testing.T) {
			for _, r := range []string{
				req("OPTIONS", "/api/tasks", "Origin: "+origin, "Access-Control-Request-Method: DELETE", "Access-Control-Request-Headers: authorization"),
				req("GET", "/api/tasks", "Origin: "+origin, bearer),
				req("POST", "/api/auth/sign-in/email", "Origin: "+origin),
			} {
				resp := h.do(t, r)
				for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers"} {
					if v := resp.header.Get(name); v != "" {
						t.Errorf("%s: %d with %s: %q", requestLine(r), resp.status, name, v)
					}
				}
			}
		})
	}
	for _, r := range []string{
		req("OPTIONS", "/api/tasks", "Origin: https://app.example.com", "Access-Control-Request-Method: DELETE"),
		req("GET", "/api/tasks", "Origin: https://app.example.com", bearer),
	} {
		resp := h.do(t, r)
		if resp.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !slices.Contains(varies(resp.header), "origin") {
			t.Errorf("%s from the allowed origin: %d %v", requestLine(r), resp.status, resp.header)
		}
		// Max-Age is a preflight's; ETag and Location are for scripts.
		preflight := strings.HasPrefix(r, "OPTIONS")
		if (resp.header.Get("Access-Control-Max-Age") != "") != preflight || !strings.Contains(resp.header.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Errorf("%s from the allowed origin: %v", requestLine(r), resp.header)
		}
	}
}

// varies returns the field names of every Vary header, lower-cased.
func varies(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			names = append(names, strings.ToLower(strings.TrimSpace(f)))
		}
	}
	return names
}

func TestJWKSOutageAndRotation(t *testing.T) {
	h := start(t, map[string]string{"JWKS_MIN_REFRESH_INTERVAL": "300ms"})
	h.waitReady(t)
	h.iss.SetDown(true)

	// Outage: Better Auth down. An unknown kid forces a refetch that fails:
	// the kid may have been published since, so the answer is 503 with
	// Retry-After, not a 401 that tells the client its token is bad. A
	// token never seen before, signed by a known key, still works.
	stranger := testissuer.NewKey(jwa.EdDSA, "unknown-kid")
	if resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+testissuer.Mint(stranger, h.iss.Claims("x", time.Now())))); resp.status != 503 ||
		resp.header.Get("Retry-After") != "5" || resp.problem(t)["type"] != problem.TypePrefix+"not-ready" {
		t.Fatalf("unknown kid during outage: %d %v %s", resp.status, resp.header, resp.body)
	}
	resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("erin-never-seen")))
	if resp.status != 200 {
		t.Fatalf("during JWKS outage: %d %s", resp.status, resp.body)
	}
	h.iss.SetDown(false)

	// Rotation, once the minimum refetch interval has passed: a new key appears; its first token triggers a refetch.
	rotated := testissuer.NewKey(jwa.ES256, "ba-key-2")
	h.iss.SetKeys(h.key, rotated)
	time.Sleep(350 * time.Millisecond)
	resp = h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+testissuer.Mint(rotated, h.iss.Claims("dave", time.Now()))))
	if resp.status != 200 || h.tasks.requests()[1].Header.Get(identity.HeaderUserID) != "dave" {
		t.Fatalf("rotated key: %d %s", resp.status, resp.body)
	}
}

func TestNotReadyBeforeFirstFetch(t *testing.T) {
	down := testissuer.Start(testissuer.NewKey(jwa.EdDSA, "x"))
	down.SetDown(true)
	defer down.Close()
	h := start(t, map[string]string{"JWKS_URL": down.JWKSURL()})
	time.Sleep(100 * time.Millisecond)
	if resp := h.do(t, req("GET", "/healthz")); resp.status != 200 {
		t.Fatalf("healthz: %d", resp.status)
	}
	if resp := h.do(t, req("GET", "/readyz")); resp.status != 503 {
		t.Fatalf("readyz before keys: %d", resp.status)
	}
	resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice")))
	if resp.status != 503 || resp.header.Get("Retry-After") == "" {
		t.Fatalf("request before keys: %d %v", resp.status, resp.header)
	}
	down.SetDown(false)
	h.waitReady(t)
}

func TestErrorsAreProblems(t *testing.T) {
	h := start(t, map[string]string{"BODY_LIMIT": "2048"})
	h.waitReady(t)
	resp := h.do(t, req("GET", "/nowhere"))
	if resp.status != 404 {
		t.Fatalf("unknown route: %d", resp.status)
	}
	resp.problem(t)
	resp = h.do(t, reqWithBody("POST", "/api/tasks", strings.Repeat("x", 4096), "Authorization: Bearer "+h.token("alice")))
	if resp.status != 413 {
		t.Fatalf("oversized body: %d", resp.status)
	}
	resp.problem(t)
	resp = h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+strings.Repeat("a", 9000)+".b.c"))
	if resp.status != 401 || !strings.Contains(resp.header.Get("WWW-Authenticate"), "larger than allowed") {
		t.Fatalf("oversized token: %d %q", resp.status, resp.header.Get("WWW-Authenticate"))
	}
	resp = h.do(t, req("GET", "/api/tasks", "X-Padding: "+strings.Repeat("p", 64<<10)))
	if resp.status != 431 {
		t.Fatalf("oversized headers: %d", resp.status)
	}
	resp.problem(t)
	resp = h.do(t, req("GET", "/metrics"))
	if resp.status != 404 {
		t.Fatalf("public /metrics without METRICS_ADDR: %d, want 404", resp.status)
	}
	resp.problem(t)
}

func TestGracefulShutdownDrains(t *testing.T) {
	h := start(t, nil)
	h.tasks.handle = func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		_, _ = w.Write([]byte(`{"slow":true}`))
	}
	h.waitReady(t)
	done := make(chan response, 1)
	go func() { done <- h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice"))) }()
	time.Sleep(100 * time.Millisecond)
	h.cancel() // what SIGTERM does in main
	select {
	case resp := <-done:
		if resp.status != 200 || !strings.Contains(resp.body, "slow") {
			t.Fatalf("in-flight request: %d %s", resp.status, resp.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request never finished")
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after drain")
	}
	if _, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// TestClientTimeouts checks the server-side deadlines (fasthttp's
// ReadTimeout and IdleTimeout): a client trickling its headers (slowloris) is cut off
// after READ_TIMEOUT, an idle keep-alive connection after IDLE_TIMEOUT, and
// a connection in steady use is never cut off.
func TestClientTimeouts(t *testing.T) {
	h := start(t, map[string]string{"READ_TIMEOUT": "300ms", "IDLE_TIMEOUT": "600ms"})
	h.waitReady(t)
	closedAfter := func(c net.Conn) time.Duration {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := c.Read(make([]byte, 4096)); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("the gateway never closed the connection")
				}
				return time.Since(start)
			}
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	slow := dial()
	if _, err := io.WriteString(slow, "GET /api/tasks HTTP/1.1\r\nHost: gw\r\n"); err != nil {
		t.Fatal(err)
	}
	if d := closedAfter(slow); d < 250*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("slowloris connection closed after %s, want about READ_TIMEOUT (300ms)", d)
	}

	idle := dial()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if d := closedAfter(idle); d < 500*time.Millisecond || d > 2*time.Second {
		t.Fatalf("idle connection closed after %s, want about IDLE_TIMEOUT (600ms)", d)
	}

	// 12 requests 100 ms apart: 1.2 s in all, well past both timeouts.
	busy := dial()
	br = bufio.NewReader(busy)
	for i := range 12 {
		if _, err := io.WriteString(busy, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d on a busy connection: %v %v", i, resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCloseWithoutRun checks that a gateway that is built but never run
// (as BenchmarkHandler uses it) stops its key refresher on Close.
func TestCloseWithoutRun(t *testing.T) {
	cfg, err := config.Load(settings.MapEnv(map[string]string{
		"BETTER_AUTH_URL":   "http://127.0.0.1:1",
		"TASKS_SERVICE_URL": "http://127.0.0.1:1",
		"IDENTITY_KEYS":     "k1:" + randomKey(t),
	}))
	if err != nil {
		t.Fatal(err)
	}
	g, err := server.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), server.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.Stopped():
		t.Fatal("stopped before Close")
	default:
	}
	g.Close()
	g.Close() // harmless
	select {
	case <-g.Stopped():
	default:
		t.Fatal("still running after Close")
	}
}

// TestRunOpensMetricsAddr: Run listens on METRICS_ADDR itself and serves
// /metrics there; a METRICS_ADDR already taken stops the start with an
// error naming the variable, and the gateway's own listener is closed.
func TestRunOpensMetricsAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	gateway := func(metricsAddr string) (*server.Gateway, net.Listener) {
		cfg, err := config.Load(settings.MapEnv(map[string]string{
			"BETTER_AUTH_URL":   "http://127.0.0.1:1",
			"TASKS_SERVICE_URL": "http://127.0.0.1:1",
			"IDENTITY_KEYS":     "k1:" + randomKey(t),
			"METRICS_ADDR":      metricsAddr,
			"LOG_LEVEL":         "error",
		}))
		if err != nil {
			t.Fatal(err)
		}
		g, err := server.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), server.Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return g, ln
	}

	g, ln := gateway(taken.Addr().String())
	err = g.Run(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("Run with a taken METRICS_ADDR: %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the gateway's listener is still open after Run failed")
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	g, ln = gateway(addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	var resp response
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			resp = doAt(t, addr, req("GET", "/metrics"))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing listens on METRICS_ADDR")
		}
	}
	if resp.status != 200 || !strings.Contains(resp.body, "go_goroutines") {
		t.Errorf("METRICS_ADDR /metrics: %d %.200s", resp.status, resp.body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}
