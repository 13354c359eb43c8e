package server

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// localPrincipal is the Locals key of the verified *authn.Principal. A
// pointer is stored without an allocation; the Principal is the token
// cache's shared, read-only copy.
const localPrincipal = "principal"

// authenticate is where identity is decided: the token is extracted and
// verified, and its principal stored for Subject. Anything else is a 401
// problem (or 503 when no key can judge the token: before the first JWKS
// fetch, or a new kid while the JWKS cannot be fetched), or a 403 for a cookie token
// on a cross-origin change (checkCookieOrigin).
func (g *Gateway) authenticate(c *fiber.Ctx) error {
	tok, src, err := authn.Extract(&c.Request().Header, g.cfg.CookieName, g.Authn.MaxTokenBytes())
	if err != nil {
		return g.authError(err)
	}
	if err := g.checkCookieOrigin(c, src); err != nil {
		return err
	}
	// A key fetch for an unknown kid has its own timeout. The context is
	// Fiber's user context, never the pooled *fasthttp.RequestCtx (see
	// TestNoPooledRequestContext). The token is checked as of the request's
	// arrival, the instant the rate limit and the signature use too.
	p, err := g.Authn.VerifyAt(c.UserContext(), tok, c.Context().Time())
	if err != nil {
		return g.authError(err)
	}
	c.Locals(localPrincipal, p)
	return nil
}

// Subject returns the verified sub of an authenticated request, for hooks
// such as the per-user rate limit. ok is false before authentication.
func Subject(c *fiber.Ctx) (sub string, ok bool) {
	if p, _ := c.Locals(localPrincipal).(*authn.Principal); p != nil {
		return p.Subject, true
	}
	return "", false
}

// authError maps an authn error to its problem. Token errors become 401
// with an RFC 6750 challenge; a request without credentials gets the bare
// challenge, as RFC 6750 §3.1 asks.
func (g *Gateway) authError(err error) error {
	var te *authn.TokenError
	switch {
	case errors.As(err, &te):
		g.log.Debug("token rejected", "reason", te.Reason)
		return problem.Unauthorized("invalid-token", "The bearer token is invalid: "+te.Description+".").
			WithHeader(fiber.HeaderWWWAuthenticate, `Bearer realm="gatehouse", error="invalid_token", error_description="`+quoteSafe(te.Description)+`"`)
	case errors.Is(err, authn.ErrNoToken):
		return problem.Unauthorized("unauthenticated", "This route needs a bearer token from Better Auth (Authorization: Bearer <jwt>).").
			WithHeader(fiber.HeaderWWWAuthenticate, `Bearer realm="gatehouse"`)
	case errors.Is(err, authn.ErrKeysUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// No key to judge the token by (none loaded yet, or its kid is new
		// and the JWKS could not be fetched): neither valid nor invalid.
		return problem.New(fiber.StatusServiceUnavailable, "not-ready", "Service Unavailable",
			"The gateway cannot check this token's signing key right now: Better Auth's keys are not loaded yet or could not be fetched.").
			WithHeader(fiber.HeaderRetryAfter, "5")
	}
	return err
}

// quoteSafe keeps a description inside a quoted-string.
func quoteSafe(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/").Replace(s)
}

func notReady() *problem.Details {
	return problem.New(fiber.StatusServiceUnavailable, "not-ready", "Service Unavailable", "The gateway has not loaded Better Auth's signing keys yet.")
}
