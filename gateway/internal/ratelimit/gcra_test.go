package ratelimit

import (
	"hash/maphash"
	"strconv"
	"testing"
	"time"
)

func TestGCRA(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	rate := Rate{PerSecond: 10, Burst: 3} // one request per 100 ms, 3 at once
	type step struct {
		at        time.Duration // since start
		allowed   bool
		remaining int
		retry     time.Duration
	}
	for _, tc := range []struct {
		desc  string
		steps []step
	}{
		{"a full bucket allows the burst, then refuses", []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, 100 * time.Millisecond},
		}},
		{"a refusal costs nothing: the retry time does not grow", []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{0, false, 0, 100 * time.Millisecond}, {0, false, 0, 100 * time.Millisecond},
			{40 * time.Millisecond, false, 0, 60 * time.Millisecond},
		}},
		{"one interval later one more request passes", []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{100 * time.Millisecond, true, 0, 0}, {100 * time.Millisecond, false, 0, 100 * time.Millisecond},
		}},
		{"an idle key refills to the burst, never beyond", []step{
			{0, true, 2, 0}, {time.Hour, true, 2, 0}, {time.Hour, true, 1, 0}, {time.Hour, true, 0, 0}, {time.Hour, false, 0, 100 * time.Millisecond},
		}},
		{"the sustained rate is the configured one", []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{100 * time.Millisecond, true, 0, 0}, {200 * time.Millisecond, true, 0, 0}, {300 * time.Millisecond, true, 0, 0},
			{350 * time.Millisecond, false, 0, 50 * time.Millisecond},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var tat time.Time
			for i, s := range tc.steps {
				d, next := gcra(tat, start.Add(s.at), rate)
				if d.Allowed != s.allowed || d.Remaining != s.remaining || d.RetryAfter != s.retry {
					t.Fatalf("step %d at %s: allowed=%v remaining=%d retry=%s, want %v %d %s",
						i, s.at, d.Allowed, d.Remaining, d.RetryAfter, s.allowed, s.remaining, s.retry)
				}
				if d.Limit != rate.Burst {
					t.Fatalf("step %d: limit %d, want %d", i, d.Limit, rate.Burst)
				}
				if d.Allowed {
					tat = next
				}
			}
		})
	}
}

func TestMemoryStoreIsBounded(t *testing.T) {
	s := newMemoryStore(3)
	st := &Store{seed: maphash.MakeSeed()}
	key := func(k string) uint64 { return st.memKey("test", k) }
	rate := Rate{PerSecond: 1, Burst: 1}
	now := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b", "c"} {
		if !s.allow(key(k), rate, now).Allowed {
			t.Fatalf("first request of %s refused", k)
		}
	}
	// a is refused, which counts as a use: b is now the least recently
	// used and is the one forgotten when d arrives. (A refused client that
	// were forgotten first could churn itself a fresh bucket.)
	if s.allow(key("a"), rate, now).Allowed {
		t.Fatal("second request of a within a second allowed")
	}
	if !s.allow(key("d"), rate, now).Allowed {
		t.Fatal("first request of d refused")
	}
	if got := s.len(); got != 3 {
		t.Fatalf("%d keys remembered, want at most 3", got)
	}
	if s.allow(key("a"), rate, now).Allowed {
		t.Fatal("a was forgotten although it was used more recently than b")
	}
	if !s.allow(key("b"), rate, now).Allowed {
		t.Fatal("b, the least recently used key, was not the one forgotten")
	}
	for i := range 10_000 {
		s.allow(key(string(rune('A'+i%26))+string(rune(i))), rate, now)
	}
	if got := s.len(); got != 3 {
		t.Fatalf("after 10000 keys %d are remembered, want 3", got)
	}
}

// A full store reuses the slot of a forgotten key: steady traffic of new
// keys (churn) allocates nothing, and neither does a known key.
func TestFullMemoryStoreAllocatesNothing(t *testing.T) {
	s := newMemoryStore(1000)
	rate := Rate{PerSecond: 1, Burst: 1}
	now := time.Unix(1_700_000_000, 0)
	for i := range uint64(1000) {
		s.allow(i, rate, now)
	}
	next := uint64(1000)
	if a := testing.AllocsPerRun(1000, func() { s.allow(next, rate, now); next++ }); a != 0 {
		t.Errorf("a new key in a full store: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { s.allow(next-1, rate, now) }); a != 0 {
		t.Errorf("a known key: %v allocations, want 0", a)
	}
	if got := s.len(); got != 1000 {
		t.Fatalf("%d keys remembered, want 1000", got)
	}
}

func TestStoreKeyHidesTheKey(t *testing.T) {
	k := storeKey("user", "user-42@example.com")
	if want := "gatehouse:ratelimit:user:"; k[:len(want)] != want {
		t.Fatalf("storeKey = %q, want prefix %q", k, want)
	}
	if got := storeKey("user", "user-42@example.com"); got != k {
		t.Fatal("storeKey is not deterministic")
	}
	for _, other := range []string{storeKey("ip", "user-42@example.com"), storeKey("user", "user-43@example.com")} {
		if other == k {
			t.Fatalf("different limiter or key gave the same store key %q", k)
		}
	}
	if len(storeKey("user", string(make([]byte, 10_000)))) != len(k) {
		t.Fatal("store keys vary in size with the key")
	}
}

func TestShardedMemoryStoreIsBounded(t *testing.T) {
	const maxKeys = 20_000
	s := newMemoryStore(maxKeys)
	if len(s.shards) < 2 {
		t.Fatalf("%d keys in %d shard(s); a large store is split", maxKeys, len(s.shards))
	}
	st := &Store{seed: maphash.MakeSeed()}
	rate := Rate{PerSecond: 1, Burst: 1}
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 * maxKeys {
		s.allow(st.memKey("user", strconv.Itoa(i)), rate, now)
	}
	if got := s.len(); got != maxKeys {
		t.Fatalf("after %d keys %d are remembered, want %d", 3*maxKeys, got, maxKeys)
	}
	// The most recent key of every shard is still limited.
	if s.allow(st.memKey("user", strconv.Itoa(3*maxKeys-1)), rate, now).Allowed {
		t.Fatal("the most recently used key was forgotten")
	}
}
