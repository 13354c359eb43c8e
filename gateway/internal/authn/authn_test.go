package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// keys is one key per supported algorithm, generated once (RSA is slow).
var (
	keysOnce sync.Once
	keys     map[jwa.SignatureAlgorithm]testissuer.Key
)

func allKeys() map[jwa.SignatureAlgorithm]testissuer.Key {
	keysOnce.Do(func() {
		keys = map[jwa.SignatureAlgorithm]testissuer.Key{}
		for _, alg := range jwks.SupportedAlgorithms {
			keys[alg] = testissuer.NewKey(alg, "kid-"+strings.ToLower(alg.String()))
		}
	})
	return keys
}

type fixture struct {
	iss   *testissuer.Issuer
	store *jwks.Store
	a     *authn.Authenticator
	now   time.Time
}

func newFixture(t testing.TB, mutate func(*authn.Config)) *fixture {
	t.Helper()
	ks := allKeys()
	var list []testissuer.Key
	for _, alg := range jwks.SupportedAlgorithms {
		list = append(list, ks[alg])
	}
	iss := testissuer.Start(list...)
	t.Cleanup(iss.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := jwks.New(ctx, jwks.Config{URL: iss.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{iss: iss, store: store, now: time.Now()}
	cfg := authn.Config{
		Keys: store, Issuer: iss.URL, Audience: iss.URL, Leeway: 30 * time.Second,
		CacheSize: 10000, // JWT_CACHE_SIZE's default
		Now:       func() time.Time { return f.now },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	f.a, err = authn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store.OnRemove(f.a.ForgetKeys)
	return f
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// forge builds a token from an arbitrary header and claims, signed by sign
// (nil: empty signature).
func forge(header map[string]any, claims any, sign func(input []byte) []byte) string {
	input := b64(mustJSON(header)) + "." + b64(mustJSON(claims))
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64(sig)
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// wantRejected fails unless f's authenticator refuses token with a
// TokenError whose reason is reason.
func wantRejected(t *testing.T, f *fixture, token, reason string) {
	t.Helper()
	p, err := f.a.Verify(context.Background(), []byte(token))
	if err == nil {
		t.Fatalf("accepted as %+v", p)
	}
	var te *authn.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a TokenError", err)
	}
	if te.Reason != reason {
		t.Fatalf("rejected for %q (%s), want %q", te.Reason, te.Description, reason)
	}
}

func TestVerifyAcceptsEveryAlgorithm(t *testing.T) {
	f := newFixture(t, nil)
	for alg, k := range allKeys() {
		t.Run(alg.String(), func(t *testing.T) {
			tok := testissuer.Mint(k, f.iss.Claims("user-"+alg.String(), f.now))
			p, err := f.a.Verify(context.Background(), []byte(tok))
			if err != nil {
				t.Fatalf("valid %s token rejected: %v", alg, err)
			}
			if p.Subject != "user-"+alg.String() || p.KeyID != k.ID {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
}

func TestVerifyInfersAlgorithmWhenJWKHasNone(t *testing.T) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.EdDSA, jwa.ES256, jwa.ES512, jwa.RS256} {
		t.Run(alg.String(), func(t *testing.T) {
			k := allKeys()[alg]
			k.OmitAlg = true
			k.ID = "noalg-" + alg.String()
			iss := testissuer.Start(k)
			defer iss.Close()
			store, err := jwks.New(t.Context(), jwks.Config{URL: iss.JWKSURL()})
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			a, err := authn.New(authn.Config{Keys: store, Issuer: iss.URL, Audience: iss.URL})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(t.Context(), []byte(testissuer.Mint(k, iss.Claims("u1", time.Now())))); err != nil {
				t.Fatalf("token for JWK without alg rejected: %v", err)
			}
		})
	}
}

// TestMaliciousTokens: none of these may be accepted, and each must fail
// for its own reason (so a test cannot pass because of an unrelated check).
func TestMaliciousTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-shared")
	f := newFixture(t, func(c *authn.Config) { c.SharedSecret = secret })
	ks := allKeys()
	ed, es, rs := ks[jwa.EdDSA], ks[jwa.ES256], ks[jwa.RS256]
	now := f.now
	good := f.iss.Claims("alice", now)
	with := func(k string, v any) map[string]any {
		c := f.iss.Claims("alice", now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	valid := testissuer.Mint(ed, good)
	parts := strings.Split(valid, ".")
	attacker := testissuer.NewKey(jwa.EdDSA, ed.ID) // right kid, wrong key
	attackerPub, err := attacker.Public()
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: func() []byte {
		b, err := x509.MarshalPKIXPublicKey(&rs.Private.(*rsa.PrivateKey).PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()})
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	tampered := map[string]any{}
	for k, v := range good {
		tampered[k] = v
	}
	tampered["sub"] = "mallory"

	cases := []struct {
		name   string
		token  string
		reason string
	}{
		{"alg none, no signature", forge(map[string]any{"alg": "none", "kid": ed.ID}, good, nil), "malformed"},
		{"alg None spelled oddly", forge(map[string]any{"alg": "nOnE", "kid": ed.ID}, good, func([]byte) []byte { return []byte("junk") }), "alg_none"},
		{"alg none with a real signature attached", forge(map[string]any{"alg": "none", "kid": ed.ID}, good, nil) + parts[2], "alg_none"},
		{"alg missing", forge(map[string]any{"kid": ed.ID}, good, func([]byte) []byte { return []byte("x") }), "alg_none"},
		{"HS256 signed with the RSA public key PEM", forge(map[string]any{"alg": "HS256", "kid": rs.ID}, good, hs256(rsaPEM)), "bad_signature"},
		{"HS256 signed with the Ed25519 public key", forge(map[string]any{"alg": "HS256", "kid": ed.ID}, good, hs256([]byte(ed.Private.(ed25519.PrivateKey).Public().(ed25519.PublicKey)))), "bad_signature"},
		{"HS384 signed with the secret", forge(map[string]any{"alg": "HS384"}, good, hs256(secret)), "alg_not_allowed"},
		{"HS512", forge(map[string]any{"alg": "HS512", "kid": ed.ID}, good, hs256(secret)), "alg_not_allowed"},
		{"ES256 header with an HMAC of the shared secret", forge(map[string]any{"alg": "ES256", "kid": es.ID}, good, hs256(secret)), "bad_signature"},
		{"tampered payload", parts[0] + "." + b64(mustJSON(tampered)) + "." + parts[2], "bad_signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), "bad_signature"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "malformed"},
		{"wrong key with the right kid", testissuer.Mint(attacker, good), "bad_signature"},
		{"unknown kid", testissuer.Mint(testissuer.NewKey(jwa.EdDSA, "nobody-knows-me"), good), "unknown_kid"},
		{"path traversal kid", testissuer.Mint(testissuer.Key{ID: "../../etc/passwd", Alg: jwa.EdDSA, Private: ed.Private}, good), "unknown_kid"},
		{"no kid", forge(map[string]any{"alg": "EdDSA"}, good, func([]byte) []byte { return make([]byte, 64) }), "missing_kid"},
		{"EdDSA key, header says ES256", testissuer.Mint(testissuer.Key{ID: ed.ID, Alg: jwa.ES256, Private: es.Private}, good), "alg_mismatch"},
		{"RS256 key, header says PS256", testissuer.Mint(testissuer.Key{ID: rs.ID, Alg: jwa.PS256, Private: rs.Private}, good), "alg_mismatch"},
		{"lower-case alg", forge(map[string]any{"alg": "eddsa", "kid": ed.ID}, good, func([]byte) []byte { return make([]byte, 64) }), "alg_not_allowed"},
		{"expired beyond leeway", testissuer.Mint(ed, with("exp", now.Add(-time.Minute).Unix())), "expired"},
		{"nbf in the future", testissuer.Mint(ed, with("nbf", now.Add(5*time.Minute).Unix())), "not_yet_valid"},
		{"iat in the future", testissuer.Mint(ed, with("iat", now.Add(5*time.Minute).Unix())), "issued_in_future"},
		{"wrong iss", testissuer.Mint(ed, with("iss", "https://evil.example")), "bad_issuer"},
		{"wrong aud", testissuer.Mint(ed, with("aud", "https://other-app.example")), "bad_audience"},
		{"aud list without us", testissuer.Mint(ed, with("aud", []string{"a", "b"})), "bad_audience"},
		{"missing exp", testissuer.Mint(ed, with("exp", nil)), "missing_exp"},
		{"missing sub", testissuer.Mint(ed, with("sub", nil)), "bad_subject"},
		{"empty sub", testissuer.Mint(ed, with("sub", "")), "bad_subject"},
		{"sub with a newline", testissuer.Mint(ed, with("sub", "alice\nX-User-ID: bob")), "subject_not_header_safe"},
		{"sub of 256 bytes", testissuer.Mint(ed, with("sub", strings.Repeat("a", 256))), "bad_subject"},
		{"claims not UTF-8", testissuer.MintBytes(ed, mustJSON(map[string]any{"alg": "EdDSA", "kid": ed.ID}), []byte(strings.Replace(string(mustJSON(good)), `"sub":"alice"`, `"sub":"alice\xff"`, 1))), "bad_claims"},
		{"jku header pointing elsewhere", testissuer.MintWithHeader(attacker, good, map[string]any{"jku": "https://evil.example/jwks"}), "forbidden_header"},
		{"x5u header pointing elsewhere", testissuer.MintWithHeader(attacker, good, map[string]any{"x5u": "https://evil.example/cert"}), "forbidden_header"},
		{"jwk header embedding the attacker key", testissuer.MintWithHeader(attacker, good, map[string]any{"jwk": attackerPub}), "forbidden_header"},
		{"x5c header", testissuer.MintRaw(attacker, map[string]any{"alg": "EdDSA", "kid": ed.ID, "x5c": []string{"MIIB"}}, good), "forbidden_header"},
		{"crit header", testissuer.MintRaw(ed, map[string]any{"alg": "EdDSA", "kid": ed.ID, "crit": []string{"exp"}, "exp": 1}, good), "forbidden_header"},
		{"typ is not JWT", testissuer.MintWithHeader(ed, good, map[string]any{"typ": "JOSE+JSON"}), "bad_type"},
		{"oversized", testissuer.Mint(ed, with("pad", strings.Repeat("x", 9000))), "too_large"},
		{"not a JWT", "hello-world", "malformed"},
		{"two tokens glued", valid + "." + valid, "malformed"},
		{"JWE-shaped five parts", "a.b.c.d.e", "malformed"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "malformed"},
		{"header not JSON", b64([]byte("not json")) + "." + parts[1] + "." + parts[2], "bad_header"},
		{"payload is a JSON array", forge(map[string]any{"alg": "HS256"}, []string{"alice"}, hs256(secret)), "bad_claims"},
		{"HS256 with a wrong secret", forge(map[string]any{"alg": "HS256"}, good, hs256([]byte("wrong-secret-wrong-secret-wrong!!"))), "bad_signature"},
		{"empty", "", "malformed"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d malicious cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantRejected(t, f, tc.token, tc.reason) })
	}
	// The same valid token is accepted: the rejections above are about the
	// attack, not the fixture.
	if _, err := f.a.Verify(context.Background(), []byte(valid)); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
}

func TestSharedSecretMode(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-shared")
	f := newFixture(t, func(c *authn.Config) { c.SharedSecret = secret })
	tok := forge(map[string]any{"alg": "HS256", "typ": "JWT"}, f.iss.Claims("hs-user", f.now), hs256(secret))
	p, err := f.a.Verify(context.Background(), []byte(tok))
	if err != nil || p.Subject != "hs-user" {
		t.Fatalf("HS256 token with the secret: %+v, %v", p, err)
	}
	off := newFixture(t, nil)
	if _, err := off.a.Verify(context.Background(), []byte(tok)); err == nil || err.(*authn.TokenError).Reason != "alg_not_allowed" {
		t.Fatalf("HS256 accepted without opting in: %v", err)
	}
}

// countingKeys counts key lookups, i.e. uncached verifications.
type countingKeys struct {
	authn.KeySource
	mu sync.Mutex
	n  int
}

func (c *countingKeys) Key(ctx context.Context, kid string) (jwks.Key, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.KeySource.Key(ctx, kid)
}

// TestCacheSizeZeroDisablesCache: CacheSize 0 means what JWT_CACHE_SIZE=0
// means, no cache (it once meant 10000 here, and server.go translated); a
// negative size is an error, not another spelling of "off".
func TestCacheSizeZeroDisablesCache(t *testing.T) {
	var ck *countingKeys
	f := newFixture(t, func(c *authn.Config) {
		ck = &countingKeys{KeySource: c.Keys}
		c.Keys = ck
		c.CacheSize = 0
	})
	tok := testissuer.Mint(allKeys()[jwa.EdDSA], f.iss.Claims("alice", f.now))
	for range 3 {
		if _, err := f.a.Verify(context.Background(), []byte(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if ck.n != 3 || f.a.CachedTokens() != 0 {
		t.Fatalf("3 verifications did %d key lookups, cache holds %d; want 3 and 0", ck.n, f.a.CachedTokens())
	}
	if _, err := authn.New(authn.Config{Keys: ck, Issuer: f.iss.URL, Audience: f.iss.URL, CacheSize: -1}); err == nil {
		t.Fatal("CacheSize -1 accepted")
	}
}

func TestCacheServesRepeatsAndHonoursExpiry(t *testing.T) {
	var ck *countingKeys
	f := newFixture(t, func(c *authn.Config) {
		ck = &countingKeys{KeySource: c.Keys}
		c.Keys = ck
	})
	tok := testissuer.Mint(allKeys()[jwa.EdDSA], f.iss.Claims("alice", f.now))
	for range 5 {
		if _, err := f.a.Verify(context.Background(), []byte(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if ck.n != 1 || f.a.CachedTokens() != 1 {
		t.Fatalf("5 verifications did %d key lookups, cache holds %d; want 1 and 1", ck.n, f.a.CachedTokens())
	}
	// Past exp+leeway the cached entry must not be honoured.
	f.now = f.now.Add(16 * time.Minute)
	_, err := f.a.Verify(context.Background(), []byte(tok))
	var te *authn.TokenError
	if !errors.As(err, &te) || te.Reason != "expired" {
		t.Fatalf("expired cached token: %v, want expired", err)
	}
}

func TestCacheDropsTokensOfRemovedKid(t *testing.T) {
	ks := allKeys()
	f := newFixture(t, func(c *authn.Config) {})
	tok := testissuer.Mint(ks[jwa.ES256], f.iss.Claims("alice", f.now))
	if _, err := f.a.Verify(context.Background(), []byte(tok)); err != nil {
		t.Fatal(err)
	}
	// Rotate: the ES256 key leaves the JWKS. A token with a new kid forces
	// the refetch that notices.
	fresh := testissuer.NewKey(jwa.EdDSA, "kid-fresh")
	f.iss.SetKeys(ks[jwa.EdDSA], fresh)
	if _, err := f.a.Verify(context.Background(), []byte(testissuer.Mint(fresh, f.iss.Claims("bob", f.now)))); err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	_, err := f.a.Verify(context.Background(), []byte(tok))
	if err == nil {
		t.Fatal("token of a removed key still accepted from the cache")
	}
}

func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t, func(c *authn.Config) { c.CacheSize = 16 })
	k := allKeys()[jwa.EdDSA]
	for i := range 100 {
		c := f.iss.Claims("u", f.now)
		c["n"] = i
		if _, err := f.a.Verify(context.Background(), []byte(testissuer.Mint(k, c))); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.a.CachedTokens(); n > 16 || n == 0 {
		t.Fatalf("cache holds %d tokens, bound is 16", n)
	}
}
