package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// KeySource finds the verification key for a kid; *jwks.Store is one. It
// returns jwks.ErrNotReady, jwks.ErrFetchFailed or jwks.ErrUnknownKey when
// it has none.
type KeySource interface {
	Key(ctx context.Context, kid string) (jwks.Key, error)
}

// Config configures an Authenticator.
type Config struct {
	Keys KeySource
	// Algorithms are the asymmetric algorithms accepted (default: all that
	// Better Auth can issue).
	Algorithms []jwa.SignatureAlgorithm
	Issuer     string
	Audience   string
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration
	// MaxTokenBytes bounds the token (default 8 KiB).
	MaxTokenBytes int
	// SharedSecret, when non-empty, enables HS256 tokens signed with it. It
	// never applies to a token whose header names another algorithm.
	SharedSecret []byte
	// CacheSize bounds the verified-token cache; 0 disables it, as
	// JWT_CACHE_SIZE=0 does. The default (10000) lives in config.Vars only.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Principal is who a verified token speaks for.
type Principal struct {
	Subject string
	KeyID   string    // "" for shared-secret tokens
	Alg     string    // the algorithm the signature was verified with (a jwa constant)
	Expiry  time.Time // exp; the cache keeps the token until Expiry+Leeway
}

// Authenticator verifies tokens. It is safe for concurrent use.
type Authenticator struct {
	cfg       Config
	allowed   map[jwa.SignatureAlgorithm]jws.Verifier
	hs256     jws.Verifier
	cache     *tokenCache
	validate  []jwt.ValidateOption
	maxTokenB int
}

// DefaultMaxTokenBytes bounds a token when Config.MaxTokenBytes is 0.
const DefaultMaxTokenBytes = 8 << 10

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Keys == nil && len(cfg.SharedSecret) == 0 {
		return nil, errors.New("authn: neither a key source nor a shared secret")
	}
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("authn: cache size %d is negative; 0 disables the cache", cfg.CacheSize)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("authn: issuer and audience are required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = jwks.SupportedAlgorithms
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg, allowed: make(map[jwa.SignatureAlgorithm]jws.Verifier), maxTokenB: cfg.MaxTokenBytes}
	if a.maxTokenB <= 0 {
		a.maxTokenB = DefaultMaxTokenBytes
	}
	for _, alg := range cfg.Algorithms {
		if isSymmetric(alg) || alg == jwa.NoSignature {
			return nil, fmt.Errorf("authn: %q cannot be a JWKS algorithm", alg)
		}
		v, err := jws.NewVerifier(alg)
		if err != nil {
			return nil, fmt.Errorf("authn: algorithm %q: %w", alg, err)
		}
		a.allowed[alg] = v
	}
	if len(cfg.SharedSecret) > 0 {
		v, err := jws.NewVerifier(jwa.HS256)
		if err != nil {
			return nil, err
		}
		a.hs256 = v
	}
	if cfg.CacheSize > 0 {
		a.cache = newTokenCache(cfg.CacheSize, defaultCacheBytes)
	}
	a.validate = []jwt.ValidateOption{
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithAcceptableSkew(cfg.Leeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
	}
	return a, nil
}

// MaxTokenBytes is the token size limit in force.
func (a *Authenticator) MaxTokenBytes() int { return a.maxTokenB }

// ForgetKeys drops cached tokens signed by any of kids. Wire it to
// jwks.Store.OnRemove so a key that leaves the JWKS stops being honoured.
func (a *Authenticator) ForgetKeys(kids []string) {
	if a.cache != nil {
		a.cache.forgetKids(kids)
	}
}

// Verify verifies token and returns its principal, which the caller must
// not modify. Steady-state traffic is served from the verified-token cache
// without a signature check, a copy or an allocation; token is not retained.
func (a *Authenticator) Verify(ctx context.Context, token []byte) (*Principal, error) {
	return a.VerifyAt(ctx, token, a.cfg.Now())
}

// VerifyAt is Verify with the time claims checked against now, for a
// server that reads the clock once per request.
func (a *Authenticator) VerifyAt(ctx context.Context, token []byte, now time.Time) (*Principal, error) {
	if len(token) > a.maxTokenB {
		return nil, errTooLarge
	}
	if a.cache != nil {
		if p, ok := a.cache.get(token, now); ok {
			return p, nil
		}
	}
	if err := checkShape(token); err != nil {
		return nil, err
	}
	tok := string(token)
	p, err := a.verify(ctx, tok, now)
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		return a.cache.put(tok, p, a.cfg.Leeway), nil
	}
	return &p, nil
}

// refused are header fields that name keys or change processing. The
// gateway never uses them; a token that carries one is rejected outright.
var refused = []string{"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip"}

// header is the part of the JOSE header the gateway reads.
type header struct {
	Alg, Kid string
}

// parseHeader reads the JOSE header strictly (see strict.go): exact member
// names, none twice, none that differs from a known one only in case;
// alg, kid and typ strings; no member the gateway refuses; typ absent or JWT.
func parseHeader(raw []byte) (header, error) {
	fields, err := members(raw)
	switch {
	case errors.Is(err, errDuplicate):
		return header{}, errDuplicateHeader
	case err != nil:
		return header{}, errBadHeader
	}
	if caseVariant(fields, headerNames...) != "" {
		return header{}, errHeaderCase
	}
	for _, name := range refused {
		if _, ok := fields[name]; ok {
			return header{}, errForbiddenHeader
		}
	}
	alg, okAlg := stringMember(fields, "alg")
	kid, okKid := stringMember(fields, "kid")
	typ, okTyp := stringMember(fields, "typ")
	if !okAlg || !okKid || !okTyp {
		return header{}, errHeaderNotString
	}
	if typ != "" && !strings.EqualFold(typ, "JWT") {
		return header{}, errBadType
	}
	return header{Alg: alg, Kid: kid}, nil
}

