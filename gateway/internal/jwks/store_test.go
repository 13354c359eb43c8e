package jwks_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// clock is a manual clock for Config.Now: the minimum refetch interval
// passes when the test says so, not when the scheduler does.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newStore returns a started-later Store for url on the manual clock c, with
// no scheduled refresh during the test unless cfg asks for one.
func newStore(t *testing.T, url string, c *clock, cfg jwks.Config) *jwks.Store {
	t.Helper()
	cfg.URL = url
	cfg.Now = c.Now
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Hour
	}
	s, err := jwks.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustStart(t *testing.T, s *jwks.Store) {
	t.Helper()
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits, bounded, until cond holds: for an event in another
// goroutine, not for time to pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv waits, bounded, for one value on ch.
func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// logSignal is a slog handler that reports every message on a channel.
type logSignal chan string

func (l logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l logSignal) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logSignal) WithGroup(string) slog.Handler      { return l }

func TestStartRetriesUntilTheFirstFetchSucceeds(t *testing.T) {
	k := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k)
	defer iss.Close()
	iss.SetDown(true)
	logs := make(logSignal, 16)
	s := newStore(t, iss.JWKSURL(), newClock(), jwks.Config{Logger: slog.New(logs)})
	done := make(chan error, 1)
	go func() { done <- s.Start(t.Context()) }()
	if msg := recv(t, "a failed first fetch", logs); msg != "jwks fetch failed; retrying" {
		t.Fatalf("log after a failed first fetch: %q", msg)
	}
	if s.Ready() {
		t.Fatal("ready while the JWKS is down")
	}
	if _, err := s.Key(t.Context(), "k1"); !errors.Is(err, jwks.ErrNotReady) {
		t.Fatalf("Key before the first fetch: %v", err)
	}
	iss.SetDown(false)
	if err := recv(t, "Start to succeed after the JWKS came back", done); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Key(t.Context(), "k1"); err != nil || got.Alg != jwa.EdDSA {
		t.Fatalf("Key after recovery: %+v %v", got, err)
	}
}

// lookupAll looks kids up concurrently and returns once every caller is
// waiting for the held fetch (or, on failure, once they all returned). It
// then releases the fetch and returns each caller's error.
func lookupAll(t *testing.T, s *jwks.Store, iss *testissuer.Issuer, kids []string) []error {
	t.Helper()
	arrived, release := iss.Hold()
	defer release()
	errs := make([]error, len(kids))
	var wg sync.WaitGroup
	for i, kid := range kids {
		wg.Go(func() {
			k, err := s.Key(context.Background(), kid)
			if err == nil && k.ID != kid {
				err = fmt.Errorf("got key %q", k.ID)
			}
			errs[i] = err
		})
	}
	recv(t, "the refetch to reach the JWKS server", arrived)
	waitFor(t, fmt.Sprintf("%d callers to wait for the one refetch", len(kids)), func() bool {
		return s.Waiting() == int64(len(kids))
	})
	release()
	wg.Wait()
	return errs
}

func TestConcurrentLookupsOfNewKidsShareOneFetch(t *testing.T) {
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k1)
	defer iss.Close()
	c := newClock()
	s := newStore(t, iss.JWKSURL(), c, jwks.Config{MinRefreshInterval: 10 * time.Second})
	mustStart(t, s)
	base := iss.Served()

	// A rotation publishes two new keys; 50 callers ask for them at once.
	iss.SetKeys(k1, testissuer.NewKey(jwa.ES256, "k2"), testissuer.NewKey(jwa.EdDSA, "k3"))
	kids := make([]string, 50)
	for i := range kids {
		kids[i] = []string{"k2", "k3"}[i%2]
	}
	for i, err := range lookupAll(t, s, iss, kids) {
		if err != nil {
			t.Errorf("caller %d (%s): %v", i, kids[i], err)
		}
	}
	if got := iss.Served() - base; got != 1 {
		t.Fatalf("50 concurrent lookups of new kids caused %d fetches, want 1", got)
	}

	// Garbage kids cannot hammer Better Auth: within the interval, no fetch.
	for range 20 {
		if _, err := s.Key(context.Background(), "junk"); !errors.Is(err, jwks.ErrUnknownKey) {
			t.Fatalf("junk kid: %v", err)
		}
	}
	c.Advance(10*time.Second - time.Nanosecond)
	if _, err := s.Key(context.Background(), "junk"); !errors.Is(err, jwks.ErrUnknownKey) || iss.Served()-base != 1 {
		t.Fatalf("junk kid just inside the interval: %v, fetches %d, want 1", err, iss.Served()-base)
	}
	c.Advance(time.Nanosecond)
	if _, err := s.Key(context.Background(), "junk"); !errors.Is(err, jwks.ErrUnknownKey) || iss.Served()-base != 2 {
		t.Fatalf("junk kid once the interval passed: %v, fetches %d, want 2", err, iss.Served()-base)
	}
}

