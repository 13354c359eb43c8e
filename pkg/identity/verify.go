package identity

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reasons a verification fails. Verify wraps exactly one of them; Reason
// turns it into a short string that is safe to log.
var (
	ErrMissing            = errors.New("identity: no assertion")
	ErrMalformed          = errors.New("identity: malformed assertion")
	ErrUnsupportedVersion = errors.New("identity: unsupported assertion version")
	ErrUnknownKey         = errors.New("identity: unknown key id")
	ErrStale              = errors.New("identity: timestamp outside the allowed window")
	ErrBadSignature       = errors.New("identity: signature mismatch")
	ErrBadUserID          = errors.New("identity: invalid user id")
)

// DefaultWindow is how far t may lie from the verifier's clock, either way.
const DefaultWindow = 30 * time.Second

// maxHeaderBytes bounds what the parser looks at; a v1 header with a 64-byte
// kid is under 140 bytes.
const maxHeaderBytes = 512

// Verifier checks assertions against a keyring.
type Verifier struct {
	keys   *Keyring
	window time.Duration
}

// NewVerifier returns a Verifier that accepts t within window of the clock,
// in either direction. A window <= 0 means DefaultWindow.
func NewVerifier(keys *Keyring, window time.Duration) *Verifier {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Verifier{keys: keys, window: window}
}

// Assertion is a parsed X-Identity-Signature header.
type Assertion struct {
	Version string
	KeyID   string
	T       int64
	t       string // as sent, the exact digits that were signed
	Sig     []byte
}

// Parse parses a v1 header strictly: the four fields in order, no spaces,
// canonical decimal t, unpadded base64url of exactly 32 bytes. It returns
// ErrMissing, ErrUnsupportedVersion or ErrMalformed.
func Parse(header string) (Assertion, error) {
	if header == "" {
		return Assertion{}, ErrMissing
	}
	if len(header) > maxHeaderBytes {
		return Assertion{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxHeaderBytes)
	}
	version, rest, _ := strings.Cut(header, ",")
	if version != Version {
		if strings.HasPrefix(version, "v") && !strings.ContainsAny(version, "=") {
			return Assertion{}, fmt.Errorf("%w: %.8q", ErrUnsupportedVersion, version)
		}
		return Assertion{}, fmt.Errorf("%w: must start with %q", ErrMalformed, Version+",")
	}
	fields := strings.Split(rest, ",")
	if len(fields) != 3 {
		return Assertion{}, fmt.Errorf("%w: want four fields v1,kid,t,sig", ErrMalformed)
	}
	a := Assertion{Version: version}
	var ok bool
	if a.KeyID, ok = strings.CutPrefix(fields[0], "kid="); !ok || checkKeyID(a.KeyID) != nil {
		return Assertion{}, fmt.Errorf("%w: bad kid field", ErrMalformed)
	}
	if a.t, ok = strings.CutPrefix(fields[1], "t="); !ok {
		return Assertion{}, fmt.Errorf("%w: bad t field", ErrMalformed)
	}
	t, err := strconv.ParseInt(a.t, 10, 64)
	if err != nil || t < 0 || strconv.FormatInt(t, 10) != a.t {
		return Assertion{}, fmt.Errorf("%w: t is not canonical unix seconds", ErrMalformed)
	}
	a.T = t
	sig, ok := strings.CutPrefix(fields[2], "sig=")
	if !ok {
		return Assertion{}, fmt.Errorf("%w: bad sig field", ErrMalformed)
	}
	a.Sig, err = base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(a.Sig) != 32 {
		return Assertion{}, fmt.Errorf("%w: sig is not unpadded base64url of 32 bytes", ErrMalformed)
	}
	return a, nil
}

// Verify checks header against r at time now. It returns nil only when the
// header parses, names a known key, its t lies within the window, r.UserID is
// valid and the MAC matches (compared in constant time). Otherwise the error
// wraps one of the Err* reasons.
func (v *Verifier) Verify(header string, r Request, now time.Time) error {
	a, err := Parse(header)
	if err != nil {
		return err
	}
	if !ValidUserID(r.UserID) {
		return ErrBadUserID
	}
	secret, ok := v.keys.lookup(a.KeyID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, a.KeyID)
	}
	skew := now.Sub(time.Unix(a.T, 0))
	if skew > v.window || skew < -v.window {
		return fmt.Errorf("%w: skew %s", ErrStale, skew.Truncate(time.Second))
	}
	st := secret.get()
	defer secret.put(st)
	if !hmac.Equal(st.compute([]byte(a.t), r), a.Sig) {
		return ErrBadSignature
	}
	return nil
}

// Reason returns a short, log-safe name for why err failed verification:
// "missing", "malformed", "unsupported_version", "unknown_key", "stale",
// "bad_signature", "bad_user_id", or "error" for anything else.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnsupportedVersion):
		return "unsupported_version"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrBadUserID):
		return "bad_user_id"
	}
	return "error"
}
