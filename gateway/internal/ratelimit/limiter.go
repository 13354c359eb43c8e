package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// Limiter applies one Rate per key, under a name that separates its keys
// from other limiters' and that clients see in the RateLimit headers.
type Limiter struct {
	name  string
	rate  Rate
	store *Store
}

// New returns a Limiter called name (e.g. "user", "ip") applying rate with
// the state in store.
func New(name string, rate Rate, store *Store) *Limiter {
	return &Limiter{name: name, rate: rate, store: store}
}

// Allow decides one request for key now. A disabled Rate allows
// everything.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	return l.AllowAt(ctx, key, l.store.now())
}

// AllowAt is Allow for a request that arrived at now.
func (l *Limiter) AllowAt(ctx context.Context, key string, now time.Time) Decision {
	if !l.rate.Enabled() {
		return Decision{Allowed: true}
	}
	return l.store.allow(ctx, l.name, key, l.rate, now, false)
}

// PeekAt reports whether a request for key at now would be allowed,
// without counting it: for a limit that only some outcomes draw from (the
// failure budget checks before the work and counts only failures, with
// AllowAt). Concurrent requests may all pass a peek before any is counted.
func (l *Limiter) PeekAt(ctx context.Context, key string, now time.Time) Decision {
	if !l.rate.Enabled() {
		return Decision{Allowed: true}
	}
	return l.store.allow(ctx, l.name, key, l.rate, now, true)
}

// Enabled reports whether the limiter limits anything.
func (l *Limiter) Enabled() bool { return l.rate.Enabled() }

// Refusal is the 429 problem for a refused decision d: Retry-After in whole
// seconds and the RateLimit-Policy and RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers), for the error handler to write.
func (l *Limiter) Refusal(d Decision) *problem.Details {
	retry := ceilSeconds(d.RetryAfter)
	return problem.New(fiber.StatusTooManyRequests, "rate-limited", "Too Many Requests",
		fmt.Sprintf("Too many requests; retry in %d s.", retry)).
		WithHeader(fiber.HeaderRetryAfter, strconv.Itoa(retry)).
		WithHeader("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", l.name, l.rate.Burst, ceilSeconds(l.rate.Window()))).
		WithHeader("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", l.name, d.Remaining, retry))
}

// Middleware limits requests by the key that key returns. A request for
// which key returns false (no user, no address) is passed on unlimited: the
// user limiter belongs after authentication, which refuses anonymous
// requests itself. A refused request ends with the error Refusal returns,
// for the app's error handler to write (the gateway's handleError); with
// HeadersAlways every allowed response carries the two RateLimit headers
// too.
func (l *Limiter) Middleware(key func(*fiber.Ctx) (string, bool), headers Headers) fiber.Handler {
	policy := []byte(fmt.Sprintf("%q;q=%d;w=%d", l.name, l.rate.Burst, ceilSeconds(l.rate.Window())))
	name := strconv.Quote(l.name)
	// setHeaders sets both headers on an allowed response; t is RateLimit's
	// t parameter, the seconds until the bucket is full.
	setHeaders := func(c *fiber.Ctx, d Decision, t int) {
		h := &c.Response().Header
		h.SetCanonical(hdrRateLimitPolicy, policy)
		var buf [64]byte
		v := append(buf[:0], name...)
		v = append(v, ";r="...)
		v = strconv.AppendInt(v, int64(d.Remaining), 10)
		v = append(v, ";t="...)
		h.SetCanonical(hdrRateLimit, strconv.AppendInt(v, int64(t), 10))
	}
	return func(c *fiber.Ctx) error {
		if !l.rate.Enabled() {
			return c.Next()
		}
		k, ok := key(c)
		if !ok || k == "" {
			return c.Next()
		}
		// Redis calls have their own timeout. The context is Fiber's user
		// context, never the pooled *fasthttp.RequestCtx: a timer derived
		// from that would read it after fasthttp reset it for the next
		// request. The request counts at its arrival.
		d := l.AllowAt(c.UserContext(), k, c.Context().Time())
		if !d.Allowed {
			return l.Refusal(d) // written by the app's error handler
		}
		if headers == HeadersAlways {
			setHeaders(c, d, ceilSeconds(d.Reset))
		}
		return c.Next()
	}
}

// Header names in fasthttp's canonical spelling, for SetCanonical.
var (
	hdrRateLimit       = []byte("Ratelimit")
	hdrRateLimitPolicy = []byte("Ratelimit-Policy")
)

// ceilSeconds rounds d up to whole seconds, at least 1: a client told to
// retry in 0 s would retry at once and be refused again.
func ceilSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}
