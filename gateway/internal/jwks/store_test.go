package jwks_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

func newStore(t *testing.T, url string, minInterval time.Duration) *jwks.Store {
	t.Helper()
	s, err := jwks.New(t.Context(), jwks.Config{URL: url, MinRefreshInterval: minInterval})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartRetriesUntilTheFirstFetchSucceeds(t *testing.T) {
	k := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k)
	defer iss.Close()
	iss.SetDown(true)
	s := newStore(t, iss.JWKSURL(), time.Second)
	done := make(chan error, 1)
	go func() { done <- s.Start(t.Context()) }()
	time.Sleep(300 * time.Millisecond)
	if s.Ready() {
		t.Fatal("ready while the JWKS is down")
	}
	if _, err := s.Key(t.Context(), "k1"); !errors.Is(err, jwks.ErrNotReady) {
		t.Fatalf("Key before the first fetch: %v", err)
	}
	iss.SetDown(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start never succeeded after the JWKS came back")
	}
	if got, err := s.Key(t.Context(), "k1"); err != nil || got.Alg != jwa.EdDSA {
		t.Fatalf("Key after recovery: %+v %v", got, err)
	}
}

func TestUnknownKidRefetchIsSingleFlightAndRateLimited(t *testing.T) {
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k1)
	defer iss.Close()
	s := newStore(t, iss.JWKSURL(), 500*time.Millisecond)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := iss.Served()
	k2 := testissuer.NewKey(jwa.ES256, "k2")
	iss.SetKeys(k1, k2)

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			if _, err := s.Key(context.Background(), "k2"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if iss.Served()-base != 1 {
		t.Fatalf("50 concurrent lookups of a new kid caused %d fetches, want 1", iss.Served()-base)
	}
	// Only callers that arrived while the slot was taken may miss; at least
	// one must have found k2.
	if len(errs) == 50 {
		t.Fatal("no caller found the rotated key")
	}
	// Garbage kids cannot hammer Better Auth: within the interval, no fetch.
	for range 20 {
		if _, err := s.Key(context.Background(), "junk"); !errors.Is(err, jwks.ErrUnknownKey) {
			t.Fatalf("junk kid: %v", err)
		}
	}
	if iss.Served()-base != 1 {
		t.Fatalf("unknown kids within the interval caused %d fetches", iss.Served()-base)
	}
	time.Sleep(550 * time.Millisecond)
	_, _ = s.Key(context.Background(), "junk")
	if iss.Served()-base != 2 {
		t.Fatalf("after the interval, fetches = %d, want 2", iss.Served()-base)
	}
}

func TestFailedRefetchKeepsLastGoodKeysAndRemovalIsReported(t *testing.T) {
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	k2 := testissuer.NewKey(jwa.ES512, "k2")
	iss := testissuer.Start(k1, k2)
	defer iss.Close()
	s := newStore(t, iss.JWKSURL(), time.Millisecond)
	var removed []string
	s.OnRemove(func(kids []string) { removed = append(removed, kids...) })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	iss.SetDown(true)
	time.Sleep(5 * time.Millisecond)
	if _, err := s.Key(t.Context(), "nope"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("unknown kid during outage: %v", err)
	}
	if _, err := s.Key(t.Context(), "k1"); err != nil {
		t.Fatalf("known key lost after a failed refetch: %v", err)
	}
	// A JWKS with only unusable keys is refused like an outage.
	iss.SetDown(false)
	iss.SetKeys()
	iss.AddRawJWK(`{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`)
	time.Sleep(5 * time.Millisecond)
	_, _ = s.Key(t.Context(), "hmac")
	if _, err := s.Key(t.Context(), "k2"); err != nil {
		t.Fatalf("keys replaced by a JWKS holding only a symmetric key: %v", err)
	}
	// Rotation that drops k2 is reported.
	iss.SetKeys(k1)

	time.Sleep(5 * time.Millisecond)
	_, _ = s.Key(t.Context(), "k3")
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
	s := newStore(t, iss.JWKSURL(), time.Hour)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for kid, want := range map[string]jwa.SignatureAlgorithm{"ed": jwa.EdDSA, "es": jwa.ES256} {
		if k, err := s.Key(t.Context(), kid); err != nil || k.Alg != want {
			t.Errorf("%s: %+v %v, want alg %s", kid, k, err, want)
		}
	}
	for _, kid := range []string{"liar", "enc"} {
		if _, err := s.Key(t.Context(), kid); err == nil {
			t.Errorf("unusable key %q was installed", kid)
		}
	}
}

func TestOversizedJWKSIsRefused(t *testing.T) {
	k := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k)
	defer iss.Close()
	iss.AddRawJWK(`{"kty":"oct","kid":"pad","k":"` + strings.Repeat("A", 2<<20) + `"}`)
	s := newStore(t, iss.JWKSURL(), time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := s.Start(ctx); err == nil || s.Ready() {
		t.Fatal("a 2 MiB JWKS was accepted")
	}
}
