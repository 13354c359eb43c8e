package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"
)

// redisRetry is how long the Store leaves Redis alone after a failure before
// one request probes it again; meanwhile every decision is local.
const redisRetry = 2 * time.Second

// Store holds the limiters' state: in memory, or in Redis with the memory
// as fallback. One Store serves every Limiter of a process.
type Store struct {
	mem   *memoryStore
	redis *redisStore // nil: memory only
	log   *slog.Logger
	now   func() time.Time
	retry time.Duration
	seed  maphash.Seed // of memKey

	// downUntil is 0 while Redis is healthy, else the unix-nano time before
	// which no request tries Redis. The request that moves it forward is
	// the single probe.
	downUntil atomic.Int64
}

// NewStore returns a Store for cfg. With a RedisURL it pings Redis once and,
// if Redis does not answer, starts degraded (local limits) rather than
// refusing to start: the limiter must never take the gateway down.
func NewStore(cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	s := &Store{mem: newMemoryStore(maxKeys), log: log, now: time.Now, retry: redisRetry, seed: maphash.MakeSeed()}
	if cfg.RedisURL == "" {
		return s, nil
	}
	timeout := cfg.RedisTimeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	rs, err := newRedisStore(cfg.RedisURL, timeout)
	if err != nil {
		return nil, err
	}
	s.redis = rs
	if err := rs.ping(context.Background()); err != nil {
		s.markDown(err)
	}
	return s, nil
}

// Close releases the Redis connections.
func (s *Store) Close() error {
	if s.redis == nil {
		return nil
	}
	return s.redis.close()
}

// Degraded reports whether decisions are currently local because Redis is
// configured but not answering.
func (s *Store) Degraded() bool { return s.redis != nil && s.downUntil.Load() != 0 }

// allow decides one request of limiter's key under r at now: in Redis when
// it is healthy (Redis uses its own clock), else in memory. With peek the
// request is decided but not counted. It never fails.
func (s *Store) allow(ctx context.Context, limiter, key string, r Rate, now time.Time, peek bool) Decision {
	if s.redis != nil && s.tryRedis(now) {
		d, err := s.redis.allow(ctx, storeKey(limiter, key), r, peek)
		if err == nil {
			s.markUp()
			return d
		}
		// A caller that gave up (client gone) says nothing about Redis.
		if ctx.Err() == nil {
			s.markDown(err)
		}
	}
	if peek {
		return s.mem.peek(s.memKey(limiter, key), r, now)
	}
	return s.mem.allow(s.memKey(limiter, key), r, now)
}

// memKey is the in-memory key of limiter's key: a 64-bit hash with a seed
// chosen at start, so a client can neither predict nor aim at collisions
// (one would only make two keys share a bucket).
func (s *Store) memKey(limiter, key string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(limiter)
	h.WriteByte(0)
	h.WriteString(key)
	return h.Sum64()
}

// tryRedis reports whether this request should ask Redis: always while it is
// healthy; while it is down, only the one request that claims the next probe.
func (s *Store) tryRedis(now time.Time) bool {
	until := s.downUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return s.downUntil.CompareAndSwap(until, now.Add(s.retry).UnixNano())
}

func (s *Store) markDown(err error) {
	next := s.now().Add(s.retry).UnixNano()
	if s.downUntil.Swap(next) == 0 {
		s.log.Warn("rate limit: Redis unavailable; each replica limits on its own until it answers",
			"error", err.Error(), "retry_every", s.retry.String())
	}
}

func (s *Store) markUp() {
	if s.downUntil.Swap(0) != 0 {
		s.log.Info("rate limit: Redis answers again; limits are shared")
	}
}

// storeKey namespaces key under the limiter's name and hashes it, so the
// state holds neither user ids nor addresses and every key has one size.
func storeKey(limiter, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "gatehouse:ratelimit:" + limiter + ":" + hex.EncodeToString(sum[:16])
}
