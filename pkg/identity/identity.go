// Package identity implements the v1 identity assertion: the gateway signs
// the user id it verified, and internal services accept a request only when
// that signature verifies.
//
// Wire format (frozen as v1; a change is a new version verified side by side):
//
//	X-User-ID: <user id>
//	X-Identity-Signature: v1,kid=<key id>,t=<unix seconds>,sig=<base64url HMAC-SHA256>
//
// The HMAC-SHA256 is computed with the key named by kid over
//
//	"v1\n" + t + "\n" + METHOD + "\n" + request-target + "\n" + user id + "\n" + hex(SHA-256(body))
//
// where request-target is the path and query exactly as sent upstream and
// base64url is unpadded (RFC 4648 §5).
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Header names of the assertion.
const (
	HeaderUserID    = "X-User-ID"
	HeaderSignature = "X-Identity-Signature"
)

// Version is the only assertion version this package speaks.
const Version = "v1"

// MaxUserIDBytes bounds the user id; Better Auth ids are far shorter.
const MaxUserIDBytes = 255

// MaxHeadBytes is the largest request head (request line and header
// fields, through the blank line that ends them) the gateway sends an
// internal service, and so the smallest an internal service must read:
// fasthttp's default read buffer of 4 KiB is too small. The gateway keeps to
// it by construction: its configuration bounds the client heads it reads
// so that one plus what the gateway adds fits.
const MaxHeadBytes = 32 << 10

// Request is what an assertion binds: the request as the upstream receives it.
type Request struct {
	Method     string   // upper-case HTTP method, e.g. "GET"
	Target     string   // path and query exactly as sent upstream, e.g. "/api/tasks?limit=5"
	UserID     string   // the verified subject
	BodySHA256 [32]byte // SHA-256 of the exact body bytes; HashBody(nil) for no body
}

// HashBody returns the SHA-256 of body, as Request.BodySHA256 wants it.
// The empty body's, which most requests (GET, DELETE) sign and verify, is
// computed once.
func HashBody(body []byte) [32]byte {
	if len(body) == 0 {
		return emptyBodySHA256
	}
	return sha256.Sum256(body)
}

// The hash of the empty body and its hex form in the signed text.
var (
	emptyBodySHA256 = sha256.Sum256(nil)
	emptyBodyHex    = hex.EncodeToString(emptyBodySHA256[:])
)

// ValidUserID reports whether id may be asserted: CheckUserID(id) is nil.
func ValidUserID(id string) bool { return CheckUserID(id) == nil }

// ErrUserIDNotHeaderSafe is CheckUserID's answer for an id that an HTTP
// header cannot carry verbatim. It wraps ErrBadUserID.
var ErrUserIDNotHeaderSafe = fmt.Errorf("%w: a control character, or white space at either end, which an HTTP header cannot carry verbatim", ErrBadUserID)

// errUserIDShape is CheckUserID's answer for an empty, too long or not UTF-8 id.
var errUserIDShape = fmt.Errorf("%w: empty, longer than %d bytes or not UTF-8", ErrBadUserID, MaxUserIDBytes)

// CheckUserID returns nil when id may be asserted: 1 to MaxUserIDBytes of
// UTF-8 that travel verbatim in the X-User-ID header — no control character
// (C0, DEL, C1) anywhere, and no white space (Unicode's, or a byte order
// mark) at either end, since HTTP parsers trim the ends of a header value
// (RFC 9110 section 5.5) and many stacks trim more than SP and HTAB; the
// receiver would verify a different id than the one signed. Otherwise it
// returns ErrUserIDNotHeaderSafe or another error wrapping ErrBadUserID.
func CheckUserID(id string) error {
	if id == "" || len(id) > MaxUserIDBytes || !utf8.ValidString(id) {
		return errUserIDShape
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ErrUserIDNotHeaderSafe
		}
	}
	first, _ := utf8.DecodeRuneInString(id)
	last, _ := utf8.DecodeLastRuneInString(id)
	if trimmed(first) || trimmed(last) {
		return ErrUserIDNotHeaderSafe
	}
	return nil
}

// trimmed reports whether r is white space that some HTTP stack trims from
// the ends of a header value.
func trimmed(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// Sign returns the X-Identity-Signature value for r at time now, signed with
// the keyring's first key. The caller must have checked r.UserID with
// ValidUserID.
func (kr *Keyring) Sign(r Request, now time.Time) string {
	var buf [128]byte
	return string(kr.AppendSign(buf[:0], r, now))
}

// AppendSign is Sign appending the header value to dst; with room in dst it
// does not allocate.
func (kr *Keyring) AppendSign(dst []byte, r Request, now time.Time) []byte {
	k := kr.signer
	var tbuf [20]byte
	t := strconv.AppendInt(tbuf[:0], now.Unix(), 10)
	s := k.get()
	defer k.put(s)
	mac := s.compute(t, r)
	dst = append(dst, "v1,kid="...)
	dst = append(dst, k.id...)
	dst = append(dst, ",t="...)
	dst = append(dst, t...)
	dst = append(dst, ",sig="...)
	return base64.RawURLEncoding.AppendEncode(dst, mac)
}

// macState is an HMAC keyed with one key and the scratch space one MAC
// needs. States are pooled per key, so a MAC pays for hashing only: not for
// key setup, and not for allocations of its text or sum.
type macState struct {
	mac  hash.Hash
	text [256]byte
	sum  [sha256.Size]byte
}

// compute returns HMAC-SHA256(key, signed text of r at t). The result
// aliases s and is valid until s is reused.
func (s *macState) compute(t []byte, r Request) []byte {
	s.mac.Reset()
	text := s.text[:0]
	text = append(text, "v1\n"...)
	text = append(text, t...)
	text = append(text, '\n')
	text = append(text, r.Method...)
	text = append(text, '\n')
	text = append(text, r.Target...)
	text = append(text, '\n')
	text = append(text, r.UserID...)
	text = append(text, '\n')
	if r.BodySHA256 == emptyBodySHA256 {
		text = append(text, emptyBodyHex...)
	} else {
		text = hex.AppendEncode(text, r.BodySHA256[:])
	}
	s.mac.Write(text)
	return s.mac.Sum(s.sum[:0])
}

// poolKey is a key with a pool of MAC states keyed with it.
type poolKey struct {
	id   string
	pool sync.Pool
}

func newPoolKey(id string, secret []byte) *poolKey {
	k := &poolKey{id: id}
	k.pool.New = func() any { return &macState{mac: hmac.New(sha256.New, secret)} }
	return k
}

func (k *poolKey) get() *macState  { return k.pool.Get().(*macState) }
func (k *poolKey) put(s *macState) { k.pool.Put(s) }

// SignedText returns the exact text that is MACed for r at unix time t. It
// exists for documentation and for implementers in other languages.
func SignedText(t int64, r Request) string {
	return "v1\n" + strconv.FormatInt(t, 10) + "\n" + r.Method + "\n" + r.Target + "\n" + r.UserID + "\n" + hex.EncodeToString(r.BodySHA256[:])
}
