package ratelimit

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Key functions for Middleware.

// Local keys requests by a string an earlier middleware stored in
// c.Locals(name), such as the verified token's sub.
func Local(name string) func(*fiber.Ctx) (string, bool) {
	return func(c *fiber.Ctx) (string, bool) {
		s, ok := c.Locals(name).(string)
		return s, ok && s != ""
	}
}

// ClientIP keys requests by c.IP(): the peer address, or the ProxyHeader of
// the Fiber app when the peer is a trusted proxy. Use it when the gateway is
// reached directly or the proxy sets a single-address header (X-Real-IP).
// IPv6 addresses are keyed by their /64, which one client usually holds whole.
func ClientIP(c *fiber.Ctx) (string, bool) {
	return addressKey(c.IP())
}

// ForwardedFor keys requests by the address that the outermost of hops
// trusted proxies saw, read from the right of X-Forwarded-For. The leftmost
// entries are whatever the client wrote and must never be the key: a client
// would get a fresh limit per made-up address. With fewer entries than hops
// the request did not come through the proxies, and the peer address is used.
func ForwardedFor(hops int) func(*fiber.Ctx) (string, bool) {
	return func(c *fiber.Ctx) (string, bool) {
		var entries []string
		for _, h := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
			for _, part := range strings.Split(string(h), ",") {
				entries = append(entries, strings.TrimSpace(part))
			}
		}
		if hops < 1 || len(entries) < hops {
			return addressKey(c.Context().RemoteIP().String())
		}
		return addressKey(entries[len(entries)-hops])
	}
}

// addressKey normalises an address; IPv6 becomes its /64 prefix.
func addressKey(s string) (string, bool) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String(), true
	}
	return addr.String(), true
}
