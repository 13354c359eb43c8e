package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// mergeExposed adds to dst's Access-Control-Expose-Headers the header names
// an upstream listed in its own (upstream), so that a frontend reads what the
// upstream meant it to read: Better Auth's bearer and jwt plugins list
// set-auth-token and set-auth-jwt there. It does so only when dst already
// grants the request's origin (the gateway's CORS middleware has set
// Access-Control-Allow-Origin): an upstream never widens who may read a
// response, only what a granted origin may read. Names that are not HTTP
// tokens, "*" and names already listed are skipped.
func mergeExposed(dst *fasthttp.ResponseHeader, upstream []byte) {
	if len(dst.Peek(fasthttp.HeaderAccessControlAllowOrigin)) == 0 {
		return
	}
	merged := append([]byte(nil), dst.Peek(fasthttp.HeaderAccessControlExposeHeaders)...)
	n := len(merged)
	for name := range bytes.SplitSeq(upstream, []byte{','}) {
		name = bytes.TrimSpace(name)
		if !isToken(name) || (len(name) == 1 && name[0] == '*') || listed(merged, name) {
			continue
		}
		if len(merged) > 0 {
			merged = append(merged, ',', ' ')
		}
		merged = append(merged, name...)
	}
	if len(merged) > n {
		dst.Set(fasthttp.HeaderAccessControlExposeHeaders, string(merged))
	}
}

// listed reports whether the comma-separated list holds name, ignoring case.
func listed(list, name []byte) bool {
	for l := range bytes.SplitSeq(list, []byte{','}) {
		if bytes.EqualFold(bytes.TrimSpace(l), name) {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token (a valid field name).
func isToken(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}
