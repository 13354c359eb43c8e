// Package authn decides who a request is: it extracts the bearer token,
// verifies it against Better Auth's JWKS with the algorithm pinned to the
// key (or, opt-in, HS256 with a shared secret), applies the claim rules of
// docs/token-contract.md and remembers verified tokens until they expire.
//
// Verify returns a Principal, or an error that is ErrNoToken,
// ErrKeysUnavailable, a context error, or a *TokenError whose Reason is safe
// to log and to show in WWW-Authenticate.
package authn
