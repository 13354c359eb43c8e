package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Errors returned by Key.
var (
	// ErrNotReady means no JWKS has been fetched successfully yet.
	ErrNotReady = errors.New("jwks: keys not loaded yet")
	// ErrUnknownKey means the kid is not in the JWKS: a fetch that ended
	// after the caller asked did not bring it, or the minimum interval
	// forbade a new fetch and the last one succeeded.
	ErrUnknownKey = errors.New("jwks: unknown kid")
	// ErrFetchFailed means the kid is unknown and the JWKS could not be
	// fetched to learn it (the last fetch failed): the key may well exist,
	// so the token can be judged neither valid nor invalid yet.
	ErrFetchFailed = errors.New("jwks: unknown kid and the JWKS could not be fetched")
)

// Config configures a Store.
type Config struct {
	URL string
	// Client fetches the JWKS; its Timeout bounds every fetch.
	Client *http.Client
	// RefreshInterval is how often the JWKS is refetched in the background.
	RefreshInterval time.Duration
	// MinRefreshInterval bounds fetches started by unknown kids: at most one
	// per interval, whatever the traffic.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration
	// Algorithms lists the algorithms keys may be pinned to.
	Algorithms []jwa.SignatureAlgorithm
	Logger     *slog.Logger
	// Now is the clock of MinRefreshInterval; nil means time.Now.
	Now func() time.Time
	// Tracer, when set, records each fetch as a "jwks.fetch" span: a child
	// of the verification whose unknown kid started it, a root span for
	// the first and the scheduled fetches. nil: no spans.
	Tracer trace.Tracer
}

// Store holds the last good key set. It is safe for concurrent use.
//
// Every fetch — the first (Start), the scheduled ones and those caused by an
// unknown kid — is one shared flight: whoever needs fresh keys while a fetch
// runs waits for that fetch instead of starting another or giving up.
type Store struct {
	cfg     Config
	ctx     context.Context // bounds every fetch and the refresh loop
	allowed map[jwa.SignatureAlgorithm]bool
	keys    atomic.Pointer[map[string]Key]

	mu          sync.Mutex
	inflight    *flight   // the fetch running now, nil when none
	lastErr     error     // result of the last fetch that ended; nil after a success
	lastRefetch time.Time // start of the last fetch caused by an unknown kid
	onRemove    []func(kids []string)

	fetches atomic.Int64
	waiters atomic.Int64 // callers of Key waiting for a fetch
}

// flight is one JWKS fetch and everyone waiting for it.
type flight struct {
	done chan struct{} // closed once the result is installed
	err  error         // set before done is closed
}

// New returns a Store for cfg.URL whose background refresh runs until ctx
// ends. It does not fetch: call Start.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("jwks: empty URL")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	cfg.Client = guardClient(cfg.Client)
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 10 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 5 * time.Second
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = SupportedAlgorithms
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg, ctx: ctx, allowed: make(map[jwa.SignatureAlgorithm]bool)}
	for _, a := range cfg.Algorithms {
		s.allowed[a] = true
	}
	go s.refreshLoop()
	return s, nil
}

