package server

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// localUserID is where the verified subject is kept for later handlers and
// the access log (observe.AccessLog reads the same key).
const localUserID = "user_id"

// authenticate is where identity is decided: the token is extracted,
// verified, and its sub stored in Locals(localUserID). Anything else ends
// the request with 401 (or 503 before the first JWKS fetch).
func (g *Gateway) authenticate(c *fiber.Ctx) error {
	tok, err := authn.Extract(&c.Request().Header, g.cfg.CookieName, g.Authn.MaxTokenBytes())
	if err == nil {
		var p authn.Principal
		p, err = g.Authn.Verify(c.UserContext(), tok)
		if err == nil {
			c.Locals(localUserID, p.Subject)
			return c.Next()
		}
	}
	return g.authError(err)
}

func subject(c *fiber.Ctx) string {
	s, _ := c.Locals(localUserID).(string)
	return s
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
		return notReady().WithHeader(fiber.HeaderRetryAfter, "5")
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
