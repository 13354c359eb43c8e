package authn_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/jwks"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
)

// BenchmarkVerify measures a verification per algorithm: "uncached" pays the
// signature check and claim validation every time, "cached" is the steady
// state of a user sending the same token.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range jwks.SupportedAlgorithms {
		k := allKeys()[alg]
		for _, mode := range []string{"uncached", "cached"} {
			b.Run(alg.String()+"/"+mode, func(b *testing.B) {
				f := newFixture(b, func(c *authn.Config) {
					if mode == "uncached" {
						c.CacheSize = 0
					}
				})
				tok := []byte(testissuer.Mint(k, f.iss.Claims("bench-user-0123456789abcdef", f.now)))
				ctx := context.Background()
				if _, err := f.a.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := f.a.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
