package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// hopByHop are the RFC 9110 §7.6.1 connection-specific headers plus the
// legacy ones proxies still see; they are never forwarded, either way.
var hopByHop = [][]byte{
	[]byte("connection"), []byte("keep-alive"), []byte("proxy-connection"),
	[]byte("proxy-authenticate"), []byte("proxy-authorization"), []byte("te"),
	[]byte("trailer"), []byte("transfer-encoding"), []byte("upgrade"),
	// Not hop-by-hop by the RFC, but the gateway has already read the body.
	[]byte("expect"),
}

// forwarding are the headers the gateway sets itself; a client's values are
// dropped, never appended to.
var forwarding = [][]byte{
	[]byte("x-forwarded-for"), []byte("x-forwarded-proto"), []byte("x-forwarded-host"),
	[]byte("x-forwarded-port"), []byte("x-forwarded-prefix"), []byte("x-forwarded-server"),
	[]byte("forwarded"), []byte("x-real-ip"), []byte("x-original-url"), []byte("x-rewrite-url"),
	[]byte("x-original-uri"), []byte("x-http-method-override"), []byte("x-http-method"), []byte("x-method-override"),
}

// identityPrefixes are dropped whatever follows: X-User-ID, X-User-Email,
// X-Identity-Signature, X-Identity-Anything.
var identityPrefixes = [][]byte{[]byte("x-user-"), []byte("x-identity-"), []byte("x-auth-")}

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
	if inList(hopByHop, name) || inList(forwarding, name) || inList(named, name) {
		return true
	}
	for _, p := range identityPrefixes {
		if bytes.HasPrefix(name, p) {
			return true
		}
	}
	if bytes.Equal(name, []byte("x-request-id")) {
		// Only the canonical spelling survives; the gateway sets it again.
		return true
	}
	if flags&DropCredentials != 0 && (bytes.Equal(name, []byte("authorization")) || bytes.Equal(name, []byte("cookie"))) {
		return true
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
		if dropped(c, flags, named) || bytes.Equal(c, []byte("host")) || bytes.Equal(c, []byte("content-length")) {
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
	return inList(hopByHop, c) || bytes.Equal(c, []byte("content-length")) || bytes.Equal(c, []byte("date")) ||
		bytes.Equal(c, []byte("server")) || bytes.Equal(c, []byte("x-request-id"))
}
