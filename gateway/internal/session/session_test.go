package session

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/valyala/fasthttp"
)

const issuer = "https://auth.test"

// staticKeys is a KeySource holding one key.
type staticKeys map[string]jwks.Key

func (s staticKeys) Key(_ context.Context, kid string) (jwks.Key, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return jwks.Key{}, jwks.ErrUnknownKey
}

// clock is a settable clock for the exchanger and the verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// betterAuth stands in for Better Auth's GET /api/auth/token: a session
// cookie it knows gets {"token": <JWT for its user>}, any other 401. The
// gateway side under test is real: the Exchanger and authn's verifier.
type betterAuth struct {
	srv   *httptest.Server
	key   testissuer.Key
	clock *clock
	// ttl is the lifetime of the JWTs it issues.
	ttl      time.Duration
	calls    atomic.Int64
	conns    atomic.Int64 // connections accepted
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	// gate, when set, holds every answer until it is closed.
	gate     chan struct{}
	mu       sync.Mutex
	sessions map[string]string // cookie value → user id
	status   int               // when not 0, every answer has this status
	lastReq  *http.Request
}

func newBetterAuth(t *testing.T, c *clock) *betterAuth {
	t.Helper()
	ba := &betterAuth{key: testissuer.NewKey(jwa.EdDSA, "k1"), clock: c, ttl: 15 * time.Minute, sessions: map[string]string{}}
	ba.srv = httptest.NewUnstartedServer(http.HandlerFunc(ba.serve))
	ba.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ba.conns.Add(1)
		}
	}
	ba.srv.Start()
	t.Cleanup(ba.srv.Close)
	return ba
}

func (ba *betterAuth) serve(w http.ResponseWriter, r *http.Request) {
	ba.calls.Add(1)
	n := ba.inFlight.Add(1)
	defer ba.inFlight.Add(-1)
	for {
		m := ba.maxSeen.Load()
		if n <= m || ba.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	ba.mu.Lock()
	gate, status := ba.gate, ba.status
	ba.lastReq = r.Clone(context.Background())
	ba.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/api/auth/token" {
		http.NotFound(w, r)
		return
	}
	ck, err := r.Cookie("better-auth.session_token")
	ba.mu.Lock()
	sub, ok := "", false
	if err == nil {
		sub, ok = ba.sessions[ck.Value]
	}
	ba.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	now := ba.clock.Now()
	tok := testissuer.Mint(ba.key, map[string]any{"sub": sub, "iss": issuer, "aud": issuer, "iat": now.Unix(), "exp": now.Add(ba.ttl).Unix()})
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token":%q}`, tok)
}

func (ba *betterAuth) signIn(value, sub string) {
	ba.mu.Lock()
	ba.sessions[value] = sub
	ba.mu.Unlock()
}

func (ba *betterAuth) signOut(value string) {
	ba.mu.Lock()
	delete(ba.sessions, value)
	ba.mu.Unlock()
}

func (ba *betterAuth) set(f func(ba *betterAuth)) {
	ba.mu.Lock()
	f(ba)
	ba.mu.Unlock()
}

// testSettings are small, fast defaults for tests.
func testSettings() Settings {
	return Settings{Enabled: true, CookieNames: []string{"__Secure-better-auth.session_token", "better-auth.session_token"},
		CacheTTL: 30 * time.Second, CacheSize: 100, Timeout: 2 * time.Second, RPS: 1000, Burst: 1000, Concurrency: 16}
}

