package server

import (
	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
)

// RateLimitHooks are the gateway's production hooks: anonymous traffic to
// Better Auth (sign-in, sign-up: the brute-force surface) is limited per
// client address, API traffic per verified user. The address is the TCP
// peer, or with TRUSTED_PROXY_HOPS the entry of X-Forwarded-For that the
// outermost trusted proxy wrote.
func RateLimitHooks(cfg config.Config, store *ratelimit.Store) Hooks {
	address := ratelimit.ClientIP
	if cfg.TrustedProxyHops > 0 {
		address = ratelimit.ForwardedFor(cfg.TrustedProxyHops)
	}
	return Hooks{
		Auth:    ratelimit.New("ip", cfg.RateLimit.IP, store).Middleware(address),
		PerUser: ratelimit.New("user", cfg.RateLimit.User, store).Middleware(Subject),
	}
}
