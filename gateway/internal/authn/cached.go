package authn

import "time"

// Cached returns the principal of a token verified before and still valid
// at now, from the verified-token cache, without verifying anything. ok is
// false when the token is not in the cache (or the cache is off): a caller
// that limits the cost of verification (the gateway's failure budget)
// knows that VerifyAt would check a signature.
func (a *Authenticator) Cached(token []byte, now time.Time) (p *Principal, ok bool) {
	if a.cache == nil || len(token) > a.maxTokenB {
		return nil, false
	}
	return a.cache.get(token, now)
}
