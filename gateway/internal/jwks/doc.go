// Package jwks keeps the verification keys of Better Auth's JWKS in memory.
//
// It closes the traps docs/token-contract.md lists for jwx's jwk.Cache, which it does not
// use: the first fetch is explicit and retried until it succeeds (Start);
// every fetch — first, scheduled, or for an unknown kid — is one shared
// flight that whoever needs fresh keys joins, so concurrent callers for a new
// kid all get the answer of one fetch (jwk.Cache's scheduled refresh cannot
// be joined); fetches for unknown kids start at most once per
// MinRefreshInterval; a failed fetch never replaces the last good keys; and
// every key is pinned to exactly one signature algorithm, inferred from
// kty/crv when the JWK has no "alg". jwx parses the JWKS and the keys.
package jwks
