package authn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/valyala/fasthttp"
)

func TestExtract(t *testing.T) {
	const tok = "aaa.bbb.ccc"
	cases := []struct {
		name    string
		headers [][2]string
		cookie  string // cookie name configured
		want    string
		from    authn.Source // of a token found
		reason  string       // TokenError reason; "none" for ErrNoToken
	}{
		{name: "bearer", headers: [][2]string{{"Authorization", "Bearer " + tok}}, want: tok},
		{name: "scheme is case-insensitive", headers: [][2]string{{"Authorization", "bearer " + tok}}, want: tok},
		{name: "no credentials", reason: "none"},
		{name: "basic scheme", headers: [][2]string{{"Authorization", "Basic dXNlcjpwdw=="}}, reason: "bad_scheme"},
		{name: "two Authorization headers", headers: [][2]string{{"Authorization", "Bearer " + tok}, {"Authorization", "Bearer x.y.z"}}, reason: "multiple_tokens"},
		// Syntax is checked by Verify (TestCheckShape), after the cache.
		{name: "two tokens in one header reach Verify", headers: [][2]string{{"Authorization", "Bearer " + tok + ", Bearer x.y.z"}}, want: tok + ", Bearer x.y.z"},
		{name: "empty bearer", headers: [][2]string{{"Authorization", "Bearer "}}, reason: "malformed"},
		{name: "oversized", headers: [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 600) + ".b.c"}}, reason: "too_large"},
		{name: "cookie when configured", headers: [][2]string{{"Cookie", "x=1; jwt=" + tok}}, cookie: "jwt", want: tok, from: authn.FromCookie},
		{name: "cookie ignored when not configured", headers: [][2]string{{"Cookie", "jwt=" + tok}}, reason: "none"},
		{name: "header wins over cookie", headers: [][2]string{{"Authorization", "Bearer " + tok}, {"Cookie", "jwt=x.y.z"}}, cookie: "jwt", want: tok},
		{name: "malformed cookie reaches Verify", headers: [][2]string{{"Cookie", "jwt=not-a-jwt"}}, cookie: "jwt", want: "not-a-jwt", from: authn.FromCookie},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for _, kv := range tc.headers {
				h.Add(kv[0], kv[1])
			}
			got, from, err := authn.Extract(&h, tc.cookie, 512)
			switch {
			case tc.want != "":
				if err != nil || string(got) != tc.want || from != tc.from {
					t.Fatalf("got %q from %d, %v; want %q from %d", got, from, err, tc.want, tc.from)
				}
			case tc.reason == "none":
				if !errors.Is(err, authn.ErrNoToken) {
					t.Fatalf("got %q, %v; want ErrNoToken", got, err)
				}
			default:
				var te *authn.TokenError
				if !errors.As(err, &te) || te.Reason != tc.reason {
					t.Fatalf("got %q, %v; want reason %s", got, err, tc.reason)
				}
			}
		})
	}
}
