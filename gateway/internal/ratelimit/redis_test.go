package ratelimit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// redisAddr returns the Redis that CI provides (TEST_REDIS_ADDR, default
// 127.0.0.1:6379). Without one the test skips locally and fails in CI.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		testenv.Missing(t, "no Redis at %s: %v", addr, err)
	}
	return addr
}

// uniqueName gives each test run its own key space in a shared Redis.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("t%d", time.Now().UnixNano())
}

func mustRedisStore(t *testing.T, addr string, timeout time.Duration) *Store {
	t.Helper()
	s, err := NewStore(Config{RedisURL: "redis://" + addr + "/0", RedisTimeout: timeout, MaxKeys: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// countAllowed sends n requests for user, alternating over the replicas,
// and returns how many were allowed. Anything but 200 or 429 fails.
func countAllowed(t *testing.T, replicas []string, user string, n int) int {
	t.Helper()
	allowed := 0
	for i := range n {
		switch r := get(t, replicas[i%len(replicas)], "/api/tasks", testUserHeader, user); r.status {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: status %d %s", i, r.status, r.body)
		}
	}
	return allowed
}

func TestRedisLimitHoldsAcrossReplicas(t *testing.T) {
	addr := redisAddr(t)
	rate := Rate{PerSecond: 0.1, Burst: 5}
	name := uniqueName(t)

	// Two gateway replicas sharing Redis: the user gets the burst once.
	var shared []string
	for range 2 {
		lim := New(name, rate, mustRedisStore(t, addr, time.Second))
		shared = append(shared, serve(t, lim.Middleware(Local("user_id"), HeadersAlways)))
	}
	if got := countAllowed(t, shared, "alice", 12); got != 5 {
		t.Fatalf("shared: %d of 12 allowed across 2 replicas, want 5", got)
	}

	// The control: two replicas with memory state give the burst twice,
	// which is what the shared store exists to prevent.
	var local []string
	for range 2 {
		lim := New(name, rate, mustMemoryStore(t))
		local = append(local, serve(t, lim.Middleware(Local("user_id"), HeadersAlways)))
	}
	if got := countAllowed(t, local, "alice", 12); got != 10 {
		t.Fatalf("memory: %d of 12 allowed across 2 replicas, want 10", got)
	}
}

func TestRedisLimitIsAtomicUnderConcurrency(t *testing.T) {
	addr := redisAddr(t)
	rate := Rate{PerSecond: 0.1, Burst: 10}
	name := uniqueName(t)
	var replicas []string
	for range 2 {
		lim := New(name, rate, mustRedisStore(t, addr, time.Second))
		replicas = append(replicas, serve(t, lim.Middleware(Local("user_id"), HeadersAlways)))
	}
	// 60 requests at once; a read-then-write limiter admits more than the
	// burst here, the script exactly the burst.
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, replicas[i%2]+"/api/tasks", nil)
			req.Header.Set(testUserHeader, "bob")
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}()
	}
	wg.Wait()
	if statuses[200] != 10 || statuses[429] != 50 {
		t.Fatalf("statuses %v, want 10 OK and 50 Too Many Requests", statuses)
	}
}

func TestRedisKeysExpireAndHideTheUser(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	s := mustRedisStore(t, addr, time.Second)
	// 1/s: the key lives a second, long enough to be seen on a loaded
	// machine (at 10/s its 100 ms were sometimes gone before KEYS ran).
	lim := New(name, Rate{PerSecond: 1, Burst: 5}, s)
	d := lim.Allow(context.Background(), "user-carol")
	if !d.Allowed || !d.Shared || d.Remaining != 4 {
		t.Fatalf("decision %+v, want allowed by Redis with 4 left", d)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "gatehouse:ratelimit:"+name+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("keys %v, want one", keys)
	}
	if strings.Contains(keys[0], "carol") {
		t.Fatalf("key %q holds the user id", keys[0])
	}
	// One request at 1/s fills the bucket back in a second: the key must
	// not outlive that.
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Second {
		t.Fatalf("PTTL %s, want (0, 1s]", ttl)
	}
}

