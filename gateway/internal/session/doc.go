// Package session is the gateway's session mode. A browser on the same site
// as the gateway carries Better Auth's own session cookie
// (better-auth.session_token, or __Secure-better-auth.session_token over
// HTTPS); when a request to the API has no bearer token, the gateway
// exchanges that cookie, server-side, for the user's JWT at Better Auth
// (GET {AUTH_UPSTREAM_URL}/api/auth/token), verifies the JWT like any other
// and signs the identity from it. A frontend then needs no token code.
//
// An exchange is remembered for a short lifetime (SESSION_CACHE_TTL, never
// past the JWT's exp), so a sign-out takes effect within that lifetime.
// The cache is bounded, keyed by SHA-256 of the cookie (the session token is
// never kept), and there is at most one exchange in flight per session.
// Better Auth's refusals (401, 403: signed out, expired, forged) are
// remembered for the same lifetime in a cache of their own, so a flood of
// forged cookies cannot push real sessions out.
//
// Cookies that no one has seen before cost an upstream call each, before
// the request is authenticated, so those calls are bounded independently of
// the traffic: a token bucket over every exchange of this replica
// (SESSION_EXCHANGE_RPS, SESSION_EXCHANGE_BURST) and a cap on exchanges in
// flight (SESSION_EXCHANGE_CONCURRENCY). Past either, and while Better Auth
// is unreachable or failing, a session not in the cache is ErrUnavailable
// (503 with Retry-After); cached sessions keep working until their entry
// expires.
//
// The exchange request carries nothing of the client's but the one session
// cookie (and the client address the gateway decided, as X-Forwarded-For,
// for Better Auth's own per-address limits); it goes to the configured URL
// only, follows no redirect, and its answer is read up to 64 KiB within
// SESSION_EXCHANGE_TIMEOUT.
package session
