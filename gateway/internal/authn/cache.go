package authn

import (
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers verified tokens. It is keyed by the token text
// itself, as Envoy's jwt_authn cache is: a lookup hashes the request's token
// bytes with the runtime's seeded hash and compares them in full, which
// costs a fraction of a cryptographic digest and copies nothing. (The full
// comparison is not constant-time, but a caller cannot choose which cached
// token its guess is compared with: that is decided by a per-process random
// hash seed.) Lookups take no lock and write no shared memory (sync.Map), so
// requests on different cores do not contend; writers are serialised.
//
// It is bounded twice: by entries and by the bytes of token text held. When
// either bound is reached, expired entries go first, then arbitrary ones. An
// entry lives until its token's exp plus leeway and is dropped when its kid
// leaves the JWKS.
type tokenCache struct {
	m        sync.Map // token text (string) → *cached
	max      int
	maxBytes int

	mu    sync.Mutex // serialises put, evict and forgetKids
	n     atomic.Int64
	bytes atomic.Int64
}

type cached struct {
	p     Principal
	until int64 // exp + leeway, Unix nanoseconds
}

// defaultCacheBytes bounds the token text a cache holds (Better Auth tokens
// are 0.5–1.5 KiB, so this is above 10,000 tokens of the usual size).
const defaultCacheBytes = 16 << 20

func newTokenCache(max, maxBytes int) *tokenCache {
	return &tokenCache{max: max, maxBytes: maxBytes}
}

// get returns the principal of a cached, unexpired token. The Principal is
// shared: callers must not modify it.
func (c *tokenCache) get(token []byte, now time.Time) (*Principal, bool) {
	v, ok := c.m.Load(string(token))
	if !ok {
		return nil, false
	}
	e := v.(*cached)
	if now.UnixNano() >= e.until {
		c.mu.Lock()
		if c.m.CompareAndDelete(string(token), e) {
			c.n.Add(-1)
			c.bytes.Add(-int64(len(token)))
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
	if _, ok := c.m.Load(token); !ok {
		if int(c.n.Load()) >= c.max || int(c.bytes.Load())+len(token) > c.maxBytes {
			c.evict(time.Now(), len(token))
		}
		c.n.Add(1)
		c.bytes.Add(int64(len(token)))
	}
	c.m.Store(token, e)
	return &e.p
}

// drop deletes token; c.mu must be held.
func (c *tokenCache) drop(token string) {
	if _, ok := c.m.LoadAndDelete(token); ok {
		c.n.Add(-1)
		c.bytes.Add(-int64(len(token)))
	}
}

// evict frees room for one more token of size n: every expired entry, then,
// while a bound would still be exceeded, one eighth of the cache chosen by
// map iteration order (effectively random). c.mu must be held.
func (c *tokenCache) evict(now time.Time, n int) {
	t := now.UnixNano()
	c.m.Range(func(k, v any) bool {
		if t >= v.(*cached).until {
			c.drop(k.(string))
		}
		return true
	})
	full := func() bool { return int(c.n.Load()) >= c.max || int(c.bytes.Load())+n > c.maxBytes }
	if !full() {
		return
	}
	drop := max(int(c.n.Load())/8, 1)
	c.m.Range(func(k, _ any) bool {
		if drop <= 0 && !full() {
			return false
		}
		c.drop(k.(string))
		drop--
		return true
	})
}

func (c *tokenCache) forgetKids(kids []string) {
	gone := make(map[string]bool, len(kids))
	for _, k := range kids {
		gone[k] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Range(func(k, v any) bool {
		if id := v.(*cached).p.KeyID; id != "" && gone[id] {
			c.drop(k.(string))
		}
		return true
	})
}

// size is the number of cached tokens and the bytes of their text.
func (c *tokenCache) size() (n, bytes int) {
	return int(c.n.Load()), int(c.bytes.Load())
}

// CachedTokens reports how many verified tokens the cache holds.
func (a *Authenticator) CachedTokens() int {
	if a.cache == nil {
		return 0
	}
	n, _ := a.cache.size()
	return n
}
