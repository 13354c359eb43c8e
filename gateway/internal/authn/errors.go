package authn

import (
	"errors"
	"strings"
)

// ErrNoToken means the request carried no credentials at all.
var ErrNoToken = errors.New("authn: no bearer token")

// ErrKeysUnavailable means the token's key cannot be known: no JWKS has
// been loaded yet, or its kid is new and the JWKS could not be fetched. The
// token is judged neither valid nor invalid; the right answer is 503, not 401.
var ErrKeysUnavailable = errors.New("authn: verification keys not loaded yet")

// TokenError rejects a token. Reason is a stable snake_case code for logs
// and metrics; Description is a short sentence for the client.
type TokenError struct {
	Reason      string
	Description string
}

func (e *TokenError) Error() string { return "authn: invalid token: " + e.Reason }

func reject(reason, description string) *TokenError {
	return &TokenError{Reason: reason, Description: description}
}

// Rejections, one per rule. Shared values: they carry no token data.
var (
	errMalformed            = reject("malformed", "the token is not a JWT: three base64url parts joined by dots")
	errTooLarge             = reject("too_large", "the token is larger than allowed")
	errBadHeader            = reject("bad_header", "the token header is not valid JSON")
	errDuplicateHeader      = reject("duplicate_header", "the token header has a member twice")
	errHeaderCase           = reject("bad_header", "the token header has a member whose name differs from alg, kid, typ or a refused one only in case (names are case-sensitive)")
	errHeaderNotString      = reject("bad_header", "the token header's alg, kid and typ must be strings")
	errForbiddenHeader      = reject("forbidden_header", "the token header carries a field this gateway refuses ("+strings.Join(refused, ", ")+")")
	errBadType              = reject("bad_type", "the token typ is not JWT")
	errAlgNone              = reject("alg_none", "unsigned tokens are not accepted")
	errAlgNotAllowed        = reject("alg_not_allowed", "the token algorithm is not accepted")
	errNoKid                = reject("missing_kid", "the token header has no kid")
	errUnknownKid           = reject("unknown_kid", "no key with this kid is published")
	errAlgMismatch          = reject("alg_mismatch", "the token algorithm does not match its key")
	errBadSignature         = reject("bad_signature", "the signature does not verify")
	errBadClaims            = reject("bad_claims", "the token claims are not a valid JSON object")
	errDuplicateClaim       = reject("duplicate_claim", "the token claims have a member twice")
	errClaimCase            = reject("bad_claims", "the token has a claim whose name differs from a registered one (iss, sub, aud, exp, nbf, iat, jti) only in case (names are case-sensitive)")
	errBadTimeClaim         = reject("bad_time_claim", "exp, nbf and iat must be JSON numbers of seconds since 1970 (not strings), at most year 9999")
	errExpNotPositive       = reject("bad_time_claim", "the token exp must be a positive number of seconds")
	errExpired              = reject("expired", "the token has expired")
	errNotYetValid          = reject("not_yet_valid", "the token is not valid yet")
	errIssuedInFuture       = reject("issued_in_future", "the token was issued in the future")
	errMissingExp           = reject("missing_exp", "the token has no exp claim")
	errBadIssuer            = reject("bad_issuer", "the token issuer is not accepted")
	errBadAudience          = reject("bad_audience", "the token audience is not accepted")
	errBadSubject           = reject("bad_subject", "the token sub is missing or not a valid user id")
	errSubjectNotHeaderSafe = reject("subject_not_header_safe", "the token sub has a control character or white space at either end, which the X-User-ID header cannot carry verbatim")
	errTwoTokens            = reject("multiple_tokens", "the request carries more than one token")
	errBadScheme            = reject("bad_scheme", "the Authorization header is not a Bearer token")
)