// Start fetches the JWKS, retrying with capped exponential backoff until a
// fetch succeeds or ctx ends. It returns when keys are loaded (nil) or ctx
// is done (ctx.Err()). Run it in a goroutine; Ready reports progress.
func (s *Store) Start(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	for {
		f, _, _ := s.join("start", false, trace.SpanContext{})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.done:
		}
		if f.err == nil {
			return nil
		}
		s.cfg.Logger.Warn("jwks fetch failed; retrying", "url", s.cfg.URL, "error", f.err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

// Ready reports whether a key set has been loaded.
func (s *Store) Ready() bool { return s.keys.Load() != nil }

// Waiting is how many callers of Key are waiting for a fetch right now.
func (s *Store) Waiting() int64 { return s.waiters.Load() }

// Fetches counts JWKS fetches that returned a usable key set.
func (s *Store) Fetches() int64 { return s.fetches.Load() }

// OnRemove registers fn to be called with the kids that a newly fetched JWKS
// no longer contains.
func (s *Store) OnRemove(fn func(kids []string)) {
	s.mu.Lock()
	s.onRemove = append(s.onRemove, fn)
	s.mu.Unlock()
}

// Key returns the key named kid. When kid is unknown the caller waits for
// the fetch in flight, whatever started it, or starts one if none ran in
// the last MinRefreshInterval, and looks again; every caller waiting for a
// fetch gets its answer. A fetch started by someone else (a scheduled
// refresh) may predate kid, so after it the caller may start one of its
// own, within the same limit.
//
// Key returns ErrNotReady before the first successful fetch, ErrUnknownKey
// when kid stays unknown, ErrFetchFailed when it is unknown and the fetch
// meant to learn it failed, and ctx.Err() if ctx ends while it waits.
func (s *Store) Key(ctx context.Context, kid string) (Key, error) {
	m := s.keys.Load()
	if m == nil {
		return Key{}, ErrNotReady
	}
	if k, ok := (*m)[kid]; ok {
		return k, nil
	}
	for attempt := 0; ; attempt++ {
		f, own, lastErr := s.join("unknown kid", true, trace.SpanContextFromContext(ctx))
		if f == nil {
			// No new fetch allowed yet; one that ended since our first
			// look may have brought kid.
			if k, ok := (*s.keys.Load())[kid]; ok {
				return k, nil
			}
			return Key{}, unknown(lastErr)
		}
		s.waiters.Add(1)
		select {
		case <-ctx.Done():
		case <-f.done:
		}
		s.waiters.Add(-1)
		if ctx.Err() != nil {
			return Key{}, ctx.Err()
		}
		if k, ok := (*s.keys.Load())[kid]; ok {
			return k, nil
		}
		if own || attempt > 0 {
			return Key{}, unknown(f.err)
		}
	}
}

// unknown is Key's answer for a kid still unknown after a fetch that ended
// with err.
func unknown(err error) error {
	if err != nil {
		return ErrFetchFailed
	}
	return ErrUnknownKey
}

// join returns the fetch in flight, or starts one and reports own. With
// limited (a fetch for an unknown kid), a new fetch starts only if none
// started for that reason in the last MinRefreshInterval; otherwise join
// returns a nil flight and the error of the last fetch that ended.
func (s *Store) join(cause string, limited bool, parent trace.SpanContext) (f *flight, own bool, lastErr error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight, false, nil
	}
	if limited {
		if !s.lastRefetch.IsZero() && now.Sub(s.lastRefetch) < s.cfg.MinRefreshInterval {
			return nil, false, s.lastErr
		}
		s.lastRefetch = now
	}
	f = &flight{done: make(chan struct{})}
	s.inflight = f
	go s.run(f, cause, parent)
	return f, true, nil
}

// run performs f, detached from every caller (one impatient client must
// not cancel the fetch the others wait for) and bounded by FetchTimeout.
func (s *Store) run(f *flight, cause string, parent trace.SpanContext) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.FetchTimeout)
	var span trace.Span
	if s.cfg.Tracer != nil {
		if parent.IsValid() {
			ctx = trace.ContextWithSpanContext(ctx, parent)
		}
		ctx, span = s.cfg.Tracer.Start(ctx, "jwks.fetch", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("url.full", s.cfg.URL), attribute.String("gatehouse.jwks.cause", cause)))
	}
	err := s.fetch(ctx)
	cancel()
	if span != nil {
		if err != nil {
			span.SetStatus(codes.Error, "fetch failed")
		} else if m := s.keys.Load(); m != nil {
			span.SetAttributes(attribute.Int("gatehouse.jwks.keys", len(*m)))
		}
		span.End()
	}
	if err != nil && cause != "start" {
		s.cfg.Logger.Warn("jwks fetch failed; keeping the last good keys", "url", s.cfg.URL, "cause", cause, "error", err.Error())
	}
	s.mu.Lock()
	f.err = err
	s.lastErr = err
	s.inflight = nil
	s.mu.Unlock()
	close(f.done)
}

// refreshLoop refetches the JWKS every RefreshInterval until s.ctx ends.
func (s *Store) refreshLoop() {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			f, _, _ := s.join("scheduled", false, trace.SpanContext{})
			<-f.done
		}
	}
}

// fetch gets, parses and installs the JWKS. On failure the previous keys
// stay in force.
func (s *Store) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks: %s answered %s", s.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("jwks: read %s: %w", s.cfg.URL, err)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("jwks: parse %s: %w", s.cfg.URL, err)
	}
	return s.install(set)
}

// install pins every usable key of set and swaps the key set in
// atomically. A set without a single usable key is refused, so the last
// good keys stay in force.
func (s *Store) install(set jwk.Set) error {
	next := make(map[string]Key, set.Len())
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		pinned, err := pin(k, s.allowed)
		if err != nil {
			s.cfg.Logger.Warn("jwks: skipping key", "reason", err.Error())
			continue
		}
		if _, dup := next[pinned.ID]; dup {
			s.cfg.Logger.Warn("jwks: skipping duplicate kid", "kid", pinned.ID)
			continue
		}
		next[pinned.ID] = pinned
	}
	if len(next) == 0 {
		return errors.New("jwks: no usable signature key in the JWKS")
	}
	prev := s.keys.Swap(&next)
	s.fetches.Add(1)
	if prev != nil {
		var removed []string
		for kid := range *prev {
			if _, ok := next[kid]; !ok {
				removed = append(removed, kid)
			}
		}
		if len(removed) > 0 {
			s.mu.Lock()
			fns := append([]func([]string){}, s.onRemove...)
			s.mu.Unlock()
			for _, fn := range fns {
				fn(removed)
			}
		}
	}
	return nil
}
