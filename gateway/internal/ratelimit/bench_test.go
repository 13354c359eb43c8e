package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// go test -run '^$' -bench . ./internal/ratelimit/

func BenchmarkMemoryAllow(b *testing.B) {
	s, err := NewStore(Config{MaxKeys: 100_000}, nil)
	if err != nil {
		b.Fatal(err)
	}
	lim := New("user", Rate{PerSecond: 1e6, Burst: 1000}, s)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lim.Allow(ctx, keys[i%len(keys)])
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	s, err := NewStore(Config{RedisURL: "redis://127.0.0.1:6379/0", RedisTimeout: time.Second, MaxKeys: 1000}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if s.Degraded() {
		testenv.Missing(b, "no Redis at 127.0.0.1:6379")
	}
	lim := New("bench"+strconv.FormatInt(time.Now().UnixNano(), 10), Rate{PerSecond: 1e6, Burst: 1000}, s)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if d := lim.Allow(ctx, "user-"+strconv.Itoa(i%1024)); !d.Shared {
			b.Fatal("decision not made by Redis")
		}
	}
}
