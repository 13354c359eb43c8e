package proxy

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/deadline"
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
	// Deadlines, when set, bounds each exchange on a connection by
	// Timeout itself (deadline.WrapClient), coarsely and cheaply, instead of
	// fasthttp's per-request deadlines (three clock reads and two deadline
	// updates per request).
	Deadlines *deadline.Watchdog
}

// Upstream is one backend reached over a reused pool of connections.
type Upstream struct {
	host     string
	origin   string // scheme://host
	basePath string
	timeout  time.Duration
	// connTimeouts: the connections bound their exchanges themselves.
	connTimeouts bool
	client       *fasthttp.HostClient
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
	return &Upstream{
		host:         host,
		origin:       u.Scheme + "://" + host,
		basePath:     strings.TrimRight(u.EscapedPath(), "/"),
		timeout:      cfg.Timeout,
		connTimeouts: cfg.Deadlines != nil,
		client: &fasthttp.HostClient{
			Addr:                     addr,
			IsTLS:                    tls,
			MaxConns:                 max(cfg.MaxConns, 1),
			MaxIdleConnDuration:      30 * time.Second,
			MaxResponseBodySize:      cfg.MaxResponseBytes,
			DisablePathNormalizing:   true,
			NoDefaultUserAgentHeader: true,
			// Waiting for a free connection is bounded by Timeout too,
			// separately from the exchange that follows.
			MaxConnWaitTimeout: cfg.Timeout,
			// Never retry: a retried POST could create a task twice.
			RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			Dial: func(a string) (net.Conn, error) {
				c, err := fasthttp.DialTimeout(a, dialTimeout)
				if err != nil || cfg.Deadlines == nil {
					return c, err
				}
				return cfg.Deadlines.WrapClient(c, cfg.Timeout), nil
			},
		},
	}
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
	var err error
	if u.connTimeouts {
		err = u.client.Do(req, resp)
	} else {
		err = u.client.DoTimeout(req, resp, u.timeout)
	}
	if err == nil {
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
