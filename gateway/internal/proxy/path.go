package proxy

import (
	"bytes"
	"errors"
)

// ErrPath is returned by CheckPath for a path that could mean different
// things to the gateway and to an upstream.
var ErrPath = errors.New("proxy: ambiguous request path")

// CheckPath accepts a raw request path only when every proxy and framework
// would read it the same way: it starts with "/", has no empty, "." or ".."
// segment (plain or percent-encoded), no encoded "/" or "\", no "\", no
// encoded NUL or control characters, and no malformed percent escape. The
// gateway rejects rather than normalises, so what was routed is exactly what
// reaches the upstream.
func CheckPath(raw []byte) error {
	if len(raw) == 0 || raw[0] != '/' {
		return ErrPath
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c <= 0x20 || c == 0x7f || c == '\\':
			return ErrPath
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return ErrPath
			}
			d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			if d == '/' || d == '\\' || d < 0x20 || d == 0x7f || d == '%' {
				return ErrPath
			}
		}
	}
	// Segment checks; raw[0] is '/', so segments start at 1.
	rest := raw[1:]
	for {
		seg, tail, more := bytes.Cut(rest, []byte{'/'})
		if dotSegment(seg) || (len(seg) == 0 && more) {
			return ErrPath
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// dotSegment reports whether seg decodes to "." or "..".
func dotSegment(seg []byte) bool {
	if len(seg) == 0 || len(seg) > 6 {
		return false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		switch {
		case seg[i] == '.':
			n++
		case seg[i] == '%' && i+2 < len(seg) && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			n++
			i += 2
		default:
			return false
		}
	}
	return n == 1 || n == 2
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