// newExchanger returns an Exchanger in front of ba with the real verifier.
// Each option may change the Config before New.
func newExchanger(t *testing.T, ba *betterAuth, s Settings, url string, options ...func(*Config)) *Exchanger {
	t.Helper()
	a, err := authn.New(authn.Config{
		Keys:     staticKeys{"k1": {ID: "k1", Alg: jwa.EdDSA, Public: ba.key.Private.(ed25519.PrivateKey).Public()}},
		Issuer:   issuer,
		Audience: issuer,
		Now:      ba.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if url == "" {
		url = ba.srv.URL + "/api/auth/token"
	}
	cfg := Config{Settings: s, TokenURL: url, Verify: a.VerifyAt, Now: ba.clock.Now}
	for _, o := range options {
		o(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func cookie(v string) Cookie { return Cookie{Name: "better-auth.session_token", Value: []byte(v)} }

func setup(t *testing.T, s Settings) (*betterAuth, *Exchanger, *clock) {
	t.Helper()
	c := &clock{now: time.Now()}
	ba := newBetterAuth(t, c)
	return ba, newExchanger(t, ba, s, ""), c
}

func (e *Exchanger) authNow(v string) (*authn.Principal, error) {
	return e.Authenticate(context.Background(), cookie(v), "", e.cfg.Now())
}

// TestSessionLifetime: an exchanged session is served from the cache for
// SESSION_CACHE_TTL; a sign-out at Better Auth takes effect when the entry
// expires, and from then on the refusal is cached too.
func TestSessionLifetime(t *testing.T) {
	ba, e, c := setup(t, testSettings())
	ba.signIn("s1", "alice")
	for i := range 3 {
		p, err := e.authNow("s1")
		if err != nil || p.Subject != "alice" {
			t.Fatalf("request %d: %v %v", i, p, err)
		}
	}
	if n := ba.calls.Load(); n != 1 {
		t.Fatalf("3 requests in the lifetime cost %d exchanges, want 1", n)
	}
	ba.signOut("s1")
	c.Add(29 * time.Second)
	if _, err := e.authNow("s1"); err != nil {
		t.Fatalf("within the lifetime after sign-out: %v (cached, want accepted)", err)
	}
	c.Add(time.Second)
	if _, err := e.authNow("s1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("after the lifetime: %v, want ErrRefused", err)
	}
	if _, err := e.authNow("s1"); !errors.Is(err, ErrRefused) || ba.calls.Load() != 2 {
		t.Fatalf("refusal not cached: %v after %d exchanges", err, ba.calls.Load())
	}
}

// TestSessionExpiryOfJWT: an entry never outlives the JWT it came from.
func TestSessionExpiryOfJWT(t *testing.T) {
	ba, e, c := setup(t, testSettings())
	ba.ttl = 5 * time.Second // JWTs shorter-lived than SESSION_CACHE_TTL (30 s)
	ba.signIn("s1", "alice")
	if _, err := e.authNow("s1"); err != nil {
		t.Fatal(err)
	}
	c.Add(4 * time.Second)
	if _, err := e.authNow("s1"); err != nil || ba.calls.Load() != 1 {
		t.Fatalf("before exp: %v, %d exchanges", err, ba.calls.Load())
	}
	c.Add(time.Second) // exp reached, 25 s before the cache lifetime ends
	if _, err := e.authNow("s1"); err != nil || ba.calls.Load() != 2 {
		t.Fatalf("at exp: %v, %d exchanges; want a fresh exchange", err, ba.calls.Load())
	}
}

// TestSessionSingleFlight: 50 concurrent requests of one unknown session
// cost one exchange and all get its answer.
func TestSessionSingleFlight(t *testing.T) {
	ba, e, _ := setup(t, testSettings())
	ba.signIn("s1", "alice")
	gate := make(chan struct{})
	ba.set(func(ba *betterAuth) { ba.gate = gate })
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.authNow("s1")
			if err == nil && p.Subject != "alice" {
				err = fmt.Errorf("subject %q", p.Subject)
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for ba.inFlight.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other 49 reach the flight
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ba.calls.Load(); n != 1 {
		t.Fatalf("50 concurrent requests of one session cost %d exchanges, want 1", n)
	}
}

// TestSessionCacheKeyedByHash: the cache and the flights know a session
// by SHA-256 of its cookie only; nothing of the token is kept.
func TestSessionCacheKeyedByHash(t *testing.T) {
	ba, e, _ := setup(t, testSettings())
	token := "Zx9rSessionTokenOfAlice.SIGNATURE%3D"
	ba.signIn(token, "alice")
	if _, err := e.authNow(token); err != nil {
		t.Fatal(err)
	}
	keys := e.cache.ok.Keys()
	want := sha256.Sum256([]byte("better-auth.session_token\x00" + token))
	if len(keys) != 1 || keys[0] != key(want) {
		t.Fatalf("cache keys %x, want SHA-256 of name and value %x", keys, want)
	}
	en, _ := e.cache.ok.Peek(keys[0])
	if strings.Contains(fmt.Sprintf("%+v", *en.p), "Zx9r") {
		t.Fatalf("the cached entry holds the token: %+v", *en.p)
	}
	// The same value under the other cookie name is another key.
	if keyOf(Cookie{Name: "__Secure-better-auth.session_token", Value: []byte(token)}) == keys[0] {
		t.Fatal("the cookie name is not part of the key")
	}
}

// TestSessionCacheBounded: at most SESSION_CACHE_SIZE sessions and as many
// refusals are held, least recently used first out, and refusals (which
// anyone can cause) never push a session out.
func TestSessionCacheBounded(t *testing.T) {
	s := testSettings()
	s.CacheSize = 100
	s.Burst = 10_000
	ba, e, _ := setup(t, s)
	for i := range 250 {
		v := fmt.Sprintf("s%d", i)
		ba.signIn(v, fmt.Sprintf("u%d", i))
		if _, err := e.authNow(v); err != nil {
			t.Fatal(err)
		}
	}
	if ok, refused := e.cache.len(); ok != 100 || refused != 0 {
		t.Fatalf("after 250 sessions: %d cached, %d refusals; want 100, 0", ok, refused)
	}
	for i := range 1000 {
		if _, err := e.authNow(fmt.Sprintf("forged%d", i)); !errors.Is(err, ErrRefused) {
			t.Fatalf("forged: %v", err)
		}
	}
	if ok, refused := e.cache.len(); ok != 100 || refused != 100 {
		t.Fatalf("after 1000 forged cookies: %d cached, %d refusals; want 100, 100", ok, refused)
	}
	before := ba.calls.Load()
	for i := 150; i < 250; i++ { // the 100 most recent sessions are all still cached
		if _, err := e.authNow(fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ba.calls.Load() - before; n != 0 {
		t.Fatalf("forged cookies evicted %d sessions", n)
	}
}

// TestSessionIdleConnectionsRetired: a connection to Better Auth idle for
// longer than IdleTimeout (UPSTREAM_IDLE_TIMEOUT) is not reused, so the
// exchange never races Node's keep-alive timeout; a shorter gap reuses it.
func TestSessionIdleConnectionsRetired(t *testing.T) {
	for _, tc := range []struct {
		idle      time.Duration
		wantConns int64
	}{
		{idle: 100 * time.Millisecond, wantConns: 2},
		{idle: time.Minute, wantConns: 1},
	} {
		t.Run(tc.idle.String(), func(t *testing.T) {
			c := &clock{now: time.Now()}
			ba := newBetterAuth(t, c)
			e := newExchanger(t, ba, testSettings(), "", func(cfg *Config) { cfg.IdleTimeout = tc.idle })
			ba.signIn("s1", "alice")
			ba.signIn("s2", "bob")
			if _, err := e.authNow("s1"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(400 * time.Millisecond) // longer than the short idle timeout
			if _, err := e.authNow("s2"); err != nil {
				t.Fatal(err)
			}
			if n := ba.conns.Load(); n != tc.wantConns {
				t.Fatalf("idle timeout %v: Better Auth accepted %d connections for two exchanges 400ms apart, want %d", tc.idle, n, tc.wantConns)
			}
		})
	}
}

// TestSessionOutage: while Better Auth fails or is unreachable, cached
// sessions keep working until their entry expires; others are
// ErrUnavailable, which is never cached.
func TestSessionOutage(t *testing.T) {
	ba, e, c := setup(t, testSettings())
	ba.signIn("cached", "alice")
	ba.signIn("new", "bob")
	if _, err := e.authNow("cached"); err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{http.StatusBadGateway, http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusNotFound} {
		ba.set(func(ba *betterAuth) { ba.status = status })
		if _, err := e.authNow("cached"); err != nil {
			t.Fatalf("Better Auth answering %d: cached session %v", status, err)
		}
		if _, err := e.authNow("new"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Better Auth answering %d: new session %v, want ErrUnavailable", status, err)
		}
	}
	ba.srv.Close() // unreachable
	if _, err := e.authNow("new"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Better Auth unreachable: %v", err)
	}
	c.Add(30 * time.Second)
	if _, err := e.authNow("cached"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("expired entry while Better Auth is down: %v, want ErrUnavailable", err)
	}
}

// TestSessionExchangeBudget: cookies no one has seen cost at most the
// burst of the exchange budget; the rest are refused without a call.
func TestSessionExchangeBudget(t *testing.T) {
	s := testSettings()
	s.RPS, s.Burst = 1, 20
	ba, e, _ := setup(t, s)
	unavailable := 0
	for i := range 200 {
		_, err := e.authNow(fmt.Sprintf("forged%d", i))
		if errors.Is(err, ErrUnavailable) {
			unavailable++
		} else if !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
	}
	// One more token may accrue while the loop runs (1 per second).
	if n := ba.calls.Load(); n < 20 || n > 22 {
		t.Fatalf("200 forged cookies cost %d exchanges, want the burst of 20", n)
	}
	if unavailable < 178 {
		t.Fatalf("%d refused for the budget", unavailable)
	}
}

// TestSessionConcurrencyCap: exchanges in flight never exceed
// SESSION_EXCHANGE_CONCURRENCY; the others wait for a slot.
func TestSessionConcurrencyCap(t *testing.T) {
	s := testSettings()
	s.Concurrency = 3
	ba, e, _ := setup(t, s)
	gate := make(chan struct{})
	ba.set(func(ba *betterAuth) { ba.gate = gate })
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		sub := fmt.Sprintf("u%d", i)
		ba.signIn(sub, sub)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.authNow(sub)
			if err == nil && p.Subject != sub {
				err = fmt.Errorf("subject %q, want %q", p.Subject, sub)
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for ba.inFlight.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // time for a fourth to get through, were there no cap
	if n, m := ba.calls.Load(), ba.inFlight.Load(); n != 3 || m != 3 {
		t.Errorf("20 sessions at once: %d exchanges sent, %d in flight; want the cap of 3", n, m)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m, n := ba.maxSeen.Load(), ba.calls.Load(); m != 3 || n != 20 {
		t.Fatalf("%d exchanges in flight at most, %d in all; want 3 and 20", m, n)
	}
}

// TestSessionExchangeBounds: Better Auth's answer is read up to a bound, a
// hanging Better Auth costs the timeout, and a redirect is not followed.
func TestSessionExchangeBounds(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect was followed to %s", r.URL)
	}))
	defer elsewhere.Close()
	cases := []struct {
		name   string
		handle http.HandlerFunc
	}{
		{"oversized answer", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"token":"`+strings.Repeat("a", 70<<10)+`"}`)
		}},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/api/auth/token", http.StatusFound)
		}},
		{"no token", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"token":""}`) }},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `<html>`) }},
		{"hangs", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handle)
			defer srv.Close()
			s := testSettings()
			s.Timeout = 300 * time.Millisecond
			c := &clock{now: time.Now()}
			e := newExchanger(t, newBetterAuth(t, c), s, srv.URL+"/api/auth/token")
			began := time.Now()
			if _, err := e.authNow("s1"); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
			if d := time.Since(began); d > 2*time.Second {
				t.Fatalf("took %s with a 300ms timeout", d)
			}
		})
	}
}

