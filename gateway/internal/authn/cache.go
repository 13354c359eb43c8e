package authn

import (
	"sync"
	"time"
)

// tokenCache remembers verified tokens. It is keyed by the token text
// itself, as Envoy's jwt_authn cache is: a lookup hashes the request's token
// bytes with the runtime's seeded hash and compares them in full, which
// costs a fraction of a cryptographic digest and copies nothing (a map
// indexed by string(bytes) does not convert; a sync.Map, whose keys are
// interfaces, would copy the token on every lookup). (The full comparison
// is not constant-time, but a caller cannot choose which cached token its
// guess is compared with: that is decided by a per-process random hash
// seed.) Lookups share a read lock; put, evict and forgetKids take it
// alone.
//
// It is bounded twice: by entries and by the bytes of token text held. When
// either bound is reached, expired entries go first, then arbitrary ones. An
// entry lives until its token's exp plus leeway and is dropped when its kid
// leaves the JWKS.
type tokenCache struct {
	max      int
	maxBytes int

	mu    sync.RWMutex
	m     map[string]*cached // token text → entry
	bytes int                // token text held
}

type cached struct {
	p     Principal
	until int64 // exp + leeway, Unix nanoseconds
}

// defaultCacheBytes bounds the token text a cache holds (Better Auth tokens
// are 0.5–1.5 KiB, so this is above 10,000 tokens of the usual size).
const defaultCacheBytes = 16 << 20

func newTokenCache(max, maxBytes int) *tokenCache {
	return &tokenCache{max: max, maxBytes: maxBytes, m: make(map[string]*cached)}
}

// get returns the principal of a cached, unexpired token. The Principal is
// shared: callers must not modify it.
func (c *tokenCache) get(token []byte, now time.Time) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[string(token)]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if now.UnixNano() >= e.until {
		c.mu.Lock()
		if c.m[string(token)] == e {
			c.drop(string(token))
		}
		c.mu.Unlock()
		return nil, false
	}
	return &e.p, true
}

// put caches p for token and returns the cached copy.
func (c *tokenCache) put(token string, p Principal, leeway time.Duration) *Principal {
	e := &cached{p: p, until: p.Expiry.Add(leeway).UnixNano()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; !ok {
		if len(c.m) >= c.max || c.bytes+len(token) > c.maxBytes {
			c.evict(time.Now(), len(token))
		}
		c.bytes += len(token)
	}
	c.m[token] = e
	return &e.p
}

// drop deletes token; c.mu must be held for writing.
func (c *tokenCache) drop(token string) {
	if _, ok := c.m[token]; ok {
		delete(c.m, token)
		c.bytes -= len(token)
	}
}

// evict frees room for one more token of size n: every expired entry, then,
// while a bound would still be exceeded, one eighth of the cache chosen by
// map iteration order (effectively random). c.mu must be held for writing.
func (c *tokenCache) evict(now time.Time, n int) {
	t := now.UnixNano()
	for k, e := range c.m {
		if t >= e.until {
			c.drop(k)
		}
	}
	full := func() bool { return len(c.m) >= c.max || c.bytes+n > c.maxBytes }
	if !full() {
		return
	}
	drop := max(len(c.m)/8, 1)
	for k := range c.m {
		if drop <= 0 && !full() {
			return
		}
		c.drop(k)
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
	for k, e := range c.m {
		if id := e.p.KeyID; id != "" && gone[id] {
			c.drop(k)
		}
	}
}

// size is the number of cached tokens and the bytes of their text.
func (c *tokenCache) size() (n, bytes int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m), c.bytes
}

// CachedTokens reports how many verified tokens the cache holds.
func (a *Authenticator) CachedTokens() int {
	if a.cache == nil {
		return 0
	}
	n, _ := a.cache.size()
	return n
}