func TestKidPublishedDuringAScheduledRefreshIsFound(t *testing.T) {
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k1)
	defer iss.Close()
	s := newStore(t, iss.JWKSURL(), newClock(), jwks.Config{RefreshInterval: 20 * time.Millisecond, MinRefreshInterval: time.Hour})
	mustStart(t, s)
	// The unknown-kid refetch slot is spent: no fetch of its own for an
	// hour, so only the scheduled refresh can bring a new key.
	if _, err := s.Key(t.Context(), "junk"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("junk kid: %v", err)
	}
	arrived, release := iss.Hold()
	defer release()
	recv(t, "a scheduled refresh", arrived)
	// While that refresh is in flight, Better Auth publishes k2 and a token
	// signed by it arrives.
	iss.SetKeys(k1, testissuer.NewKey(jwa.ES256, "k2"))
	got := make(chan error, 1)
	go func() {
		_, err := s.Key(context.Background(), "k2")
		got <- err
	}()
	waitFor(t, "the lookup to wait for the scheduled refresh", func() bool { return s.Waiting() == 1 })
	release()
	if err := recv(t, "the lookup", got); err != nil {
		t.Fatalf("kid published during a scheduled refresh: %v", err)
	}
}

func TestFailedRefetchAnswersFetchFailedAndKeepsLastGoodKeys(t *testing.T) {
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	k2 := testissuer.NewKey(jwa.ES512, "k2")
	iss := testissuer.Start(k1, k2)
	defer iss.Close()
	c := newClock()
	s := newStore(t, iss.JWKSURL(), c, jwks.Config{MinRefreshInterval: 10 * time.Second})
	var removed []string
	s.OnRemove(func(kids []string) { removed = append(removed, kids...) })
	mustStart(t, s)

	// Better Auth down: every caller waiting for the refetch learns that it
	// failed, and so do callers within the interval after it; none is told
	// that its token is invalid.
	iss.SetDown(true)
	for i, err := range lookupAll(t, s, iss, []string{"k9", "k9", "k8"}) {
		if !errors.Is(err, jwks.ErrFetchFailed) {
			t.Errorf("caller %d during the outage: %v, want ErrFetchFailed", i, err)
		}
	}
	if _, err := s.Key(t.Context(), "k7"); !errors.Is(err, jwks.ErrFetchFailed) {
		t.Fatalf("unknown kid within the interval after a failed refetch: %v", err)
	}
	if _, err := s.Key(t.Context(), "k1"); err != nil {
		t.Fatalf("known key lost after a failed refetch: %v", err)
	}

	// A JWKS with only unusable keys is refused like an outage.
	iss.SetDown(false)
	iss.SetKeys()
	iss.AddRawJWK(`{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`)
	c.Advance(10 * time.Second)
	if _, err := s.Key(t.Context(), "hmac"); !errors.Is(err, jwks.ErrFetchFailed) {
		t.Fatalf("kid of a symmetric key: %v", err)
	}
	if _, err := s.Key(t.Context(), "k2"); err != nil {
		t.Fatalf("keys replaced by a JWKS holding only a symmetric key: %v", err)
	}

	// Better Auth back: a rotation that drops k2 is reported, and an unknown
	// kid is unknown again, not a failure.
	iss.SetKeys(k1)
	c.Advance(10 * time.Second)
	if _, err := s.Key(t.Context(), "k3"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("unknown kid after a good refetch: %v", err)
	}
	if len(removed) != 1 || removed[0] != "k2" {
		t.Fatalf("removed = %v, want [k2]", removed)
	}
}