// TestSessionJWTRefused: a JWT from Better Auth that the gateway does not
// accept (here: another issuer) is the verifier's error, remembered for the
// lifetime like a refusal.
func TestSessionJWTRefused(t *testing.T) {
	c := &clock{now: time.Now()}
	ba := newBetterAuth(t, c)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ba.calls.Add(1)
		now := c.Now()
		fmt.Fprintf(w, `{"token":%q}`, testissuer.Mint(ba.key, map[string]any{"sub": "alice", "iss": "https://other.test", "aud": issuer, "exp": now.Add(time.Minute).Unix()}))
	}))
	defer srv.Close()
	e := newExchanger(t, ba, testSettings(), srv.URL+"/api/auth/token")
	for range 2 {
		var te *authn.TokenError
		if _, err := e.authNow("s1"); !errors.As(err, &te) {
			t.Fatalf("%v, want a TokenError", err)
		}
	}
	if n := ba.calls.Load(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
}

// TestFind: the first configured name present is the session cookie; a
// name sent twice (a cookie planted by a sibling subdomain next to the real
// one), an oversized value or bytes no cookie value holds are refused
// before any exchange; an empty value (a cleared cookie) is no cookie.
func TestFind(t *testing.T) {
	_, e, _ := setup(t, testSettings())
	cases := []struct {
		name, header string
		want         Cookie
		err          error
	}{
		{"plain", "theme=dark; better-auth.session_token=abc.def%3D; x=1", cookie("abc.def%3D"), nil},
		{"__Secure- first", "better-auth.session_token=plain; __Secure-better-auth.session_token=secure", Cookie{Name: "__Secure-better-auth.session_token", Value: []byte("secure")}, nil},
		{"none", "theme=dark; better-auth.session_data=x", Cookie{}, ErrNoCookie},
		{"cleared", "better-auth.session_token=", Cookie{}, ErrNoCookie},
		{"sent twice", "better-auth.session_token=mine; better-auth.session_token=planted", Cookie{}, ErrMalformed},
		{"oversized", "better-auth.session_token=" + strings.Repeat("a", maxCookieBytes+1), Cookie{}, ErrMalformed},
		{"space", "better-auth.session_token=a b", Cookie{}, ErrMalformed},
		{"non-ASCII", "better-auth.session_token=a\u00e9", Cookie{}, ErrMalformed},
		{"DEL", "better-auth.session_token=a\x7fb", Cookie{}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			h.Set("Cookie", tc.header)
			got, err := e.Find(&h)
			if !errors.Is(err, tc.err) || got.Name != tc.want.Name || string(got.Value) != string(tc.want.Value) {
				t.Fatalf("Find = %q=%q, %v; want %q=%q, %v", got.Name, got.Value, err, tc.want.Name, tc.want.Value, tc.err)
			}
		})
	}
}
