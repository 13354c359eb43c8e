package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// gcraScript is gcra() run atomically inside Redis, in microseconds, on
// Redis's own clock (so replicas with skewed clocks share one timeline).
// KEYS[1]: the key's tat. ARGV[1]: interval µs, ARGV[2]: tolerance µs
// (burst × interval), ARGV[3]: "1" to peek (decide without counting the
// request). Returns {allowed, µs, reset µs}, where µs is the retry-after
// when denied and the unused tolerance when allowed. The key expires when
// its bucket is full again, so idle keys cost nothing.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local next_tat = tat + interval
local diff = next_tat - now
if diff > tolerance then
  return {0, diff - tolerance, tat - now}
end
if ARGV[3] == '1' then
  return {1, tolerance - diff, diff}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil(diff / 1000))
return {1, tolerance - diff, diff}
`)

// redisStore decides in Redis.
type redisStore struct {
	client  *redis.Client
	timeout time.Duration
}

func newRedisStore(url string, timeout time.Duration) (*redisStore, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("REDIS_URL: not a redis:// or rediss:// URL")
	}
	// A limiter on the request path must answer fast or not at all: no
	// retries, short timeouts, and no optional handshakes that older
	// servers or proxies refuse.
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	opts.MaxRetries = -1
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &redisStore{client: redis.NewClient(opts), timeout: timeout}, nil
}

// allow decides a request in Redis; with peek it is not counted.
func (s *redisStore) allow(ctx context.Context, key string, r Rate, peek bool) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	interval := r.interval().Microseconds()
	if interval < 1 {
		interval = 1
	}
	flag := 0
	if peek {
		flag = 1
	}
	res, err := gcraScript.Run(ctx, s.client, []string{key}, interval, interval*int64(r.Burst), flag).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("rate limit script returned %d values, want 3", len(res))
	}
	d := Decision{Limit: r.Burst, Reset: time.Duration(res[2]) * time.Microsecond, Shared: true}
	if res[0] == 1 {
		d.Allowed = true
		d.Remaining = int(res[1] / interval)
	} else {
		d.RetryAfter = time.Duration(res[1]) * time.Microsecond
	}
	return d, nil
}

func (s *redisStore) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.Ping(ctx).Err()
}

func (s *redisStore) close() error { return s.client.Close() }
