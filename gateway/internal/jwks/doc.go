// Package jwks keeps the verification keys of Better Auth's JWKS in memory.
//
// It wraps lestrrat-go/jwx's jwk.Cache and closes the traps DESIGN.md lists:
// the first fetch is explicit and retried until it succeeds (Start); an
// unknown kid triggers a refetch through a single flight that runs at most
// once per MinRefreshInterval (Key); a failed fetch never replaces the last
// good keys; and every key is pinned to exactly one signature algorithm,
// inferred from kty/crv when the JWK has no "alg".
package jwks
