package ratelimit

import (
	"sync"
	"time"
)

// memoryStore keeps each key's theoretical arrival time in memory, at most
// maxKeys keys. Past that a key that has not been used for a while is
// forgotten (CLOCK, the approximation of least-recently-used that page
// caches use), which gives that key a full bucket again: memory stays
// bounded under key churn, at the price of a looser limit for keys idle
// while many others were used.
//
// Keys are 64-bit hashes (see Store.memKey), so an entry has one small size
// whatever the user id, and the store is split into shards by hash, each
// with its own lock and its own share of maxKeys, so that concurrent requests
// of different users rarely wait for each other. Recency is per shard.
// Entries hold no pointers and are reused in place: a request allocates
// nothing, and the garbage collector has nothing to scan.
type memoryStore struct {
	shards []memoryShard
	// epoch is the origin of the stored times; taken with a monotonic
	// clock reading, so that the limits do not move when the wall clock is
	// stepped.
	epoch time.Time
}

type memoryShard struct {
	mu    sync.Mutex
	max   int
	index map[uint64]int32 // key → its slot
	slots []memorySlot     // at most max
	hand  int              // CLOCK hand: the next slot to consider for reuse
	_     [40]byte         // keeps neighbouring shards' locks off one cache line
}

type memorySlot struct {
	key  uint64
	tat  time.Duration // since the store's epoch
	used bool          // used since the hand last passed
}

// keysPerShard is the fewest keys a shard holds: smaller stores are not
// split, so their recency stays as exact as CLOCK makes it.
const keysPerShard = 1024

func newMemoryStore(maxKeys int) *memoryStore {
	n := min(max(maxKeys/keysPerShard, 1), 16)
	s := &memoryStore{shards: make([]memoryShard, n), epoch: time.Now()}
	for i := range s.shards {
		share := maxKeys / n
		if i < maxKeys%n {
			share++
		}
		s.shards[i] = memoryShard{max: share, index: make(map[uint64]int32)}
	}
	return s
}

func (s *memoryStore) allow(key uint64, r Rate, now time.Time) Decision {
	sh := &s.shards[key%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, found := sh.index[key]
	var tat time.Time
	if found {
		tat = s.epoch.Add(sh.slots[i].tat)
	}
	d, next := gcra(tat, now, r)
	if found {
		// A refused key is marked used too: otherwise a client being
		// refused would be among the first forgotten, and could churn
		// itself a new bucket.
		slot := &sh.slots[i]
		slot.used = true
		if d.Allowed {
			slot.tat = next.Sub(s.epoch)
		}
		return d
	}
	if d.Allowed {
		sh.insert(key, next.Sub(s.epoch))
	}
	return d
}

// peek is allow without counting the request: nothing is stored.
func (s *memoryStore) peek(key uint64, r Rate, now time.Time) Decision {
	sh := &s.shards[key%uint64(len(s.shards))]
	sh.mu.Lock()
	var tat time.Time
	if i, found := sh.index[key]; found {
		tat = s.epoch.Add(sh.slots[i].tat)
	}
	sh.mu.Unlock()
	d, _ := gcra(tat, now, r)
	return d
}

// insert remembers a new key, reusing the slot of one not used since the
// hand last passed it when the shard is full. sh.mu must be held.
func (sh *memoryShard) insert(key uint64, tat time.Duration) {
	if len(sh.slots) < sh.max {
		sh.index[key] = int32(len(sh.slots))
		sh.slots = append(sh.slots, memorySlot{key: key, tat: tat})
		return
	}
	// Every slot passed loses its mark, so the hand stops within one turn.
	for sh.slots[sh.hand].used {
		sh.slots[sh.hand].used = false
		sh.hand = (sh.hand + 1) % len(sh.slots)
	}
	slot := &sh.slots[sh.hand]
	delete(sh.index, slot.key)
	*slot = memorySlot{key: key, tat: tat}
	sh.index[key] = int32(sh.hand)
	sh.hand = (sh.hand + 1) % len(sh.slots)
}

// len reports how many keys are remembered.
func (s *memoryStore) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.index)
		sh.mu.Unlock()
	}
	return n
}
