// Package ratelimit limits requests per key (the verified user, the client
// address) with GCRA, a token bucket that needs one timestamp per key. The
// state lives in memory by default (bounded, per replica) and in Redis when
// REDIS_URL is set, so the limit holds across gateway replicas.
//
// When Redis stops answering, the limiter degrades to the in-memory state of
// each replica until Redis is back: requests are neither refused wholesale
// (fail-closed would turn a cache outage into an API outage) nor let through
// unlimited (fail-open would lift the brute-force guard on /api/auth/*).
// With N replicas the effective limit is then at most N times the configured
// one.
package ratelimit

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/redis/go-redis/v9"
)

// Vars declares the rate limiter's environment variables; the gateway's
// config.Vars includes them.
var Vars = []settings.Var{
	{Name: "RATE_LIMIT_USER_RPS", Default: "10", Usage: "sustained requests per second per authenticated user (e.g. 10, 0.5); 0 disables the per-user limit"},
	{Name: "RATE_LIMIT_USER_BURST", Default: "40", Usage: "requests a user may send at once before the sustained rate applies (1-100000)"},
	{Name: "RATE_LIMIT_IP_RPS", Default: "2", Usage: "sustained requests per second per client address on /api/auth/* (e.g. 2); 0 disables the per-address limit"},
	{Name: "RATE_LIMIT_IP_BURST", Default: "20", Usage: "requests a client address may send at once on /api/auth/* (1-100000)"},
	{Name: "RATE_LIMIT_AUTH_FAILURE_RPS", Default: "1", Usage: "sustained failed authentications (401 invalid_token) per second per client address (e.g. 1, 0.2); past the budget a token the gateway has not verified before is refused with 429 before its signature is checked; 0 disables the limit"},
	{Name: "RATE_LIMIT_AUTH_FAILURE_BURST", Default: "30", Usage: "failed authentications a client address may have at once before RATE_LIMIT_AUTH_FAILURE_RPS applies (1-100000)"},
	{Name: "REDIS_URL", Secret: true, Usage: "shared limiter state across replicas (e.g. redis://:password@redis:6379/0, rediss:// for TLS); empty keeps the state in each replica's memory"},
	{Name: "RATE_LIMIT_REDIS_TIMEOUT", Default: "100ms", Usage: "longest wait for Redis per request before falling back to the replica's own limit (e.g. 100ms)"},
	{Name: "RATE_LIMIT_HEADERS", Default: "refused", Usage: "when responses carry RateLimit and RateLimit-Policy: refused (429 only, with Retry-After) or always (every limited response)"},
	{Name: "RATE_LIMIT_MAX_KEYS", Default: "100000", Usage: "keys remembered in memory per limiter; past it a key not used recently is forgotten first (CLOCK, approximately least recently used) (1000-10000000)"},
}

// Rate is one limit: PerSecond requests per second sustained, Burst at once.
// A Rate with PerSecond 0 limits nothing.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Enabled reports whether r limits anything.
func (r Rate) Enabled() bool { return r.PerSecond > 0 && r.Burst > 0 }

// interval is the time one request "costs": 1/PerSecond.
func (r Rate) interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// Window is how long an empty bucket takes to refill: Burst/PerSecond.
func (r Rate) Window() time.Duration { return time.Duration(r.Burst) * r.interval() }

// Headers says which responses of a limited route carry the RateLimit and
// RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers).
type Headers int

const (
	// HeadersOnRefusal sends them only on 429, next to Retry-After, as
	// Envoy's rate limit filters and Traefik do by default: every header on
	// every response is work for the gateway and for each client.
	HeadersOnRefusal Headers = iota
	// HeadersAlways sends them on every limited response, so that a client
	// can slow down before it is refused.
	HeadersAlways
)

// Config is the rate limiter's configuration.
type Config struct {
	User         Rate          // per authenticated user
	IP           Rate          // per client address on unauthenticated routes
	AuthFailure  Rate          // failed authentications per client address
	Headers      Headers       // which responses carry the RateLimit headers
	RedisURL     string        // "" keeps state in memory
	RedisTimeout time.Duration // per request; past it the replica's own limit decides
	MaxKeys      int           // in-memory keys per Store
}

// LoadConfig reads Vars from env. Its error names every bad variable.
func LoadConfig(env settings.Env) (Config, error) {
	r := settings.NewReader(env, Vars)
	c := Config{
		User:         Rate{PerSecond: readRate(r, "RATE_LIMIT_USER_RPS"), Burst: r.Int("RATE_LIMIT_USER_BURST", 1, 100_000)},
		IP:           Rate{PerSecond: readRate(r, "RATE_LIMIT_IP_RPS"), Burst: r.Int("RATE_LIMIT_IP_BURST", 1, 100_000)},
		AuthFailure:  Rate{PerSecond: readRate(r, "RATE_LIMIT_AUTH_FAILURE_RPS"), Burst: r.Int("RATE_LIMIT_AUTH_FAILURE_BURST", 1, 100_000)},
		RedisURL:     r.String("REDIS_URL"),
		RedisTimeout: r.Duration("RATE_LIMIT_REDIS_TIMEOUT"),
		MaxKeys:      r.Int("RATE_LIMIT_MAX_KEYS", 1000, 10_000_000),
	}
	switch h := r.String("RATE_LIMIT_HEADERS"); strings.ToLower(h) { // String trims
	case "refused":
		c.Headers = HeadersOnRefusal
	case "always":
		c.Headers = HeadersAlways
	default:
		r.Fail("RATE_LIMIT_HEADERS", "%q is neither refused nor always", h)
	}
	if c.RedisURL != "" {
		// The value may hold a password: never repeat it.
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			r.Fail("REDIS_URL", "not a redis:// or rediss:// URL (e.g. redis://:password@redis:6379/0)")
		}
	}
	if c.RedisTimeout > 5*time.Second {
		r.Fail("RATE_LIMIT_REDIS_TIMEOUT", "%s is more than 5s; every request may wait this long when Redis hangs (e.g. 100ms)", c.RedisTimeout)
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readRate parses a non-negative decimal rate of at most one million per second.
func readRate(r *settings.Reader, name string) float64 {
	s := r.String(name)
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e6 || (f > 0 && f < 1e-3) {
		r.Fail(name, "%q is not a rate from 0.001 to 1000000 requests per second, or 0 to disable (e.g. 10 or 0.5)", s)
		return 0
	}
	return f
}
