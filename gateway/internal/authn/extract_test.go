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
		reason  string // TokenError reason; "none" for ErrNoToken
	}{
		{name: "bearer", headers: [][2]string{{"Authorization", "Bearer " + tok}}, want: tok},
		{name: "scheme is case-insensitive", headers: [][2]string{{"Authorization", "bearer " + tok}}, want: tok},
		{name: "no credentials", reason: "none"},
		{name: "basic scheme", headers: [][2]string{{"Authorization", "Basic dXNlcjpwdw=="}}, reason: "bad_scheme"},
		{name: "two Authorization headers", headers: [][2]string{{"Authorization", "Bearer " + tok}, {"Authorization", "Bearer x.y.z"}}, reason: "multiple_tokens"},
		{name: "two tokens in one header", headers: [][2]string{{"Authorization", "Bearer " + tok + ", Bearer x.y.z"}}, reason: "multiple_tokens"},
		{name: "empty bearer", headers: [][2]string{{"Authorization", "Bearer "}}, reason: "malformed"},
		{name: "oversized", headers: [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 600) + ".b.c"}}, reason: "too_large"},
		{name: "cookie when configured", headers: [][2]string{{"Cookie", "x=1; jwt=" + tok}}, cookie: "jwt", want: tok},
		{name: "cookie ignored when not configured", headers: [][2]string{{"Cookie", "jwt=" + tok}}, reason: "none"},
		{name: "header wins over cookie", headers: [][2]string{{"Authorization", "Bearer " + tok}, {"Cookie", "jwt=x.y.z"}}, cookie: "jwt", want: tok},
		{name: "malformed cookie", headers: [][2]string{{"Cookie", "jwt=not-a-jwt"}}, cookie: "jwt", reason: "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for _, kv := range tc.headers {
				h.Add(kv[0], kv[1])
			}
			got, err := authn.Extract(&h, tc.cookie, 512)
			switch {
			case tc.want != "":
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
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

// TestTokenShape checks the byte classes and the dot structure a bearer
// token must have, for every byte value.
func TestTokenShape(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		want := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		var h fasthttp.RequestHeader
		h.Set("Authorization", "Bearer a"+string([]byte{c})+"a.b.c")
		got, err := authn.Extract(&h, "", 512)
		if (err == nil) != want || (want && got != "a"+string([]byte{c})+"a.b.c") {
			t.Errorf("byte %#x: got %q, %v; want accepted=%v", c, got, err, want)
		}
	}
	for _, tok := range []string{"a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "abc", "a.b.c."} {
		var h fasthttp.RequestHeader
		h.Set("Authorization", "Bearer "+tok)
		if _, err := authn.Extract(&h, "", 512); err == nil {
			t.Errorf("%q accepted", tok)
		}
	}
}
