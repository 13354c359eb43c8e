package server

import (
	"encoding/json"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/connlimit"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// connLimits is what Serve's connlimit.Listener enforces: CLIENT_MAX_CONNS,
// and CLIENT_MAX_CONNS_PER_ADDR per TCP peer when clients connect directly.
// Behind trusted proxies the peers are the proxies, which carry many
// clients each: capping them would cap everyone, so the per-address cap
// belongs to the proxy in front.
func connLimits(cfg config.Config) connlimit.Config {
	c := connlimit.Config{
		Max: cfg.ClientMaxConns,
		OverMax: refusal(problem.New(fiber.StatusServiceUnavailable, "too-many-connections", "Service Unavailable",
			"The gateway holds as many client connections as it may; retry shortly.")),
		OverAddr: refusal(problem.New(fiber.StatusTooManyRequests, "too-many-connections", "Too Many Requests",
			"Too many connections from this address; reuse or close one before opening another.")),
	}
	if cfg.TrustedProxyHops == 0 {
		c.MaxPerAddr = cfg.ClientMaxConnsPerAddr
	}
	return c
}

// refusal is the whole response sent to a connection the gateway refuses
// before reading anything from it: p as problem+json with the security
// headers, Retry-After and Connection: close. There is no request, so there
// is no request id.
func refusal(p *problem.Details) []byte {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.SetStatusCode(p.Status)
	for _, kv := range securityHeaderValues {
		resp.Header.SetCanonical(kv[0], kv[1])
	}
	resp.Header.SetContentType(problem.ContentType)
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	resp.Header.Set(fiber.HeaderRetryAfter, "1")
	resp.Header.SetConnectionClose()
	body, _ := json.Marshal(p) // a plain struct: cannot fail
	resp.SetBody(body)
	return []byte(resp.String())
}
