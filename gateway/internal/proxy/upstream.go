package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors of Upstream.Do; the server maps them to 504 and 502.
var (
	ErrUpstreamTimeout     = errors.New("proxy: upstream did not answer in time")
	ErrUpstreamUnavailable = errors.New("proxy: upstream unreachable or broke the connection")
)

// UpstreamConfig configures an Upstream.
type UpstreamConfig struct {
	URL         *url.URL
	Timeout     time.Duration // whole exchange; past it ErrUpstreamTimeout
	DialTimeout time.Duration
	MaxConns    int
	// MaxResponseBytes bounds an upstream response body (default 16 MiB).
	MaxResponseBytes int
	// IdleTimeout retires a connection idle this long (default
	// DefaultIdleTimeout); a response's Keep-Alive: timeout=N shortens it
	// to N-1 s (keepAliveLimit), so the gateway always retires an idle
	// connection before the upstream closes it.
	IdleTimeout time.Duration
}

// DefaultIdleTimeout is how long an idle upstream connection is kept when
// UpstreamConfig.IdleTimeout is zero: below the 5 s after which Node's HTTP
// server (Better Auth, Next.js) closes an idle keep-alive connection, as
// Node's own client (undici, 4 s) keeps it.
const DefaultIdleTimeout = 4 * time.Second

// Upstream is one backend reached over a reused pool of connections.
//
// A request never fails because a kept-alive connection went stale: a
// connection idle past idleLimit, or closed by the upstream while idle, is
// found before anything is written on it (conn) and the request goes out on
// a fresh connection instead; an idempotent request whose connection fails
// before the first response byte — one closed within peekAfter of its last
// use, which it does not look at — is sent once more (retry).
type Upstream struct {
	host     string
	origin   string // scheme://host
	basePath string
	timeout  time.Duration
	// idleMax is UpstreamConfig.IdleTimeout; idle is the limit in force,
	// shortened by the upstream's Keep-Alive header (noteKeepAlive).
	idleMax time.Duration
	idle    atomic.Int64
	client  *fasthttp.HostClient
}

// NewUpstream returns an Upstream for cfg.URL (http or https).
func NewUpstream(cfg UpstreamConfig) *Upstream {
	u := cfg.URL
	host := u.Host
	tls := u.Scheme == "https"
	addr := host
	if u.Port() == "" {
		if tls {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 16 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 3 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	up := &Upstream{
		host:     host,
		origin:   u.Scheme + "://" + host,
		basePath: strings.TrimRight(u.EscapedPath(), "/"),
		timeout:  cfg.Timeout,
		idleMax:  cfg.IdleTimeout,
	}
	up.idle.Store(int64(cfg.IdleTimeout))
	up.client = &fasthttp.HostClient{
		Addr:                     addr,
		IsTLS:                    tls,
		MaxConns:                 max(cfg.MaxConns, 1),
		MaxResponseBodySize:      cfg.MaxResponseBytes,
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
		// Waiting for a free connection is bounded by Timeout too,
		// separately from the exchange that follows.
		MaxConnWaitTimeout: cfg.Timeout,
		// The most recently used connection first, as net/http does: spare
		// connections stay idle and are retired (MaxIdleConnDuration), and
		// when the freshest one is stale, all the others are too.
		ConnPoolStrategy:    fasthttp.LIFO,
		MaxIdleConnDuration: cfg.IdleTimeout,
		// retry decides; a request is sent at most twice (see retry), and
		// fasthttp never retries a request whose body is a stream.
		MaxIdemponentCallAttempts: maxAttempts,
		RetryIfErr:                up.retry,
		Dial: func(a string) (net.Conn, error) {
			c, err := fasthttp.DialTimeout(a, dialTimeout)
			if err != nil {
				return nil, err
			}
			return newConn(c, up, tls), nil
		},
	}
	return up
}

// maxAttempts bounds the connections one request tries: a stale one found
// before writing, then a fresh one (which may fail once more before the
// first response byte, for an idempotent request).
const maxAttempts = 3

// retry is the HostClient's RetryIfErr: whether the request that failed
// with err on its attempts-th connection goes out again.
//
//   - errIdleExpired, errPeerClosed: nothing was written, so any request
//     may go again, whatever its method and body. The idle connections
//     older than this one are stale too (LIFO), or the upstream restarted
//     or is draining: they are closed, so the retry dials afresh.
//   - the connection broke before the first response byte (fasthttp reports
//     io.EOF for any read error there; a failed write is a *net.OpError):
//     the upstream may or may not have processed the request. Only an
//     idempotent one (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT,
//     DELETE) is sent again, once, as nginx's proxy_next_upstream does, on
//     a fresh connection: the idle ones are closed, since the failed one
//     may have been closed by the upstream unnoticed (peekAfter).
//   - anything else (a timeout, a response cut short or malformed) is
//     final.
func (u *Upstream) retry(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, errIdleExpired) || errors.Is(err, errPeerClosed) {
		u.client.CloseIdleConnections()
		return false, true
	}
	if attempts > 1 || !idempotent(req) {
		return false, false
	}
	var op *net.OpError
	if err == io.EOF || errors.As(err, &op) && op.Op == "write" && !op.Timeout() {
		// An idempotent request skips the peek on a connection reused
		// soon (peekAfter), so the one that failed may have been closed
		// while idle, and the pooled ones with it: the retry dials afresh.
		u.client.CloseIdleConnections()
		return false, true
	}
	return false, false
}

func idempotent(req *fasthttp.Request) bool {
	switch string(req.Header.Method()) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace,
		fasthttp.MethodPut, fasthttp.MethodDelete:
		return true
	}
	return false
}

