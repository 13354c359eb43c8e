package authn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// rotationFixture is an authenticator on a real jwks.Store that fetches
// from a real JWKS server publishing k1.
func rotationFixture(t *testing.T) (*testissuer.Issuer, *jwks.Store, *authn.Authenticator, testissuer.Key) {
	t.Helper()
	k1 := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(k1)
	t.Cleanup(iss.Close)
	store, err := jwks.New(t.Context(), jwks.Config{URL: iss.JWKSURL(), MinRefreshInterval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(authn.Config{Keys: store, Issuer: iss.URL, Audience: iss.URL, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return iss, store, a, k1
}

// verifyAllDuringOneFetch verifies tokens concurrently while the JWKS
// server holds the refetch, releases it once every caller waits for it (or
// after 5 s, when some did not), and returns each result.
func verifyAllDuringOneFetch(t *testing.T, iss *testissuer.Issuer, store *jwks.Store, a *authn.Authenticator, tokens []string) []error {
	t.Helper()
	arrived, release := iss.Hold()
	defer release()
	errs := make([]error, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			_, errs[i] = a.Verify(context.Background(), []byte(tok))
		})
	}
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no JWKS refetch")
	}
	for deadline := time.Now().Add(5 * time.Second); store.Waiting() < int64(len(tokens)) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	return errs
}

func TestNewKidUnderConcurrencyIsAcceptedForEveryCaller(t *testing.T) {
	iss, store, a, k1 := rotationFixture(t)
	base := iss.Served()
	// Better Auth rotates; 50 never-seen tokens with the new kid arrive at once.
	k2 := testissuer.NewKey(jwa.EdDSA, "k2")
	iss.SetKeys(k1, k2)
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = testissuer.Mint(k2, iss.Claims(fmt.Sprintf("user-%d", i), time.Now()))
	}
	for i, err := range verifyAllDuringOneFetch(t, iss, store, a, tokens) {
		if err != nil {
			t.Errorf("token %d with the new kid: %v", i, err)
		}
	}
	if got := iss.Served() - base; got != 1 {
		t.Fatalf("JWKS fetches for 50 tokens with one new kid: %d, want 1", got)
	}
}

func TestNewKidWhileTheJWKSIsDownIsUnavailableNotInvalid(t *testing.T) {
	iss, store, a, k1 := rotationFixture(t)
	k2 := testissuer.NewKey(jwa.EdDSA, "k2")
	iss.SetKeys(k1, k2)
	iss.SetDown(true)
	tokens := []string{
		testissuer.Mint(k2, iss.Claims("alice", time.Now())),
		testissuer.Mint(k2, iss.Claims("bob", time.Now())),
	}
	for i, err := range verifyAllDuringOneFetch(t, iss, store, a, tokens) {
		if !errors.Is(err, authn.ErrKeysUnavailable) {
			t.Errorf("token %d with a new kid, refetch failed: %v, want ErrKeysUnavailable", i, err)
		}
	}
	// Within the refetch interval no new fetch is made, and the answer stays
	// the same: the kid may exist, nobody could ask.
	if _, err := a.Verify(context.Background(), []byte(testissuer.Mint(k2, iss.Claims("carol", time.Now())))); !errors.Is(err, authn.ErrKeysUnavailable) {
		t.Fatalf("new kid within the interval after a failed refetch: %v", err)
	}
	// Tokens of the keys in force keep working.
	if _, err := a.Verify(context.Background(), []byte(testissuer.Mint(k1, iss.Claims("dave", time.Now())))); err != nil {
		t.Fatalf("known kid during the outage: %v", err)
	}
}
