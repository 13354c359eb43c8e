package authn

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Source says where Extract found a token.
type Source int

const (
	// FromAuthorization: the Authorization header, which a browser never
	// attaches on its own.
	FromAuthorization Source = iota
	// FromCookie: the configured cookie, which a browser attaches to
	// cross-site requests too (depending on its SameSite attribute); a
	// caller must not let it authorise a cross-origin change.
	FromCookie
)

// Extract returns the token of a request and where it was found: from
// "Authorization: Bearer", else from the cookie named cookieName (if not
// empty). The query string is never a source. It returns ErrNoToken when
// neither is present and a *TokenError for a second Authorization header, a
// non-Bearer scheme, an empty or an oversized token. The token's syntax is
// Verify's business: a token the cache knows needs no check. The token
// aliases the request's header buffer: it is valid until the request
// handler returns.
func Extract(h *fasthttp.RequestHeader, cookieName string, maxBytes int) ([]byte, Source, error) {
	auth := h.PeekAll(fasthttp.HeaderAuthorization)
	switch len(auth) {
	case 0:
	case 1:
		tok, err := bearer(auth[0], maxBytes)
		return tok, FromAuthorization, err
	default:
		return nil, FromAuthorization, errTwoTokens
	}
	if cookieName == "" {
		return nil, FromAuthorization, ErrNoToken
	}
	c := h.Cookie(cookieName)
	if len(c) == 0 {
		return nil, FromAuthorization, ErrNoToken
	}
	if len(c) > maxBytes {
		return nil, FromCookie, errTooLarge
	}
	return c, FromCookie, nil
}

var bearerPrefix = []byte("bearer ")

func bearer(v []byte, maxBytes int) ([]byte, error) {
	if len(v) < len(bearerPrefix) || !bytes.EqualFold(v[:len(bearerPrefix)], bearerPrefix) {
		return nil, errBadScheme
	}
	tok := bytes.TrimLeft(v[len(bearerPrefix):], " ")
	if len(tok) == 0 {
		return nil, errMalformed
	}
	if len(tok) > maxBytes {
		return nil, errTooLarge
	}
	return tok, nil
}

// checkShape returns nil for a token tokenShaped accepts, else the reason:
// two tokens in one header (token-shaped parts between commas, spaces and
// "Bearer"), or a malformed one — such as an error body that a script
// took for a token, commas and all.
func checkShape(tok []byte) error {
	if tokenShaped(tok) {
		return nil
	}
	parts := bytes.FieldsFunc(tok, func(r rune) bool { return r == ',' || r == ' ' })
	n := 0
	for _, p := range parts {
		if bytes.EqualFold(p, bearerPrefix[:len(bearerPrefix)-1]) {
			continue
		}
		if !tokenShaped(p) {
			return errMalformed
		}
		n++
	}
	if n > 1 {
		return errTwoTokens
	}
	return errMalformed
}

// b64url marks the base64url alphabet: A-Z, a-z, 0-9, '-' and '_'.
var b64url = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'] = true, true
	return t
}()

// tokenShaped reports whether t consists of three non-empty base64url
// segments separated by dots, and nothing else.
func tokenShaped(t []byte) bool {
	dots, run := 0, 0
	for _, c := range t {
		if b64url[c] {
			run++
			continue
		}
		if c != '.' || run == 0 {
			return false
		}
		dots++
		run = 0
	}
	return dots == 2 && run > 0
}
