package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// memoryStore keeps each key's theoretical arrival time in memory, at most
// max keys. Past that the least recently used key is forgotten, which gives
// that key a full bucket again: memory stays bounded under key churn, at the
// price of a looser limit for keys idle longer than max others.
type memoryStore struct {
	mu    sync.Mutex
	max   int
	keys  map[string]*list.Element
	order *list.List // front: most recently used
}

type memoryEntry struct {
	key string
	tat time.Time
}

func newMemoryStore(max int) *memoryStore {
	return &memoryStore{max: max, keys: make(map[string]*list.Element), order: list.New()}
}

func (s *memoryStore) allow(key string, r Rate, now time.Time) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, found := s.keys[key]
	var tat time.Time
	if found {
		tat = el.Value.(*memoryEntry).tat
	}
	d, next := gcra(tat, now, r)
	if found {
		// A refused key is touched too: otherwise a client being refused
		// would be the first forgotten, and could churn itself a new bucket.
		s.order.MoveToFront(el)
		if d.Allowed {
			el.Value.(*memoryEntry).tat = next
		}
		return d
	}
	if !d.Allowed {
		return d
	}
	s.keys[key] = s.order.PushFront(&memoryEntry{key: key, tat: next})
	for s.order.Len() > s.max {
		oldest := s.order.Back()
		s.order.Remove(oldest)
		delete(s.keys, oldest.Value.(*memoryEntry).key)
	}
	return d
}

// len reports how many keys are remembered.
func (s *memoryStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
