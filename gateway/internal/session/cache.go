package session

import (
	"crypto/sha256"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	lru "github.com/hashicorp/golang-lru/v2"
)

// key identifies a session in the cache and among flights: SHA-256 of the
// cookie's name and value. The cookie itself is never kept, so a heap dump
// or a debugger shows no usable session token.
type key [sha256.Size]byte

func keyOf(c Cookie) key {
	h := sha256.New()
	h.Write([]byte(c.Name))
	h.Write([]byte{0})
	h.Write(c.Value)
	var k key
	h.Sum(k[:0])
	return k
}

// entry is one remembered answer: the principal of the verified JWT, or the
// error that refused the session, until the instant until.
type entry struct {
	p     *authn.Principal
	err   error
	until time.Time
}

// cache remembers exchanges. Accepted sessions and refusals are kept apart,
// each bounded by size with least-recently-used eviction, so refusals
// (which anyone can cause by inventing cookies) never evict a session.
type cache struct {
	ok      *lru.Cache[key, entry]
	refused *lru.Cache[key, entry]
}

func newCache(size int) *cache {
	ok, err := lru.New[key, entry](size)
	if err != nil {
		panic(err) // only for size <= 0, which Config rules out
	}
	refused, _ := lru.New[key, entry](size)
	return &cache{ok: ok, refused: refused}
}

// get returns the unexpired entry for k. An expired entry is removed.
func (c *cache) get(k key, now time.Time) (entry, bool) {
	for _, l := range []*lru.Cache[key, entry]{c.ok, c.refused} {
		if e, ok := l.Get(k); ok {
			if now.Before(e.until) {
				return e, true
			}
			l.Remove(k)
		}
	}
	return entry{}, false
}

// put remembers e for k in the cache its kind belongs to, and forgets any
// earlier answer of the other kind.
func (c *cache) put(k key, e entry) {
	if e.err == nil {
		c.refused.Remove(k)
		c.ok.Add(k, e)
		return
	}
	c.ok.Remove(k)
	c.refused.Add(k, e)
}

// len returns the number of accepted and refused sessions held.
func (c *cache) len() (ok, refused int) { return c.ok.Len(), c.refused.Len() }
