package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPeekCountsNothing: PeekAt decides as AllowAt would without counting
// the request, in memory and in Redis, so a budget that only failures draw
// from (the gateway's failure budget) can be checked before the work.
func TestPeekCountsNothing(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			s := mustMemoryStore(t)
			if store == "redis" {
				s = mustRedisStore(t, redisAddr(t), time.Second)
			}
			lim := New(uniqueName(t), Rate{PerSecond: 0.01, Burst: 3}, s)
			ctx := context.Background()
			var got []bool
			for range 10 {
				d := lim.PeekAt(ctx, "key", time.Now())
				if d.Shared != (store == "redis") {
					t.Fatalf("decision %+v not made by the %s store", d, store)
				}
				got = append(got, d.Allowed)
			}
			for range 3 {
				got = append(got, lim.AllowAt(ctx, "key", time.Now()).Allowed)
			}
			d := lim.PeekAt(ctx, "key", time.Now())
			got = append(got, d.Allowed)
			if fmt.Sprint(got) != fmt.Sprint([]bool{true, true, true, true, true, true, true, true, true, true, true, true, true, false}) {
				t.Fatalf("ten peeks, three requests, a peek: %v; want the peeks free and the last refused", got)
			}
			if d.RetryAfter <= 0 {
				t.Fatalf("refused peek without a retry time: %+v", d)
			}
		})
	}
}
