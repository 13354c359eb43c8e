package authn_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// TestStrictTokens: tokens signed by a published key that jwx and Go's
// JSON decoder would accept but that other readers read differently, or
// that say something other than what they seem to: each is refused for its
// own reason. Time claims are JSON numbers and exp is required and positive
// (jwx took "0", "1970-01-01T00:00:00Z" and a zero exp as "never expires");
// header and claim names are exact and unique (Go matched {"ALG":…} for
// alg); a sub must travel verbatim in the X-User-ID header (a trailing space
// was signed, then trimmed by tasks-service's parser: every request 401).
func TestStrictTokens(t *testing.T) {
	f := newFixture(t, nil)
	ed := allKeys()[jwa.EdDSA]
	now := f.now
	hdr := string(mustJSON(map[string]any{"alg": "EdDSA", "kid": ed.ID}))
	// claims returns the JSON text of valid claims for alice without the
	// members named in drop, with the raw members extra appended.
	claims := func(drop []string, extra ...string) string {
		c := f.iss.Claims("alice", now)
		for _, k := range drop {
			delete(c, k)
		}
		text := strings.TrimSuffix(string(mustJSON(c)), "}")
		for _, e := range extra {
			text += "," + e
		}
		return text + "}"
	}
	exp := func(raw string) string {
		return testissuer.MintBytes(ed, []byte(hdr), []byte(claims([]string{"exp"}, `"exp":`+raw)))
	}
	withClaim := func(name, raw string) string {
		return testissuer.MintBytes(ed, []byte(hdr), []byte(claims([]string{name}, `"`+name+`":`+raw)))
	}
	withHeader := func(header string) string {
		return testissuer.MintBytes(ed, []byte(header), []byte(claims(nil)))
	}
	sub := func(s string) string { return testissuer.Mint(ed, f.iss.Claims(s, now)) }
	future := strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)

	cases := []struct {
		name   string
		token  string
		reason string
	}{
		{"exp 0", exp("0"), "bad_time_claim"},
		{"exp -1", exp("-1"), "bad_time_claim"},
		{"exp 0.4", exp("0.4"), "expired"},
		{"exp 1 (1970)", exp("1"), "expired"},
		{`exp "0"`, exp(`"0"`), "bad_time_claim"},
		{`exp "1970-01-01T00:00:00Z"`, exp(`"1970-01-01T00:00:00Z"`), "bad_time_claim"},
		{"exp a future time as a string", exp(`"` + future + `"`), "bad_time_claim"},
		{"exp null", exp("null"), "bad_time_claim"},
		{"exp true", exp("true"), "bad_time_claim"},
		{"exp past year 9999", exp("1e300"), "bad_time_claim"},
		{"exp twice", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil, `"exp":`+future))), "duplicate_claim"},
		{"nbf as a string", withClaim("nbf", `"0"`), "bad_time_claim"},
		{"iat as a string", withClaim("iat", `"`+strconv.FormatInt(now.Unix(), 10)+`"`), "bad_time_claim"},
		{"no exp", testissuer.MintBytes(ed, []byte(hdr), []byte(claims([]string{"exp"}))), "missing_exp"},
		{"EXP instead of exp", testissuer.MintBytes(ed, []byte(hdr), []byte(claims([]string{"exp"}, `"EXP":`+future))), "bad_claims"},
		{"Sub besides sub", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil, `"Sub":"bob"`))), "bad_claims"},
		{"sub twice", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil, `"sub":"bob"`))), "duplicate_claim"},
		{"sub twice, once escaped", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil, `"s\u0075b":"bob"`))), "duplicate_claim"},
		{"claims followed by more JSON", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil)+`{}`)), "bad_claims"},

		{"header names in upper case", withHeader(`{"ALG":"EdDSA","KID":"` + ed.ID + `"}`), "bad_header"},
		{"Kid besides kid", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","Kid":"other"}`), "bad_header"},
		{"JKU in upper case", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","JKU":"https://evil.example/jwks"}`), "bad_header"},
		{"alg twice", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","alg":"none"}`), "duplicate_header"},
		{"kid twice", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","kid":"other"}`), "duplicate_header"},
		{"alg twice, once escaped", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","\u0061lg":"none"}`), "duplicate_header"},
		{"kid a number", withHeader(`{"alg":"EdDSA","kid":5}`), "bad_header"},
		{"typ an array", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `","typ":["JWT"]}`), "bad_header"},
		{"header followed by more JSON", withHeader(`{"alg":"EdDSA","kid":"` + ed.ID + `"}{}`), "bad_header"},

		{"sub with a leading space", sub(" alice"), "subject_not_header_safe"},
		{"sub with a trailing space", sub("alice "), "subject_not_header_safe"},
		{"sub with a trailing tab", sub("alice\t"), "subject_not_header_safe"},
		{"sub with a carriage return", sub("alice\rX: y"), "subject_not_header_safe"},
		{"sub with DEL", sub("alice\x7f"), "subject_not_header_safe"},
		{"sub with a C1 control", sub("al\u0085ice"), "subject_not_header_safe"},
		{"sub with a leading no-break space", sub("\u00a0alice"), "subject_not_header_safe"},
		{"sub with a trailing ideographic space", sub("alice\u3000"), "subject_not_header_safe"},
		{"sub with a byte order mark", sub("\ufeffalice"), "subject_not_header_safe"},
		{"empty sub", sub(""), "bad_subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantRejected(t, f, tc.token, tc.reason) })
	}

	// What is strict is not narrow: fractional times, a space inside a sub,
	// non-ASCII subs and unregistered claims in any case are accepted.
	for _, tc := range []struct{ name, token, sub string }{
		{"fractional exp", exp(future + ".5"), "alice"},
		{"fractional iat and nbf", testissuer.MintBytes(ed, []byte(hdr), []byte(claims([]string{"iat", "nbf"}, `"iat":`+strconv.FormatInt(now.Unix(), 10)+`.25`, `"nbf":1.5`))), "alice"},
		{"space inside sub", sub("alice smith"), "alice smith"},
		{"non-ASCII sub", sub("usér-ünïcode"), "usér-ünïcode"},
		{"Better Auth's camelCase claims", testissuer.MintBytes(ed, []byte(hdr), []byte(claims(nil, `"EmailVerified":true`))), "alice"},
	} {
		t.Run("accepted: "+tc.name, func(t *testing.T) {
			p, err := f.a.Verify(context.Background(), []byte(tc.token))
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if p.Subject != tc.sub {
				t.Fatalf("subject %q, want %q", p.Subject, tc.sub)
			}
		})
	}
}