func TestKeysArePinned(t *testing.T) {
	ed := testissuer.NewKey(jwa.EdDSA, "ed")
	es := testissuer.NewKey(jwa.ES256, "es")
	es.OmitAlg = true
	iss := testissuer.Start(ed, es)
	defer iss.Close()
	// An EC key that claims to be RSA, and a key for encryption: skipped.
	iss.AddRawJWK(`{"kty":"EC","crv":"P-256","kid":"liar","alg":"RS256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	iss.AddRawJWK(`{"kty":"EC","crv":"P-256","kid":"enc","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	s := newStore(t, iss.JWKSURL(), newClock(), jwks.Config{MinRefreshInterval: time.Hour})
	mustStart(t, s)
	for kid, want := range map[string]jwa.SignatureAlgorithm{"ed": jwa.EdDSA, "es": jwa.ES256} {
		if k, err := s.Key(t.Context(), kid); err != nil || k.Alg != want {
			t.Errorf("%s: %+v %v, want alg %s", kid, k, err, want)
		}
	}
	for _, kid := range []string{"liar", "enc"} {
		if _, err := s.Key(t.Context(), kid); !errors.Is(err, jwks.ErrUnknownKey) {
			t.Errorf("unusable key %q: %v, want ErrUnknownKey", kid, err)
		}
	}
}

func TestOversizedJWKSIsRefused(t *testing.T) {
	k := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k)
	defer iss.Close()
	iss.AddRawJWK(`{"kty":"oct","kid":"pad","k":"` + strings.Repeat("A", 2<<20) + `"}`)
	s := newStore(t, iss.JWKSURL(), newClock(), jwks.Config{MinRefreshInterval: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := s.Start(ctx); err == nil || s.Ready() {
		t.Fatal("a 2 MiB JWKS was accepted")
	}
}

// TestRedirectsNeverDowngradeToPlainHTTP: a JWKS asked for over https that
// redirects to http is refused (net/http's default policy follows it, and
// whoever is on the plain path could hand the gateway their own keys); a
// redirect from http to https, as a load balancer sends, is followed; a
// redirect loop ends.
func TestRedirectsNeverDowngradeToPlainHTTP(t *testing.T) {
	k := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k)
	defer iss.Close()
	issURL, err := url.Parse(iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	tlsDirect := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: issURL.Host}))
	defer tlsDirect.Close()
	tlsToPlain := httptest.NewTLSServer(http.RedirectHandler(iss.JWKSURL(), http.StatusFound))
	defer tlsToPlain.Close()
	plainToTLS := httptest.NewServer(http.RedirectHandler(tlsDirect.URL+issURL.Path, http.StatusMovedPermanently))
	defer plainToTLS.Close()
	var loop *httptest.Server
	loop = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+r.URL.Path, http.StatusFound)
	}))
	defer loop.Close()

	// One client trusts every test server's certificate (they share it).
	client := tlsDirect.Client()
	client.Timeout = time.Second
	for _, tc := range []struct {
		desc, url string
		ok        bool
	}{
		{"https, no redirect", tlsDirect.URL + issURL.Path, true},
		{"https redirected to http", tlsToPlain.URL + issURL.Path, false},
		{"http redirected to https", plainToTLS.URL + issURL.Path, true},
		{"a redirect loop", loop.URL + issURL.Path, false},
	} {
		s := newStore(t, tc.url, newClock(), jwks.Config{Client: client, MinRefreshInterval: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		err := s.Start(ctx)
		cancel()
		if got := err == nil && s.Ready(); got != tc.ok {
			t.Errorf("%s: keys loaded %v (err %v), want %v", tc.desc, got, err, tc.ok)
		}
	}
}
