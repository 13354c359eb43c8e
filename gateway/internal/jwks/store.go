package jwks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"
)

// Errors returned by Key.
var (
	// ErrNotReady means no JWKS has been fetched successfully yet.
	ErrNotReady = errors.New("jwks: keys not loaded yet")
	// ErrUnknownKey means the kid is not in the JWKS, even after a refetch
	// (or a refetch was not allowed yet by the minimum interval).
	ErrUnknownKey = errors.New("jwks: unknown kid")
)

// Config configures a Store.
type Config struct {
	URL string
	// Client fetches the JWKS; its Timeout bounds every fetch.
	Client *http.Client
	// RefreshInterval is how often the JWKS is refetched in the background.
	RefreshInterval time.Duration
	// MinRefreshInterval bounds refetches caused by unknown kids: at most one
	// per interval, whatever the traffic.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one fetch started by an unknown kid.
	FetchTimeout time.Duration
	// Algorithms lists the algorithms keys may be pinned to.
	Algorithms []jwa.SignatureAlgorithm
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store holds the last good key set. It is safe for concurrent use.
type Store struct {
	cfg     Config
	allowed map[jwa.SignatureAlgorithm]bool
	cache   *jwk.Cache
	keys    atomic.Pointer[map[string]Key]
	flight  singleflight.Group

	mu          sync.Mutex
	lastRefetch time.Time
	onRemove    []func(kids []string)

	fetches atomic.Int64
}

// New registers cfg.URL with a jwk.Cache bound to ctx. It does not fetch:
// call Start.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("jwks: empty URL")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	cfg.Client = limitClient(cfg.Client)
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
	s := &Store{cfg: cfg, allowed: make(map[jwa.SignatureAlgorithm]bool)}
	for _, a := range cfg.Algorithms {
		s.allowed[a] = true
	}
	s.cache = jwk.NewCache(ctx, jwk.WithErrSink(errSink{s}), jwk.WithRefreshWindow(max(cfg.RefreshInterval/2, time.Second)))
	err := s.cache.Register(cfg.URL,
		jwk.WithHTTPClient(cfg.Client),
		jwk.WithRefreshInterval(cfg.RefreshInterval),
		jwk.WithMinRefreshInterval(cfg.MinRefreshInterval),
		jwk.WithPostFetcher(jwk.PostFetchFunc(s.install)),
	)
	if err != nil {
		return nil, fmt.Errorf("jwks: register %s: %w", cfg.URL, err)
	}
	return s, nil
}

// Start fetches the JWKS once, retrying with capped exponential backoff
// until it succeeds or ctx ends. It returns when keys are loaded (nil) or
// ctx is done (ctx.Err()). Run it in a goroutine; Ready reports progress.
func (s *Store) Start(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	for {
		err := s.fetch(ctx)
		if err == nil {
			return nil
		}
		s.cfg.Logger.Warn("jwks fetch failed; retrying", "url", s.cfg.URL, "error", err.Error(), "retry_in", backoff.String())
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

// Fetches counts JWKS fetches that returned a usable key set.
func (s *Store) Fetches() int64 { return s.fetches.Load() }

// OnRemove registers fn to be called with the kids that a newly fetched JWKS
// no longer contains.
func (s *Store) OnRemove(fn func(kids []string)) {
	s.mu.Lock()
	s.onRemove = append(s.onRemove, fn)
	s.mu.Unlock()
}

// Key returns the key named kid. When kid is unknown it refetches the JWKS
// (one flight shared by all callers, at most once per MinRefreshInterval)
// and looks again. It returns ErrNotReady before the first successful fetch
// and ErrUnknownKey when kid stays unknown.
func (s *Store) Key(ctx context.Context, kid string) (Key, error) {
	m := s.keys.Load()
	if m == nil {
		return Key{}, ErrNotReady
	}
	if k, ok := (*m)[kid]; ok {
		return k, nil
	}
	if !s.refetchAllowed() {
		return Key{}, ErrUnknownKey
	}
	ch := s.flight.DoChan("refetch", func() (any, error) {
		// Detached from the caller: one impatient client must not cancel
		// the fetch every other waiter shares.
		fctx, cancel := context.WithTimeout(context.Background(), s.cfg.FetchTimeout)
		defer cancel()
		return nil, s.fetch(fctx)
	})
	select {
	case <-ctx.Done():
		return Key{}, ctx.Err()
	case <-ch:
	}
	if k, ok := (*s.keys.Load())[kid]; ok {
		return k, nil
	}
	return Key{}, ErrUnknownKey
}

// refetchAllowed reserves the next unknown-kid refetch slot if the minimum
// interval has passed since the last one.
func (s *Store) refetchAllowed() bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastRefetch.IsZero() && now.Sub(s.lastRefetch) < s.cfg.MinRefreshInterval {
		return false
	}
	s.lastRefetch = now
	return true
}

// fetch refreshes the cache now. On failure the previous keys stay in force.
func (s *Store) fetch(ctx context.Context) error {
	_, err := s.cache.Refresh(ctx, s.cfg.URL)
	return err
}

// install is the cache's post-fetch hook: it pins every usable key and swaps
// the set in atomically. A set without a single usable key is refused, so
// the last good keys stay in force.
func (s *Store) install(_ string, set jwk.Set) (jwk.Set, error) {
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
		return nil, errors.New("no usable signature key in the JWKS")
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
	return set, nil
}

type errSink struct{ s *Store }

func (e errSink) Error(err error) {
	e.s.cfg.Logger.Warn("jwks background refresh failed; keeping last good keys", "url", e.s.cfg.URL, "error", err.Error())
}
