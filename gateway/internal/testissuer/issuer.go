// Package testissuer is an in-process stand-in for Better Auth's JWT plugin:
// an httptest server publishing a JWKS and a minter of tokens for every
// algorithm Better Auth can issue. It is shared by tests and the benchmark
// driver; production code never imports it.
package testissuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// JWKSPath is where Better Auth publishes its keys.
const JWKSPath = "/api/auth/jwks"

// Key is a private signing key with its kid and algorithm.
type Key struct {
	ID      string
	Alg     jwa.SignatureAlgorithm
	Private any
	// OmitAlg publishes the public JWK without "alg", as some issuers do.
	OmitAlg bool
}

// Public returns the public JWK of k.
func (k Key) Public() (jwk.Key, error) {
	priv, err := jwk.FromRaw(k.Private)
	if err != nil {
		return nil, err
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, err
	}
	if err := pub.Set(jwk.KeyIDKey, k.ID); err != nil {
		return nil, err
	}
	if !k.OmitAlg {
		if err := pub.Set(jwk.AlgorithmKey, k.Alg); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// NewKey generates a fresh key for alg (EdDSA, ES256, ES384, ES512, RS256,
// PS256) with the given kid.
func NewKey(alg jwa.SignatureAlgorithm, kid string) Key {
	var priv any
	var err error
	switch alg {
	case jwa.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jwa.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jwa.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jwa.RS256, jwa.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		panic("testissuer: unsupported algorithm " + alg.String())
	}
	if err != nil {
		panic(err)
	}
	return Key{ID: kid, Alg: alg, Private: priv}
}

// Issuer serves a JWKS over HTTP and mints tokens. Its URL is both the
// issuer and the audience, as Better Auth's defaults are.
type Issuer struct {
	Server *httptest.Server
	URL    string

	mu      sync.Mutex
	keys    []Key
	down    bool
	extra   []json.RawMessage
	held    chan struct{} // closed by Hold's release; nil when not holding
	arrived chan struct{}
	served  atomic.Int64
}

// Start starts an issuer publishing keys.
func Start(keys ...Key) *Issuer {
	iss := &Issuer{keys: keys}
	iss.Server = httptest.NewServer(http.HandlerFunc(iss.serve))
	iss.URL = iss.Server.URL
	return iss
}

// Close stops the server.
func (iss *Issuer) Close() { iss.Server.Close() }

// JWKSURL is the URL of the published key set.
func (iss *Issuer) JWKSURL() string { return iss.URL + JWKSPath }

// SetKeys replaces the published keys (rotation).
func (iss *Issuer) SetKeys(keys ...Key) {
	iss.mu.Lock()
	iss.keys = keys
	iss.mu.Unlock()
}

// AddRawJWK publishes an extra JWK verbatim, e.g. a symmetric key an
// attacker would love the gateway to trust.
func (iss *Issuer) AddRawJWK(raw string) {
	iss.mu.Lock()
	iss.extra = append(iss.extra, json.RawMessage(raw))
	iss.mu.Unlock()
}

// SetDown makes the JWKS endpoint answer 503 (true) or serve again (false).
func (iss *Issuer) SetDown(down bool) {
	iss.mu.Lock()
	iss.down = down
	iss.mu.Unlock()
}

// Hold makes JWKS requests wait until release is called, so a test can
// act while a fetch is in flight. arrived receives once per held request
// as it arrives (up to 64 of them are buffered).
func (iss *Issuer) Hold() (arrived <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{}, 64)
	iss.mu.Lock()
	iss.held, iss.arrived = gate, in
	iss.mu.Unlock()
	var once sync.Once
	return in, func() {
		once.Do(func() {
			iss.mu.Lock()
			iss.held = nil
			iss.mu.Unlock()
			close(gate)
		})
	}
}

// Served counts JWKS responses with status 200.
func (iss *Issuer) Served() int64 { return iss.served.Load() }

func (iss *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != JWKSPath {
		http.NotFound(w, r)
		return
	}
	iss.mu.Lock()
	held, arrived := iss.held, iss.arrived
	iss.mu.Unlock()
	if held != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	iss.mu.Lock()
	down, keys, extra := iss.down, append([]Key(nil), iss.keys...), append([]json.RawMessage(nil), iss.extra...)
	iss.mu.Unlock()
	if down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	var out struct {
		Keys []any `json:"keys"`
	}
	for _, k := range keys {
		pub, err := k.Public()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Keys = append(out.Keys, pub)
	}
	for _, e := range extra {
		out.Keys = append(out.Keys, e)
	}
	iss.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Claims returns Better Auth-shaped claims for sub, issued now and expiring
// in 15 minutes.
func (iss *Issuer) Claims(sub string, now time.Time) map[string]any {
	return map[string]any{
		"sub":           sub,
		"iss":           iss.URL,
		"aud":           iss.URL,
		"iat":           now.Unix(),
		"exp":           now.Add(15 * time.Minute).Unix(),
		"id":            sub,
		"email":         sub + "@example.test",
		"name":          "Test User",
		"emailVerified": true,
	}
}

// Mint signs claims with k, with a header like Better Auth's: alg and kid,
// no typ.
func Mint(k Key, claims map[string]any) string {
	return MintWithHeader(k, claims, nil)
}

// MintWithHeader signs claims with k after adding extra protected header
// fields (which may override kid or add jku, jwk, ...).
func MintWithHeader(k Key, claims map[string]any, extra map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.ID); err != nil {
		panic(err)
	}
	for name, v := range extra {
		if err := hdr.Set(name, v); err != nil {
			panic(fmt.Sprintf("testissuer: header %s: %v", name, err))
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.Alg, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		panic(err)
	}
	return string(tok)
}

// MintRaw signs claims with k under exactly header (serialised as given,
// so it may carry fields jwx would refuse to set).
func MintRaw(k Key, header map[string]any, claims any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return MintBytes(k, h, p)
}

// MintBytes signs the JSON texts header and claims with k byte for byte (so
// they may name a member twice, or spell a name in another case).
func MintBytes(k Key, header, claims []byte) string {
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	signer, err := jws.NewSigner(k.Alg)
	if err != nil {
		panic(err)
	}
	sig, err := signer.Sign([]byte(input), k.Private)
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
