package session

import (
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

// Vars declares session mode's environment variables; the gateway's
// config.Vars includes them.
var Vars = []settings.Var{
	{Name: "SESSION_MODE", Default: "off", Usage: "on accepts Better Auth's session cookie on the API routes when a request has no bearer token: the gateway exchanges it at Better Auth (AUTH_UPSTREAM_URL + /api/auth/token) for the user's JWT and verifies that; only for a frontend on the gateway's site (on or off)"},
	{Name: "SESSION_COOKIE_NAMES", Default: "__Secure-better-auth.session_token,better-auth.session_token", Usage: "Better Auth's session cookie names, the first present is used (e.g. __Secure-myapp.session_token,myapp.session_token with a cookiePrefix of myapp)"},
	{Name: "SESSION_CACHE_TTL", Default: "30s", Usage: "how long an exchanged session is trusted before Better Auth is asked again (never past the JWT's exp): a sign-out takes effect within it (1s-10m)"},
	{Name: "SESSION_CACHE_SIZE", Default: "10000", Usage: "sessions remembered, and separately refusals; past it the least recently used goes first (100-1000000)"},
	{Name: "SESSION_EXCHANGE_TIMEOUT", Default: "3s", Usage: "time for one exchange at Better Auth, waiting for a free slot included; past it the request gets 503 (e.g. 3s)"},
	{Name: "SESSION_EXCHANGE_RPS", Default: "50", Usage: "exchanges per second this replica may make at Better Auth for sessions not in the cache (1-100000); past it and SESSION_EXCHANGE_BURST such requests get 503 with Retry-After"},
	{Name: "SESSION_EXCHANGE_BURST", Default: "100", Usage: "exchanges this replica may make at once before SESSION_EXCHANGE_RPS applies (1-100000)"},
	{Name: "SESSION_EXCHANGE_CONCURRENCY", Default: "16", Usage: "exchanges in flight at once at most (1-1024)"},
}

// Settings is session mode's configuration.
type Settings struct {
	Enabled     bool
	CookieNames []string
	CacheTTL    time.Duration
	CacheSize   int
	Timeout     time.Duration
	RPS         int
	Burst       int
	Concurrency int
}

// LoadSettings reads Vars from env. Its error names every bad variable.
func LoadSettings(env settings.Env) (Settings, error) {
	r := settings.NewReader(env, Vars)
	s := Settings{
		Enabled:     r.Bool("SESSION_MODE"),
		CookieNames: r.List("SESSION_COOKIE_NAMES"),
		CacheTTL:    r.Duration("SESSION_CACHE_TTL"),
		CacheSize:   r.Int("SESSION_CACHE_SIZE", 100, 1_000_000),
		Timeout:     r.Duration("SESSION_EXCHANGE_TIMEOUT"),
		RPS:         r.Int("SESSION_EXCHANGE_RPS", 1, 100_000),
		Burst:       r.Int("SESSION_EXCHANGE_BURST", 1, 100_000),
		Concurrency: r.Int("SESSION_EXCHANGE_CONCURRENCY", 1, 1024),
	}
	if len(s.CookieNames) == 0 {
		r.Fail("SESSION_COOKIE_NAMES", "names no cookie (e.g. __Secure-better-auth.session_token,better-auth.session_token)")
	}
	for _, name := range s.CookieNames {
		if !cookieName(name) {
			r.Fail("SESSION_COOKIE_NAMES", "%q is not a cookie name (letters, digits, '.', '_' and '-'; e.g. better-auth.session_token)", name)
		}
	}
	if s.CacheTTL > 10*time.Minute || (s.CacheTTL > 0 && s.CacheTTL < time.Second) {
		r.Fail("SESSION_CACHE_TTL", "%s is not from 1s to 10m; a sign-out takes effect within it (e.g. 30s)", s.CacheTTL)
	}
	if s.Timeout > time.Minute {
		r.Fail("SESSION_EXCHANGE_TIMEOUT", "%s is more than 1m; a request waits this long when Better Auth hangs (e.g. 3s)", s.Timeout)
	}
	if err := r.Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func cookieName(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}) < 0
}
