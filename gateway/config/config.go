// Package config declares the gateway's environment variables (Vars) and
// turns an environment into a validated Config (Load). It is public so that
// deployment tests can check manifests against Vars.
package config

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/session"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Vars declares every environment variable the gateway reads, the rate
// limiter's, session mode's and OpenTelemetry's (tracing.Vars) included.
var Vars = slices.Concat(gatewayVars, ratelimit.Vars, session.Vars, tracing.Vars)

var gatewayVars = []settings.Var{
	{Name: "GATEWAY_ADDR", Default: ":8080", Usage: "listen address, host:port (e.g. :8080 or 127.0.0.1:8080)"},
	{Name: "METRICS_ADDR", Usage: "listen address of /metrics, host:port of its own (e.g. 127.0.0.1:9090, or :9090 where a NetworkPolicy keeps it internal); empty: no /metrics at all; the value of GATEWAY_ADDR (opt-in) serves it on the public port"},
	{Name: "BETTER_AUTH_URL", Required: true, Usage: "base URL of Better Auth (e.g. https://app.example.com); JWKS_URL, JWT_ISSUER, JWT_AUDIENCE and AUTH_UPSTREAM_URL default from it"},
	{Name: "JWKS_URL", Usage: "URL of the JWKS; default BETTER_AUTH_URL + /api/auth/jwks (fetched through HTTPS_PROXY/NO_PROXY if set; up to 5 redirects, never from https to http)"},
	{Name: "JWT_ISSUER", Usage: "required iss claim; default BETTER_AUTH_URL"},
	{Name: "JWT_AUDIENCE", Usage: "required aud claim; default BETTER_AUTH_URL"},
	{Name: "JWT_ALGORITHMS", Default: "EdDSA,ES256,ES512,RS256,PS256", Usage: "comma-separated asymmetric algorithms accepted from the JWKS (subset of EdDSA,ES256,ES384,ES512,RS256,PS256)"},
	{Name: "JWT_LEEWAY", Default: "30s", Usage: "clock skew allowed for exp, nbf and iat (e.g. 30s)"},
	{Name: "JWT_MAX_BYTES", Default: "8192", Usage: "largest token accepted, in bytes (512-14336); request heads (request line and headers) are read up to 16 KiB + this, so that what the gateway forwards fits the 32 KiB every internal service reads"},
	{Name: "JWT_COOKIE_NAME", Usage: "cookie to read the token from when there is no Authorization header (e.g. gatehouse_jwt); empty disables cookies. A cookie token authorises POST, PUT, PATCH and DELETE only from the gateway's own origin or CORS_ALLOWED_ORIGINS"},
	{Name: "JWT_SHARED_SECRET", Secret: true, Usage: "opt-in HS256 mode: standard base64 of the Better Auth secret (>= 32 bytes); only for tokens whose header says HS256; empty disables"},
	{Name: "JWT_CACHE_SIZE", Default: "10000", Usage: "verified tokens remembered until their exp (0 disables the cache)"},
	{Name: "JWKS_REFRESH_INTERVAL", Default: "5m", Usage: "background JWKS refetch interval (e.g. 5m)"},
	{Name: "JWKS_MIN_REFRESH_INTERVAL", Default: "10s", Usage: "at most one JWKS refetch per this interval when a token names an unknown kid (e.g. 10s)"},
	{Name: "JWKS_FETCH_TIMEOUT", Default: "5s", Usage: "timeout of one JWKS fetch (e.g. 5s)"},
	{Name: "TASKS_SERVICE_URL", Default: "http://127.0.0.1:8081", Usage: "base URL of the tasks service (e.g. http://tasks:8081)"},
	{Name: "AUTH_UPSTREAM_URL", Usage: "where /api/auth/* is proxied untouched; default BETTER_AUTH_URL"},
	{Name: "IDENTITY_KEYS", Required: true, Secret: true, Usage: "identity signing keys kid:base64key[,kid:base64key...], each >= 32 random bytes; the first signs (e.g. k1:$(openssl rand -base64 32))"},
	{Name: "CORS_ALLOWED_ORIGINS", Usage: "comma-separated origins allowed with credentials (e.g. https://app.example.com,http://localhost:3000); empty disables CORS"},
	{Name: "CORS_ALLOWED_HEADERS", Default: "traceparent,tracestate,baggage", Usage: "comma-separated request headers a frontend in CORS_ALLOWED_ORIGINS may send besides those the API reads (Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key and X-Request-ID are always allowed); the default lets W3C trace context through (e.g. traceparent,tracestate,baggage,X-Requested-With)"},
	{Name: "BODY_LIMIT", Default: "1048576", Usage: "largest request body in bytes (1024-104857600)"},
	{Name: "CLIENT_MAX_CONNS", Default: "4096", Usage: "client connections held at once; a connection past it is answered 503 and closed before anything is read (1-1000000). Each costs the gateway about 24 KiB before its token is verified (buffers for headers and 8 KiB of body read-ahead; TestIdleBodiesCostLittleMemory), so this bounds that memory"},
	{Name: "CLIENT_MAX_CONNS_PER_ADDR", Default: "256", Usage: "client connections held at once from one address (an IPv6 client by its /64); past it 429 and closed (0-1000000; 0: no per-address cap). Not applied with TRUSTED_PROXY_HOPS > 0, where the peers are the proxies: cap connections per client there"},
	{Name: "READ_TIMEOUT", Default: "15s", Usage: "time to read a client request, headers and body (e.g. 15s)"},
	{Name: "WRITE_TIMEOUT", Default: "30s", Usage: "time to write a response to a client (e.g. 30s)"},
	{Name: "IDLE_TIMEOUT", Default: "60s", Usage: "keep-alive idle time of client connections (e.g. 60s)"},
	{Name: "UPSTREAM_TIMEOUT", Default: "15s", Usage: "deadline for an upstream answer; past it the client gets 504 (e.g. 15s)"},
	{Name: "UPSTREAM_DIAL_TIMEOUT", Default: "3s", Usage: "timeout to connect to an upstream; a failure gives 502 (e.g. 3s)"},
	{Name: "UPSTREAM_IDLE_TIMEOUT", Default: "4s", Usage: "an idle upstream connection (to the tasks service, the auth upstream, and session exchanges) is closed after this, before the upstream would close it (Node closes after 5s); an upstream's Keep-Alive: timeout=N shortens it to N-1 s (e.g. 4s)"},
	{Name: "UPSTREAM_MAX_CONNS", Default: "512", Usage: "connections kept per upstream (1-65536)"},
	{Name: "SHUTDOWN_TIMEOUT", Default: "20s", Usage: "how long SIGTERM waits for in-flight requests to finish (e.g. 20s)"},
	{Name: "SHUTDOWN_IDLE_GRACE", Default: "5s", Usage: "the first part of SHUTDOWN_TIMEOUT, in which every response says Connection: close and idle kept-alive connections are left to their clients to close (ends early when none is left; e.g. 5s)"},
	{Name: "TRUSTED_PROXY_HOPS", Default: "0", Usage: "reverse proxies in front of the gateway that append to X-Forwarded-For (0-10); the address the outermost of them saw is the client: the per-address rate limit keys on it and upstreams receive it as the only X-Forwarded-For entry (with that proxy's X-Forwarded-Proto); 0 uses the TCP peer"},
	{Name: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error"},
}

// Config is everything the gateway needs, validated.
type Config struct {
	Addr        string
	MetricsAddr string // a listener of its own for /metrics; "": none
	// MetricsOnMain serves /metrics on Addr (METRICS_ADDR = GATEWAY_ADDR).
	MetricsOnMain bool

	JWKSURL            string
	Issuer             string
	Audience           string
	Algorithms         []jwa.SignatureAlgorithm
	Leeway             time.Duration
	MaxTokenBytes      int
	HeadLimit          int // largest client request head: 16 KiB + MaxTokenBytes, so that it fits identity.MaxHeadBytes forwarded
	CookieName         string
	SharedSecret       []byte
	CacheSize          int
	JWKSRefresh        time.Duration
	JWKSMinRefresh     time.Duration
	JWKSFetchTimeout   time.Duration
	TasksURL           *url.URL
	AuthURL            *url.URL
	IdentityKeys       *identity.Keyring
	CORSAllowedOrigins []string
	// CORSAllowedHeaders are the request headers allowed cross-origin
	// beyond those the API reads.
	CORSAllowedHeaders []string

	BodyLimit             int
	ClientMaxConns        int
	ClientMaxConnsPerAddr int
	ReadTimeout           time.Duration
	WriteTimeout          time.Duration
	IdleTimeout           time.Duration
	UpstreamTimeout       time.Duration
	UpstreamDialTimeout   time.Duration
	UpstreamMaxConns      int
	UpstreamIdleTimeout   time.Duration
	ShutdownTimeout       time.Duration
	ShutdownGrace         time.Duration
	LogLevel              slog.Level

	TrustedProxyHops int
	RateLimit        ratelimit.Config
	Session          session.Settings
	// Tracing is the OTEL_* configuration; off unless an endpoint is set.
	Tracing tracing.Config
}

// Request-head sizes. A client head of at most headBytes plus the token is
// forwarded to the tasks service with at most proxy.MaxAddedHeadBytes more,
// besides the upstream's host and base path: with the largest token and
// TASKS_SERVICE_URL that Load accepts, the forwarded head still fits the
// identity.MaxHeadBytes every internal service reads (TestHeadFitsTasksService).
const (
	headBytes        = 16 << 10
	maxTokenBytes    = 14 << 10
	maxTasksURLBytes = identity.MaxHeadBytes - headBytes - maxTokenBytes - proxy.MaxAddedHeadBytes
)

// acceptable lists what JWT_ALGORITHMS may name.
var acceptable = map[string]jwa.SignatureAlgorithm{
	"EdDSA": jwa.EdDSA, "ES256": jwa.ES256, "ES384": jwa.ES384, "ES512": jwa.ES512, "RS256": jwa.RS256, "PS256": jwa.PS256,
}

// Load reads and validates the environment. Its error lists every problem,
// one "NAME: problem" per line.
func Load(env settings.Env) (Config, error) {
	r := settings.NewReader(env, Vars)
	var c Config

	c.Addr = r.String("GATEWAY_ADDR")
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		r.Fail("GATEWAY_ADDR", "%q is not host:port (e.g. :8080)", c.Addr)
	}
	c.MetricsAddr = r.String("METRICS_ADDR")
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			r.Fail("METRICS_ADDR", "%q is not host:port (e.g. :9090)", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr && port != "0" {
			c.MetricsAddr, c.MetricsOnMain = "", true
		}
	}

	base := r.URL("BETTER_AUTH_URL")
	if base != nil {
		trimmed := strings.TrimRight(base.String(), "/")
		c.Issuer, c.Audience, c.JWKSURL = trimmed, trimmed, trimmed+"/api/auth/jwks"
		c.AuthURL = base
	}
	if u := r.URL("JWKS_URL"); u != nil {
		c.JWKSURL = u.String()
	}
	if s := r.String("JWT_ISSUER"); s != "" {
		c.Issuer = s
	}
	if s := r.String("JWT_AUDIENCE"); s != "" {
		c.Audience = s
	}
	if u := r.URL("AUTH_UPSTREAM_URL"); u != nil {
		c.AuthURL = u
	}
	c.TasksURL = r.URL("TASKS_SERVICE_URL")
	checkBase(r, "TASKS_SERVICE_URL", c.TasksURL)
	if u := c.TasksURL; u != nil && len(u.Host)+len(u.EscapedPath()) > maxTasksURLBytes {
		r.Fail("TASKS_SERVICE_URL", "host and path are %d bytes; at most %d fit the request heads the tasks service reads", len(u.Host)+len(u.EscapedPath()), maxTasksURLBytes)
	}
	if r.String("AUTH_UPSTREAM_URL") != "" {
		checkBase(r, "AUTH_UPSTREAM_URL", c.AuthURL)
	}

	for _, name := range r.List("JWT_ALGORITHMS") {
		alg, ok := acceptable[name]
		if !ok {
			r.Fail("JWT_ALGORITHMS", "%q is not one of EdDSA, ES256, ES384, ES512, RS256, PS256 (HS256 is enabled by JWT_SHARED_SECRET instead)", name)
			continue
		}
		c.Algorithms = append(c.Algorithms, alg)
	}
	if len(c.Algorithms) == 0 {
		r.Fail("JWT_ALGORITHMS", "names no algorithm (e.g. EdDSA,ES256)")
	}
	c.Leeway = r.Duration("JWT_LEEWAY")
	if c.Leeway > 5*time.Minute {
		r.Fail("JWT_LEEWAY", "%s is more than 5m; a leeway that large defeats exp (e.g. 30s)", c.Leeway)
	}
	c.MaxTokenBytes = r.Int("JWT_MAX_BYTES", 512, maxTokenBytes)
	c.HeadLimit = headBytes + c.MaxTokenBytes
	c.CookieName = r.String("JWT_COOKIE_NAME")
	if c.CookieName != "" && !validCookieName(c.CookieName) {
		r.Fail("JWT_COOKIE_NAME", "%q is not a cookie name (letters, digits, '.', '_' and '-'; e.g. gatehouse_jwt)", c.CookieName)
	}
	if s := r.String("JWT_SHARED_SECRET"); s != "" {
		secret, err := base64.StdEncoding.Strict().DecodeString(s)
		switch {
		case err != nil:
			r.Fail("JWT_SHARED_SECRET", "not standard padded base64 (e.g. $(openssl rand -base64 32))")
		case len(secret) < 32:
			r.Fail("JWT_SHARED_SECRET", "%d bytes; need at least 32", len(secret))
		default:
			c.SharedSecret = secret
		}
	}
	c.CacheSize = r.Int("JWT_CACHE_SIZE", 0, 1_000_000)
	c.JWKSRefresh = r.Duration("JWKS_REFRESH_INTERVAL")
	c.JWKSMinRefresh = r.Duration("JWKS_MIN_REFRESH_INTERVAL")
	c.JWKSFetchTimeout = r.Duration("JWKS_FETCH_TIMEOUT")

	if s := r.String("IDENTITY_KEYS"); s != "" {
		kr, err := identity.ParseKeys(s)
		if err != nil {
			r.Fail("IDENTITY_KEYS", "%v (format kid:base64key[,kid:base64key...], e.g. k1:$(openssl rand -base64 32))", err)
		}
		c.IdentityKeys = kr
	}

	for _, o := range r.List("CORS_ALLOWED_ORIGINS") {
		if !validOrigin(o) {
			r.Fail("CORS_ALLOWED_ORIGINS", "%q is not an origin scheme://host[:port] without path or wildcard (e.g. https://app.example.com)", o)
			continue
		}
		c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
	}

	for _, h := range r.List("CORS_ALLOWED_HEADERS") {
		if !validToken(h) || h == "*" {
			r.Fail("CORS_ALLOWED_HEADERS", "%q is not a header name (letters, digits and !#$%%&'*+-.^_`|~; no wildcard; e.g. X-Requested-With)", h)
			continue
		}
		c.CORSAllowedHeaders = append(c.CORSAllowedHeaders, h)
	}

	c.BodyLimit = r.Int("BODY_LIMIT", 1024, 100<<20)
	c.ClientMaxConns = r.Int("CLIENT_MAX_CONNS", 1, 1_000_000)
	c.ClientMaxConnsPerAddr = r.Int("CLIENT_MAX_CONNS_PER_ADDR", 0, 1_000_000)
	if c.ClientMaxConnsPerAddr > c.ClientMaxConns {
		r.Fail("CLIENT_MAX_CONNS_PER_ADDR", "%d is more than CLIENT_MAX_CONNS (%d)", c.ClientMaxConnsPerAddr, c.ClientMaxConns)
	}
	c.ReadTimeout = r.Duration("READ_TIMEOUT")
	c.WriteTimeout = r.Duration("WRITE_TIMEOUT")
	c.IdleTimeout = r.Duration("IDLE_TIMEOUT")
	c.UpstreamTimeout = r.Duration("UPSTREAM_TIMEOUT")
	c.UpstreamDialTimeout = r.Duration("UPSTREAM_DIAL_TIMEOUT")
	c.UpstreamMaxConns = r.Int("UPSTREAM_MAX_CONNS", 1, 65536)
	c.UpstreamIdleTimeout = r.Duration("UPSTREAM_IDLE_TIMEOUT")
	c.ShutdownTimeout = r.Duration("SHUTDOWN_TIMEOUT")
	c.ShutdownGrace = r.Duration("SHUTDOWN_IDLE_GRACE")
	if c.ShutdownGrace > c.ShutdownTimeout {
		r.Fail("SHUTDOWN_IDLE_GRACE", "%s is longer than SHUTDOWN_TIMEOUT (%s), which it is part of", c.ShutdownGrace, c.ShutdownTimeout)
	}
	c.LogLevel = r.LogLevel("LOG_LEVEL")

	c.TrustedProxyHops = r.Int("TRUSTED_PROXY_HOPS", 0, 10)

	rl, rlErr := ratelimit.LoadConfig(env)
	c.RateLimit = rl
	sess, sessErr := session.LoadSettings(env)
	c.Session = sess
	tc, tErr := tracing.Load(env, "gateway")
	c.Tracing = tc
	if err := errors.Join(r.Err(), rlErr, sessErr, tErr); err != nil {
		return Config{}, err
	}
	return c, nil
}

// checkBase rejects upstream URLs with a query or fragment: requests are
// forwarded to base path + request path.
func checkBase(r *settings.Reader, name string, u *url.URL) {
	if u == nil {
		return
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		r.Fail(name, "%q must be scheme://host[:port][/path] without credentials, query or fragment", u.Redacted())
	}
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") {
		return false
	}
	return u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil && strings.TrimRight(o, "/") == o
}

// validToken reports whether s is an RFC 9110 token, the syntax of a field
// name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
