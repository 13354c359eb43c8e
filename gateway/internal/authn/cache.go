package authn

import (
	"sync"
	"time"
)

// tokenCache remembers verified tokens by the SHA-256 of their text. It is
// bounded: when full, expired entries go first, then arbitrary ones. An
// entry lives until its token's exp (plus leeway) and is dropped when its
// kid leaves the JWKS.
type tokenCache struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]Principal
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[32]byte]Principal, min(max, 1024))}
}

func (c *tokenCache) get(sum [32]byte, now time.Time, leeway time.Duration) (Principal, bool) {
	c.mu.RLock()
	p, ok := c.m[sum]
	c.mu.RUnlock()
	if !ok {
		return Principal{}, false
	}
	if !now.Before(p.Expiry.Add(leeway)) {
		c.mu.Lock()
		delete(c.m, sum)
		c.mu.Unlock()
		return Principal{}, false
	}
	return p, true
}

func (c *tokenCache) put(sum [32]byte, p Principal, leeway time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.evict(time.Now(), leeway)
	}
	c.m[sum] = p
}

// evict frees room: every expired entry, or failing that one eighth of the
// cache chosen by map iteration order (effectively random).
func (c *tokenCache) evict(now time.Time, leeway time.Duration) {
	for k, p := range c.m {
		if !now.Before(p.Expiry.Add(leeway)) {
			delete(c.m, k)
		}
	}
	drop := len(c.m) - c.max + max(c.max/8, 1)
	for k := range c.m {
		if drop <= 0 {
			break
		}
		delete(c.m, k)
		drop--
	}
}

func (c *tokenCache) forgetKids(kids []string) {
	gone := make(map[string]bool, len(kids))
	for _, k := range kids {
		gone[k] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, p := range c.m {
		if p.KeyID != "" && gone[p.KeyID] {
			delete(c.m, k)
		}
	}
}

// size is the number of cached tokens.
func (c *tokenCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// CachedTokens reports how many verified tokens the cache holds.
func (a *Authenticator) CachedTokens() int {
	if a.cache == nil {
		return 0
	}
	return a.cache.size()
}
