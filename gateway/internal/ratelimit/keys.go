package ratelimit

import (
	"net"
	"net/netip"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
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

// Address keys requests by their client address as r decides it: the TCP
// peer, or behind r.Hops trusted proxies the address the outermost of them
// saw (see package clientip; never an entry the client wrote). IPv6
// addresses are keyed by their /64, which one client usually holds whole.
func Address(r clientip.Resolver) func(*fiber.Ctx) (string, bool) {
	return func(c *fiber.Ctx) (string, bool) {
		return AddressKey(r, &c.Request().Header, c.Context().RemoteIP())
	}
}

// AddressKey is Address's key for a request with headers h from peer, for
// callers outside a Fiber handler.
func AddressKey(r clientip.Resolver, h *fasthttp.RequestHeader, peer net.IP) (string, bool) {
	return addressKey(r.Of(h, peer))
}

// addressKey is the key of an address; IPv6 becomes its /64 prefix.
func addressKey(addr netip.Addr) (string, bool) {
	if !addr.IsValid() {
		return "", false
	}
	if addr = addr.Unmap(); addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String(), true
	}
	return addr.String(), true
}