func TestRedisGoingAwayDegradesToLocalLimits(t *testing.T) {
	addr := redisAddr(t)
	proxy := startProxy(t, addr)
	// A refused connection fails at once; the timeout only has to outlast
	// a loaded CI machine's round trip to a live Redis.
	const timeout = 500 * time.Millisecond
	s := mustRedisStore(t, proxy.addr, timeout)
	s.retry = 200 * time.Millisecond
	lim := New(uniqueName(t), Rate{PerSecond: 0.1, Burst: 3}, s)
	base := serve(t, lim.Middleware(Local("user_id"), HeadersAlways))

	if got := countAllowed(t, []string{base}, "carol", 5); got != 3 || s.Degraded() {
		t.Fatalf("Redis up: %d of 5 allowed, degraded=%v; want 3, false", got, s.Degraded())
	}

	// Redis goes away. Requests keep being answered, fast, and are still
	// limited: the replica's own bucket takes over (neither fail-open nor
	// fail-closed).
	proxy.stop()
	var slowest time.Duration
	allowed := 0
	for i := range 6 {
		r := get(t, base, "/api/tasks", testUserHeader, "dave")
		if r.status == http.StatusOK {
			allowed++
		} else if r.status != http.StatusTooManyRequests {
			t.Fatalf("Redis gone, request %d: status %d %s", i, r.status, r.body)
		}
		slowest = max(slowest, r.elapsed)
	}
	if allowed != 3 {
		t.Fatalf("Redis gone: %d of 6 allowed, want the local burst of 3", allowed)
	}
	if !s.Degraded() {
		t.Fatal("Redis gone but the store does not report degraded")
	}
	if slowest > time.Second {
		t.Fatalf("Redis gone: slowest request took %s", slowest)
	}
	t.Logf("Redis refused: slowest of 6 requests %s", slowest)

	// Redis comes back on the same address: after the retry interval one
	// request probes it and decisions are shared again.
	proxy.restart(false)
	time.Sleep(s.retry + 50*time.Millisecond)
	d := lim.Allow(context.Background(), "erin")
	for deadline := time.Now().Add(5 * time.Second); !d.Shared && time.Now().Before(deadline); {
		// A probe slowed by a loaded machine waits for the next interval.
		time.Sleep(s.retry + 50*time.Millisecond)
		d = lim.Allow(context.Background(), "erin")
	}
	if !d.Shared || s.Degraded() {
		t.Fatalf("Redis back: decision %+v, degraded=%v; want shared", d, s.Degraded())
	}
	// carol's state survived in Redis all along.
	if r := get(t, base, "/api/tasks", testUserHeader, "carol"); r.status != http.StatusTooManyRequests {
		t.Fatalf("Redis back: carol got %d, want 429 from the state kept in Redis", r.status)
	}
}

func TestRedisHangingCostsOneTimeout(t *testing.T) {
	addr := redisAddr(t)
	proxy := startProxy(t, addr)
	const timeout = 50 * time.Millisecond
	s := mustRedisStore(t, proxy.addr, timeout)
	s.retry = time.Minute
	lim := New(uniqueName(t), Rate{PerSecond: 0.1, Burst: 2}, s)
	base := serve(t, lim.Middleware(Local("user_id"), HeadersAlways))
	if r := get(t, base, "/", testUserHeader, "frank"); r.status != http.StatusOK {
		t.Fatalf("Redis up: %d", r.status)
	}

	// Redis accepts connections but never answers (a hung server or a
	// black-holed route): the first request waits one timeout, the next
	// ones do not wait at all until the retry interval.
	proxy.restart(true)
	first := get(t, base, "/", testUserHeader, "gina")
	if first.status != http.StatusOK {
		t.Fatalf("first request while Redis hangs: %d", first.status)
	}
	var rest time.Duration
	statuses := []int{}
	for range 3 {
		r := get(t, base, "/", testUserHeader, "gina")
		rest = max(rest, r.elapsed)
		statuses = append(statuses, r.status)
	}
	if fmt.Sprint(statuses) != "[200 429 429]" {
		t.Fatalf("statuses while Redis hangs %v, want the local burst of 2 then 429s", statuses)
	}
	if first.elapsed < timeout || first.elapsed > time.Second {
		t.Fatalf("first request took %s, want about the %s timeout", first.elapsed, timeout)
	}
	if rest > first.elapsed {
		t.Fatalf("later requests took up to %s, more than the first (%s): Redis is being waited on again", rest, first.elapsed)
	}
	t.Logf("Redis hanging: first request %s (timeout %s), later ones at most %s", first.elapsed, timeout, rest)
}

func TestRedisUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := ln.Addr().String()
	ln.Close() // a port with nothing on it
	s, err := NewStore(Config{RedisURL: "redis://" + nothing + "/0", RedisTimeout: 50 * time.Millisecond, MaxKeys: 1000}, nil)
	if err != nil {
		t.Fatalf("NewStore must not fail when Redis is down: %v", err)
	}
	defer s.Close()
	if !s.Degraded() {
		t.Fatal("started without Redis but not degraded")
	}
	lim := New("user", Rate{PerSecond: 0.1, Burst: 2}, s)
	var got []bool
	for range 3 {
		d := lim.Allow(context.Background(), "henry")
		if d.Shared {
			t.Fatal("a decision claims to be shared while Redis is down")
		}
		got = append(got, d.Allowed)
	}
	if fmt.Sprint(got) != "[true true false]" {
		t.Fatalf("decisions %v, want the local burst of 2 then a refusal", got)
	}
}

func TestRedisCallerCancellationIsNotAnOutage(t *testing.T) {
	addr := redisAddr(t)
	s := mustRedisStore(t, addr, time.Second)
	lim := New(uniqueName(t), Rate{PerSecond: 10, Burst: 5}, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client hung up before the limiter ran
	if d := lim.Allow(ctx, "ivan"); d.Shared {
		t.Fatalf("decision %+v: a cancelled call cannot have reached Redis", d)
	}
	if s.Degraded() {
		t.Fatal("a cancelled caller marked Redis as down for everyone")
	}
	if d := lim.Allow(context.Background(), "ivan"); !d.Shared {
		t.Fatalf("next call not decided by Redis: %+v", d)
	}
}
