package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// SupportedAlgorithms are the asymmetric algorithms Better Auth can issue.
var SupportedAlgorithms = []jwa.SignatureAlgorithm{jwa.EdDSA, jwa.ES256, jwa.ES512, jwa.RS256, jwa.PS256}

// Key is one public verification key, pinned to the single algorithm it may
// verify.
type Key struct {
	ID  string
	Alg jwa.SignatureAlgorithm
	// Public is the raw public key: ed25519.PublicKey, *ecdsa.PublicKey or
	// *rsa.PublicKey.
	Public any
}

// minRSABits rejects RSA keys too small to be trusted.
const minRSABits = 2048

// pin turns a JWK into a Key. It fails for keys without kid, private or
// symmetric keys, keys not meant for signatures, an algorithm that is not in
// allowed, and an "alg" that contradicts the key type or curve.
func pin(k jwk.Key, allowed map[jwa.SignatureAlgorithm]bool) (Key, error) {
	kid := k.KeyID()
	if kid == "" {
		return Key{}, errors.New("key has no kid")
	}
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return Key{}, fmt.Errorf("kid %q: use %q is not \"sig\"", kid, u)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return Key{}, fmt.Errorf("kid %q: %w", kid, err)
	}
	inferred, err := inferAlg(raw)
	if err != nil {
		return Key{}, fmt.Errorf("kid %q: %w", kid, err)
	}
	alg := inferred
	if a := k.Algorithm(); a != nil && a.String() != "" {
		declared := jwa.SignatureAlgorithm(a.String())
		if !compatible(declared, inferred) {
			return Key{}, fmt.Errorf("kid %q: alg %q does not fit the key type", kid, declared)
		}
		alg = declared
	}
	if !allowed[alg] {
		return Key{}, fmt.Errorf("kid %q: algorithm %q is not allowed", kid, alg)
	}
	return Key{ID: kid, Alg: alg, Public: raw}, nil
}

// inferAlg returns the algorithm a key without "alg" is pinned to: Ed25519 →
// EdDSA, P-256 → ES256, P-384 → ES384, P-521 → ES512, RSA → RS256.
func inferAlg(raw any) (jwa.SignatureAlgorithm, error) {
	switch pub := raw.(type) {
	case ed25519.PublicKey:
		return jwa.EdDSA, nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return jwa.ES256, nil
		case elliptic.P384():
			return jwa.ES384, nil
		case elliptic.P521():
			return jwa.ES512, nil
		}
		return "", errors.New("unsupported elliptic curve")
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, need at least %d", pub.N.BitLen(), minRSABits)
		}
		return jwa.RS256, nil
	}
	return "", fmt.Errorf("%T is not a public signature key", raw)
}

// compatible reports whether declared may be used with a key whose type
// implies inferred. RSA keys may declare any RSA signature algorithm.
func compatible(declared, inferred jwa.SignatureAlgorithm) bool {
	if declared == inferred {
		return true
	}
	if inferred == jwa.RS256 {
		switch declared {
		case jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return true
		}
	}
	return false
}
