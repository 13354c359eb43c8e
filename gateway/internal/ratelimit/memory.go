package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// memoryStore keeps each key's theoretical arrival time in memory, at most
// maxKeys keys. Past that the least recently used key is forgotten, which gives
// that key a full bucket again: memory stays bounded under key churn, at the
// price of a looser limit for keys idle longer than max others.
//
// Keys are 64-bit hashes (see Store.memKey), so an entry has one small size
// whatever the user id, and the store is split into shards by hash, each
// with its own lock and its own share of maxKeys, so that concurrent requests
// of different users rarely wait for each other. Recency is per shard.
type memoryStore struct {
	shards []memoryShard
}

type memoryShard struct {
	mu    sync.Mutex
	max   int
	keys  map[uint64]*list.Element
	order *list.List // front: most recently used
	_     [40]byte   // keeps neighbouring shards' locks off one cache line
}

type memoryEntry struct {
	key uint64
	tat time.Time
}

// keysPerShard is the fewest keys a shard holds: smaller stores are not
// split, so their recency stays exact.
const keysPerShard = 1024

func newMemoryStore(maxKeys int) *memoryStore {
	n := min(max(maxKeys/keysPerShard, 1), 16)
	s := &memoryStore{shards: make([]memoryShard, n)}
	for i := range s.shards {
		share := maxKeys / n
		if i < maxKeys%n {
			share++
		}
		s.shards[i] = memoryShard{max: share, keys: make(map[uint64]*list.Element), order: list.New()}
	}
	return s
}

func (s *memoryStore) allow(key uint64, r Rate, now time.Time) Decision {
	sh := &s.shards[key%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, found := sh.keys[key]
	var tat time.Time
	if found {
		tat = el.Value.(*memoryEntry).tat
	}
	d, next := gcra(tat, now, r)
	if found {
		// A refused key is touched too: otherwise a client being refused
		// would be the first forgotten, and could churn itself a new bucket.
		sh.order.MoveToFront(el)
		if d.Allowed {
			el.Value.(*memoryEntry).tat = next
		}
		return d
	}
	if !d.Allowed {
		return d
	}
	sh.keys[key] = sh.order.PushFront(&memoryEntry{key: key, tat: next})
	for sh.order.Len() > sh.max {
		oldest := sh.order.Back()
		sh.order.Remove(oldest)
		delete(sh.keys, oldest.Value.(*memoryEntry).key)
	}
	return d
}

// len reports how many keys are remembered.
func (s *memoryStore) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}
