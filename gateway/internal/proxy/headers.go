package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Header classes, by canonical name (see canon). They are switch cases
// rather than lists because every header of every request is classified.

// isHopByHop reports the RFC 9110 §7.6.1 connection-specific headers plus
// the legacy ones proxies still see; they are never forwarded, either way.
// Expect is not hop-by-hop by the RFC, but the gateway has read the body.
func isHopByHop(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade", "expect":
		return true
	}
	return false
}

// isForwarding reports the headers the gateway sets itself or that name
// another request; a client's values are dropped, never appended to.
func isForwarding(name []byte) bool {
	switch string(name) {
	case "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix",
		"x-forwarded-server", "forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-uri",
		"x-http-method-override", "x-http-method", "x-method-override":
		return true
	}
	return false
}

// isIdentity reports identity headers, dropped whatever follows the
// prefix: X-User-ID, X-User-Email, X-Identity-Signature, X-Auth-Anything.
func isIdentity(name []byte) bool {
	return bytes.HasPrefix(name, []byte("x-user-")) || bytes.HasPrefix(name, []byte("x-identity-")) ||
		bytes.HasPrefix(name, []byte("x-auth-"))
}

// Drop options for Clean.
const (
	// DropCredentials also removes Authorization and Cookie: the tasks
	// service must see only the signed identity.
	DropCredentials = 1 << iota
)

// canon lower-cases name and maps '_' to '-' into buf, so X_User_ID,
// x-user-id and X-USER-ID all compare equal.
func canon(buf, name []byte) []byte {
	buf = buf[:0]
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		buf = append(buf, c)
	}
	return buf
}

func inList(list [][]byte, name []byte) bool {
	for _, l := range list {
		if bytes.Equal(l, name) {
			return true
		}
	}
	return false
}

// dropped reports whether a request header (in canonical form) never
// reaches an upstream.
func dropped(name []byte, flags int, named [][]byte) bool {
	if isHopByHop(name) || isForwarding(name) || isIdentity(name) || inList(named, name) {
		return true
	}
	switch string(name) {
	case "x-request-id", "host", "content-length":
		// The gateway sets these itself (only the canonical request id
		// spelling survives; fasthttp writes Host and Content-Length).
		return true
	case "authorization", "cookie":
		return flags&DropCredentials != 0
	}
	return false
}

// connectionNamed returns the canonical names listed in every Connection
// header: a client may name any header there to make a proxy drop it, so the
// gateway drops such headers itself before it sets its own.
func connectionNamed(h *fasthttp.RequestHeader) [][]byte {
	var out [][]byte
	for _, v := range h.PeekAll(fasthttp.HeaderConnection) {
		for _, tok := range bytes.Split(v, []byte{','}) {
			tok = bytes.TrimSpace(tok)
			if len(tok) > 0 {
				out = append(out, canon(nil, tok))
			}
		}
	}
	return out
}

// CopyHeaders copies to dst every header of src that an upstream may
// receive from a client. It leaves behind hop-by-hop headers and those named
// by Connection, forwarding headers, identity headers in any spelling
// (X-User-ID, X_User_ID, X-Identity-*), every X-Request-ID, Host,
// Content-Length and, with DropCredentials, Authorization and Cookie.
func CopyHeaders(dst, src *fasthttp.RequestHeader, flags int) {
	named := connectionNamed(src)
	var buf [64]byte
	for key, value := range src.All() {
		var c []byte
		if len(key) > len(buf) {
			c = canon(nil, key)
		} else {
			c = canon(buf[:0], key)
		}
		if dropped(c, flags, named) {
			continue
		}
		dst.AddBytesKV(key, value)
	}
}

// skipResponseHeader reports whether an upstream response header stays
// behind: hop-by-hop headers and those the gateway writes itself.
func skipResponseHeader(name []byte) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return false
	}
	c := canon(buf[:0], name)
	if isHopByHop(c) {
		return true
	}
	switch string(c) {
	case "content-length", "date", "server", "x-request-id":
		return true
	}
	return false
}