// idleLimit is how long a connection may idle and still be reused.
func (u *Upstream) idleLimit() time.Duration { return time.Duration(u.idle.Load()) }

// noteKeepAlive adopts the idle limit a response announces in
// Keep-Alive: timeout=N (RFC 2068 §19.7.1.1; Node sends timeout=5): one
// second less, so a connection is retired before the upstream closes it,
// and never more than UpstreamConfig.IdleTimeout.
func (u *Upstream) noteKeepAlive(resp *fasthttp.Response) {
	v := resp.Header.Peek("Keep-Alive")
	if len(v) == 0 {
		return
	}
	n, ok := keepAliveTimeout(v)
	if !ok {
		return
	}
	limit := min(keepAliveLimit(n), u.idleMax)
	if int64(limit) != u.idle.Load() {
		u.idle.Store(int64(limit))
	}
}

// keepAliveLimit is the idle limit for a server that keeps idle
// connections n seconds: n-1 s, or half of n when n < 2.
func keepAliveLimit(n int) time.Duration {
	t := time.Duration(n) * time.Second
	if n < 2 {
		return t / 2
	}
	return t - time.Second
}

// keepAliveTimeout returns N of a Keep-Alive header's timeout=N parameter.
func keepAliveTimeout(v []byte) (int, bool) {
	for _, part := range bytes.Split(v, []byte{','}) {
		k, val, ok := bytes.Cut(bytes.TrimSpace(part), []byte{'='})
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("timeout")) {
			continue
		}
		n := 0
		val = bytes.TrimSpace(val)
		if len(val) == 0 || len(val) > 6 {
			return 0, false
		}
		for _, c := range val {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	return 0, false
}

// AppendURL appends to dst the absolute URL of a request on this upstream
// for a client's raw path and raw query: origin, base path, path, and
// "?query" when the query is not empty. Everything after the first
// OriginLen bytes is the request-target, which the identity assertion signs.
func (u *Upstream) AppendURL(dst, rawPath, rawQuery []byte) []byte {
	dst = append(dst, u.origin...)
	dst = append(dst, u.basePath...)
	dst = append(dst, rawPath...)
	if len(rawQuery) > 0 {
		dst = append(dst, '?')
		dst = append(dst, rawQuery...)
	}
	return dst
}

// OriginLen is the length of the scheme://host prefix AppendURL writes.
func (u *Upstream) OriginLen() int { return len(u.origin) }

// Prepare points req at url (from AppendURL), exactly as written, and sets
// Host to the upstream's host.
func (u *Upstream) Prepare(req *fasthttp.Request, url []byte) {
	req.SetRequestURIBytes(url)
	req.URI().DisablePathNormalizing = true
	req.Header.SetHost(u.host)
}

// Do sends req and fills resp. It returns ErrUpstreamTimeout or
// ErrUpstreamUnavailable (wrapping the cause) on failure.
func (u *Upstream) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	err := u.client.DoTimeout(req, resp, u.timeout)
	if err == nil {
		u.noteKeepAlive(resp)
		return nil
	}
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		return errors.Join(ErrUpstreamTimeout, err)
	}
	return errors.Join(ErrUpstreamUnavailable, err)
}

// CopyResponse moves an upstream response onto dst. Headers the gateway
// already set win: CORS (Access-Control-*) and the request id are never
// taken from an upstream, except that the names an upstream lists in
// Access-Control-Expose-Headers join the gateway's list (mergeExposed);
// hop-by-hop headers stay behind; repeated headers and every Set-Cookie
// pass unchanged.
func CopyResponse(dst, src *fasthttp.Response) {
	dst.SetStatusCode(src.StatusCode())
	var seen [16][]byte
	n := 0
OUTER:
	for k, v := range src.Header.All() {
		if skipResponseHeader(k) {
			continue
		}
		if hasPrefixFold(k, "access-control-") {
			if strings.EqualFold(string(k), fasthttp.HeaderAccessControlExposeHeaders) {
				mergeExposed(&dst.Header, v)
			}
			continue
		}
		if string(k) == fasthttp.HeaderSetCookie || bytes.EqualFold(k, []byte(fasthttp.HeaderVary)) {
			dst.Header.AddBytesKV(k, v)
			continue
		}
		for _, s := range seen[:n] {
			if bytes.EqualFold(s, k) {
				dst.Header.AddBytesKV(k, v)
				continue OUTER
			}
		}
		if n < len(seen) {
			seen[n] = k
			n++
		}
		dst.Header.SetBytesKV(k, v)
	}
	dst.SetBody(src.Body())
}

func hasPrefixFold(s []byte, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(string(s[:len(prefix)]), prefix)
}
