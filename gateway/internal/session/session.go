package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

var (
	// ErrNoCookie means the request carries none of the session cookies.
	ErrNoCookie = errors.New("session: no session cookie")
	// ErrRefused means Better Auth does not know the session: signed out,
	// expired, revoked or forged.
	ErrRefused = errors.New("session: Better Auth refused the session")
	// ErrMalformed means the cookie cannot be a Better Auth session: too
	// long, characters a cookie value cannot hold, or one name twice (a
	// cookie planted by a sibling subdomain next to the real one).
	ErrMalformed = errors.New("session: malformed session cookie")
	// ErrUnavailable means the session is not in the cache and could not be
	// exchanged now: Better Auth is unreachable, slow or failing, or this
	// replica's exchange budget is spent. A client may retry shortly.
	ErrUnavailable = errors.New("session: Better Auth cannot confirm the session now")
)

// maxCookieBytes bounds a session cookie's value. Better Auth's is a
// 32-character token, a dot and a URL-encoded HMAC: about 80 bytes.
const maxCookieBytes = 1024

// VerifyFunc verifies a JWT as the gateway verifies bearer tokens
// (authn.Authenticator.VerifyAt).
type VerifyFunc func(ctx context.Context, token []byte, now time.Time) (*authn.Principal, error)

// Config configures an Exchanger.
type Config struct {
	Settings
	// TokenURL is Better Auth's token endpoint, AUTH_UPSTREAM_URL +
	// /api/auth/token. Exchanges go there and nowhere else.
	TokenURL string
	Verify   VerifyFunc
	// IdleTimeout retires an idle connection to Better Auth before the
	// server closes it (UPSTREAM_IDLE_TIMEOUT; Node closes after 5 s).
	// Zero means 4 s.
	IdleTimeout time.Duration
	Log         *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Exchanger authenticates requests by their Better Auth session cookie. It
// is safe for concurrent use.
type Exchanger struct {
	cfg     Config
	cache   *cache
	flights singleflight.Group
	budget  *rate.Limiter
	slots   chan struct{}
	client  *http.Client
}

// New returns an Exchanger for cfg.
func New(cfg Config) (*Exchanger, error) {
	if cfg.TokenURL == "" || cfg.Verify == nil || len(cfg.CookieNames) == 0 {
		return nil, errors.New("session: a token URL, a verifier and cookie names are required")
	}
	if cfg.CacheTTL <= 0 || cfg.CacheSize <= 0 || cfg.Timeout <= 0 || cfg.RPS <= 0 || cfg.Burst <= 0 || cfg.Concurrency <= 0 {
		return nil, errors.New("session: lifetime, sizes, timeout and exchange limits must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 4 * time.Second
	}
	return &Exchanger{
		cfg:    cfg,
		cache:  newCache(cfg.CacheSize),
		budget: rate.NewLimiter(rate.Limit(cfg.RPS), cfg.Burst),
		slots:  make(chan struct{}, cfg.Concurrency),
		client: newClient(cfg.Concurrency, cfg.IdleTimeout),
	}, nil
}

// Cookie is a session cookie as the request carried it. Value aliases the
// request's header buffer: it is valid until the request handler returns.
type Cookie struct {
	Name  string
	Value []byte
}

// Find returns the request's session cookie: the first of the configured
// names that is present with a non-empty value. It returns ErrNoCookie when
// there is none, and ErrMalformed for a value that cannot be a session
// (too long, or bytes a cookie value cannot hold) or a name sent twice.
func (e *Exchanger) Find(h *fasthttp.RequestHeader) (Cookie, error) {
	for _, name := range e.cfg.CookieNames {
		var found Cookie
		n := 0
		for k, v := range h.Cookies() {
			if string(k) == name {
				found, n = Cookie{Name: name, Value: v}, n+1
			}
		}
		switch {
		case n == 0 || (n == 1 && len(found.Value) == 0):
			continue
		case n > 1:
			return Cookie{}, ErrMalformed
		case len(found.Value) > maxCookieBytes || !cookieValue(found.Value):
			return Cookie{}, ErrMalformed
		}
		return found, nil
	}
	return Cookie{}, ErrNoCookie
}

// cookieValue reports whether v holds only RFC 6265 cookie-octets.
func cookieValue(v []byte) bool {
	for _, c := range v {
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// Cached returns the cached answer for c, if any: its principal or the
// error that refused it. It never calls Better Auth.
func (e *Exchanger) Cached(c Cookie, now time.Time) (p *authn.Principal, err error, ok bool) {
	en, ok := e.cache.get(keyOf(c), now)
	return en.p, en.err, ok
}

// Authenticate returns the principal of the session c, from the cache or
// by an exchange at Better Auth. client, when not empty, is the client
// address the gateway decided, sent as X-Forwarded-For. It returns
// ErrRefused when Better Auth does not know the session, ErrUnavailable
// when the session is not cached and cannot be exchanged now, and the
// verifier's errors (an *authn.TokenError, authn.ErrKeysUnavailable) for a
// JWT the gateway does not accept. The Principal is shared: callers must
// not modify it.
func (e *Exchanger) Authenticate(ctx context.Context, c Cookie, client string, now time.Time) (*authn.Principal, error) {
	k := keyOf(c)
	if en, ok := e.cache.get(k, now); ok {
		return en.p, en.err
	}
	v, _, _ := e.flights.Do(string(k[:]), func() (any, error) {
		// A flight for k that ended while this request looked it up has
		// left its answer.
		if en, ok := e.cache.get(k, e.cfg.Now()); ok {
			return en, nil
		}
		return e.exchange(k, c, client), nil
	})
	en := v.(entry)
	return en.p, en.err
}

// exchange asks Better Auth for the JWT of c, within the exchange budget,
// a free slot and the timeout, verifies it and caches the answer. Only
// answers about the session are cached: Better Auth's refusal, the
// principal, or a JWT the gateway refuses; never an outage.
func (e *Exchanger) exchange(k key, c Cookie, client string) entry {
	if !e.budget.Allow() {
		e.cfg.Log.Debug("session exchange refused: SESSION_EXCHANGE_RPS/BURST spent")
		return entry{err: fmt.Errorf("%w: exchange budget spent", ErrUnavailable)}
	}
	// The exchange serves every request waiting on this flight: it is not
	// cancelled with the first one's client, only by its own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		e.cfg.Log.Debug("session exchange refused: no free slot within SESSION_EXCHANGE_TIMEOUT")
		return entry{err: fmt.Errorf("%w: no free exchange slot", ErrUnavailable)}
	}
	start := e.cfg.Now()
	tok, err := e.fetch(ctx, c, client)
	switch {
	case errors.Is(err, ErrRefused):
		en := entry{err: ErrRefused, until: start.Add(e.cfg.CacheTTL)}
		e.cache.put(k, en)
		return en
	case err != nil:
		e.cfg.Log.Warn("session exchange failed", "error", err.Error())
		return entry{err: err}
	}
	p, err := e.cfg.Verify(ctx, tok, e.cfg.Now())
	var te *authn.TokenError
	switch {
	case errors.As(err, &te):
		// Better Auth issues tokens the gateway does not accept (iss, aud
		// or algorithm disagree): remembered like a refusal, so that the
		// misconfiguration costs one exchange per session and lifetime.
		e.cfg.Log.Error("session exchange: Better Auth's JWT is refused", "reason", te.Reason)
		en := entry{err: err, until: start.Add(e.cfg.CacheTTL)}
		e.cache.put(k, en)
		return en
	case err != nil:
		return entry{err: err}
	}
	en := entry{p: p, until: start.Add(e.cfg.CacheTTL)}
	if p.Expiry.Before(en.until) {
		en.until = p.Expiry
	}
	e.cache.put(k, en)
	return en
}

// ForgetKeys drops cached sessions whose JWT was signed by any of kids.
// Wire it to jwks.Store.OnRemove, as the token cache is: a key that leaves
// the JWKS stops vouching for sessions at once, not a lifetime later.
func (e *Exchanger) ForgetKeys(kids []string) {
	for _, k := range e.cache.ok.Keys() {
		if en, ok := e.cache.ok.Peek(k); ok && slices.Contains(kids, en.p.KeyID) {
			e.cache.ok.Remove(k)
		}
	}
}