// headerNames are the header members the gateway reads or refuses; a
// member that differs from one of them only in case is refused too.
var headerNames = append([]string{"alg", "kid", "typ"}, refused...)

// verify checks a token that has the shape tokenShaped accepts.
func (a *Authenticator) verify(ctx context.Context, token string, now time.Time) (Principal, error) {
	h64, rest, _ := strings.Cut(token, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	rawHeader, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return Principal{}, errMalformed
	}
	if !utf8.Valid(rawHeader) {
		return Principal{}, errBadHeader
	}
	hdr, err := parseHeader(rawHeader)
	if err != nil {
		return Principal{}, err
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err != nil {
		return Principal{}, errMalformed
	}
	signingInput := []byte(token[:len(h64)+1+len(p64)])

	alg := jwa.SignatureAlgorithm(hdr.Alg)
	var kid string
	switch {
	case hdr.Alg == "" || strings.EqualFold(hdr.Alg, "none"):
		return Principal{}, errAlgNone
	case alg == jwa.HS256 && a.hs256 != nil:
		if err := a.hs256.Verify(signingInput, sig, a.cfg.SharedSecret); err != nil {
			return Principal{}, errBadSignature
		}
	default:
		verifier, ok := a.allowed[alg]
		if !ok || a.cfg.Keys == nil {
			return Principal{}, errAlgNotAllowed
		}
		if hdr.Kid == "" {
			return Principal{}, errNoKid
		}
		key, err := a.cfg.Keys.Key(ctx, hdr.Kid)
		switch {
		case errors.Is(err, jwks.ErrNotReady), errors.Is(err, jwks.ErrFetchFailed):
			return Principal{}, ErrKeysUnavailable
		case errors.Is(err, jwks.ErrUnknownKey):
			return Principal{}, errUnknownKid
		case err != nil:
			return Principal{}, err
		}
		if key.Alg != alg {
			return Principal{}, errAlgMismatch
		}
		if err := verifier.Verify(signingInput, sig, key.Public); err != nil {
			return Principal{}, errBadSignature
		}
		kid = key.ID
	}

	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return Principal{}, errMalformed
	}
	p, err := a.claims(payload, kid, now)
	p.Alg = string(alg) // alg was checked against a key's pinned algorithm, or is HS256
	return p, err
}

// claimNames are the registered claims (RFC 7519 section 4.1); a claim that
// differs from one of them only in case is refused.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// claims parses and validates the verified payload: strictly (strict.go),
// then with jwx for iss, aud and the time claims; exp is required, and is
// also checked here with its fraction, since jwx truncates it to seconds
// and takes a zero exp (0.4 included) as none.
func (a *Authenticator) claims(payload []byte, kid string, now time.Time) (Principal, error) {
	if !utf8.Valid(payload) {
		return Principal{}, errBadClaims
	}
	fields, err := members(payload)
	switch {
	case errors.Is(err, errDuplicate):
		return Principal{}, errDuplicateClaim
	case err != nil:
		return Principal{}, errBadClaims
	}
	if caseVariant(fields, claimNames...) != "" {
		return Principal{}, errClaimCase
	}
	exp, hasExp, ok := numericDate(fields, "exp")
	if !ok {
		return Principal{}, errBadTimeClaim
	}
	for _, name := range []string{"nbf", "iat"} {
		if _, _, ok := numericDate(fields, name); !ok {
			return Principal{}, errBadTimeClaim
		}
	}
	switch {
	case !hasExp:
		return Principal{}, errMissingExp
	case !exp.After(time.Unix(0, 0)):
		return Principal{}, errExpNotPositive
	case !now.Before(exp.Add(a.cfg.Leeway)):
		return Principal{}, errExpired
	}
	tok, err := jwt.Parse(payload, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return Principal{}, errBadClaims
	}
	opts := append(a.validate[:len(a.validate):len(a.validate)], jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
	if err := jwt.Validate(tok, opts...); err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired()):
			return Principal{}, errExpired
		case errors.Is(err, jwt.ErrTokenNotYetValid()):
			return Principal{}, errNotYetValid
		case errors.Is(err, jwt.ErrInvalidIssuedAt()):
			return Principal{}, errIssuedInFuture
		case errors.Is(err, jwt.ErrInvalidIssuer()):
			return Principal{}, errBadIssuer
		case errors.Is(err, jwt.ErrInvalidAudience()):
			return Principal{}, errBadAudience
		case errors.Is(err, jwt.ErrRequiredClaim()):
			return Principal{}, errBadSubject
		}
		return Principal{}, errBadClaims
	}
	switch err := identity.CheckUserID(tok.Subject()); {
	case errors.Is(err, identity.ErrUserIDNotHeaderSafe):
		return Principal{}, errSubjectNotHeaderSafe
	case err != nil:
		return Principal{}, errBadSubject
	}
	return Principal{Subject: tok.Subject(), KeyID: kid, Expiry: tok.Expiration()}, nil
}

func isSymmetric(alg jwa.SignatureAlgorithm) bool {
	return alg == jwa.HS256 || alg == jwa.HS384 || alg == jwa.HS512
}
