// Package clientip decides a request's client address: the TCP peer, or,
// behind trusted reverse proxies that append to X-Forwarded-For, the
// address the outermost of them saw.
//
// Each trusted proxy appends the address it received the request from, so
// with Hops proxies in front of the gateway the client is the entry Hops
// places from the right. Entries further left are whatever the client
// wrote and are never used. A chain shorter than Hops (the request did not
// come through the proxies) or an entry that is not an address gives the
// peer: the answer may be coarse, but never one a client chose.
package clientip

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// Resolver finds client addresses for a deployment with Hops trusted
// proxies in front of the gateway (0: clients connect directly).
type Resolver struct {
	Hops int
}

// Of returns the client address of a request with headers h that arrived
// from peer.
func (r Resolver) Of(h *fasthttp.RequestHeader, peer net.IP) netip.Addr {
	p, _ := netip.AddrFromSlice(peer)
	p = p.Unmap()
	if r.Hops <= 0 {
		return p
	}
	// Walk the entries from the right, across every X-Forwarded-For line
	// (later lines come after earlier ones).
	n := 0
	values := h.PeekAll(fasthttp.HeaderXForwardedFor)
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			cut := bytes.LastIndexByte(v, ',')
			entry := v[cut+1:]
			n++
			if n == r.Hops {
				if a, ok := parse(entry); ok {
					return a
				}
				return p
			}
			if cut < 0 {
				break
			}
			v = v[:cut]
		}
	}
	return p
}

// parse reads one X-Forwarded-For entry: an IPv4 or IPv6 address, with or
// without a port ("203.0.113.7:4711", "[2001:db8::1]:4711"), spaces around.
func parse(entry []byte) (netip.Addr, bool) {
	entry = bytes.TrimSpace(entry)
	if len(entry) == 0 || len(entry) > 64 {
		return netip.Addr{}, false
	}
	s := string(entry)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

var (
	schemeHTTP  = []byte("http")
	schemeHTTPS = []byte("https")
)

// HTTPS reports whether the client used HTTPS, as Scheme decides.
func (r Resolver) HTTPS(h *fasthttp.RequestHeader, tls bool) bool {
	return bytes.Equal(r.Scheme(h, tls), schemeHTTPS)
}

// Scheme returns the scheme the client used: behind trusted proxies the
// last X-Forwarded-Proto value when it is http or https (the proxy next to
// the gateway sets it), else that of the connection to the gateway.
func (r Resolver) Scheme(h *fasthttp.RequestHeader, tls bool) []byte {
	if r.Hops > 0 {
		values := h.PeekAll(fasthttp.HeaderXForwardedProto)
		if len(values) > 0 {
			v := values[len(values)-1]
			v = bytes.TrimSpace(v[bytes.LastIndexByte(v, ',')+1:])
			switch {
			case bytes.EqualFold(v, schemeHTTPS):
				return schemeHTTPS
			case bytes.EqualFold(v, schemeHTTP):
				return schemeHTTP
			}
		}
	}
	if tls {
		return schemeHTTPS
	}
	return schemeHTTP
}
