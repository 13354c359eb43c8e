package server

import (
	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
)

// RateLimitHooks are the gateway's production hooks: anonymous traffic to
// Better Auth (sign-in, sign-up: the brute-force surface) is limited per
// client address, API traffic per verified user, and failed
// authentications per client address (verifyToken). The address is the TCP
// peer, or with TRUSTED_PROXY_HOPS the entry of X-Forwarded-For that the
// outermost trusted proxy wrote.
func RateLimitHooks(cfg config.Config, store *ratelimit.Store) Hooks {
	return Hooks{
		Auth:     ratelimit.New("ip", cfg.RateLimit.IP, store).Middleware(ratelimit.Address(clientip.Resolver{Hops: cfg.TrustedProxyHops}), cfg.RateLimit.Headers),
		PerUser:  ratelimit.New("user", cfg.RateLimit.User, store).Middleware(Subject, cfg.RateLimit.Headers),
		Failures: ratelimit.New("auth-failure", cfg.RateLimit.AuthFailure, store),
	}
}
