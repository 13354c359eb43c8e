package server

import (
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/session"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// newSessions returns session mode's exchanger, or nil when SESSION_MODE is
// off. Exchanges go to AUTH_UPSTREAM_URL, where /api/auth/* goes.
func (g *Gateway) newSessions() (*session.Exchanger, error) {
	if !g.cfg.Session.Enabled {
		return nil, nil
	}
	verify := g.Authn.VerifyAt
	if g.tracer != nil {
		verify = g.verifyExchangedToken
	}
	s, err := session.New(session.Config{
		Settings:    g.cfg.Session,
		TokenURL:    strings.TrimRight(g.cfg.AuthURL.String(), "/") + "/api/auth/token",
		Verify:      verify,
		IdleTimeout: g.cfg.UpstreamIdleTimeout,
		Log:         g.log,
	})
	if err != nil {
		return nil, err
	}
	g.Keys.OnRemove(s.ForgetKeys)
	return s, nil
}

// authenticateSession is authenticate for a request without a bearer token
// in session mode: the Better Auth session cookie, checked like any cookie
// credential against cross-origin changes (checkCookieOrigin) before it
// costs an exchange, then exchanged for the user's verified principal.
func (g *Gateway) authenticateSession(c *fiber.Ctx) error {
	h := &c.Request().Header
	ck, err := g.sessions.Find(h)
	if err != nil {
		return g.sessionError(err)
	}
	if err := g.checkCookieOrigin(c, authn.FromCookie); err != nil {
		return err
	}
	p, err := g.exchangeSession(c, ck)
	if err != nil {
		return g.sessionError(err)
	}
	c.Locals(localPrincipal, p)
	return nil
}

// exchangeSession returns the principal of the session ck: from the cache
// whatever the client's failure budget (as a cached bearer token is), else
// by an exchange at Better Auth, which an address over its failure budget
// (Hooks.Failures) does not get: it gets the 429 problem instead. A session
// Better Auth refuses (or whose JWT the gateway refuses) draws one from the
// budget, as a refused bearer token does; so does a cached refusal.
func (g *Gateway) exchangeSession(c *fiber.Ctx, ck session.Cookie) (*authn.Principal, error) {
	now := c.Context().Time()
	if p, err, ok := g.sessions.Cached(ck, now); ok && err == nil {
		return p, nil
	}
	ctx, h, peer := c.UserContext(), &c.Request().Header, c.Context().RemoteIP()
	key, budgeted, err := g.failureBudget(ctx, h, peer, now)
	if err != nil {
		g.log.Debug("session not exchanged: address over its failure budget")
		return nil, err
	}
	var client string
	if ip := g.clients.Of(h, peer); ip.IsValid() {
		client = ip.String()
	}
	p, err := g.sessions.Authenticate(ctx, ck, client, now)
	if budgeted && failedSession(err) {
		g.failures.AllowAt(ctx, key, now)
	}
	return p, err
}

// failedSession reports whether err says the credentials are bad (not that
// they could not be checked).
func failedSession(err error) bool {
	var te *authn.TokenError
	return errors.Is(err, session.ErrRefused) || errors.As(err, &te)
}

// sessionError maps session mode's errors to problems; the verifier's own
// errors (a JWT from Better Auth the gateway refuses, keys not loaded) are
// authError's.
func (g *Gateway) sessionError(err error) error {
	challenge := `Bearer realm="gatehouse"`
	switch {
	case errors.Is(err, session.ErrNoCookie):
		return problem.Unauthorized("unauthenticated", "This route needs a bearer token from Better Auth (Authorization: Bearer <jwt>) or, from the gateway's own site, Better Auth's session cookie.").
			WithHeader(fiber.HeaderWWWAuthenticate, challenge)
	case errors.Is(err, session.ErrRefused):
		return problem.Unauthorized("invalid-session", "Better Auth does not know this session: it was signed out, expired or never existed. Sign in again.").
			WithHeader(fiber.HeaderWWWAuthenticate, challenge)
	case errors.Is(err, session.ErrMalformed):
		return problem.Unauthorized("invalid-session", "The session cookie is malformed, too long or sent twice.").
			WithHeader(fiber.HeaderWWWAuthenticate, challenge)
	case errors.Is(err, session.ErrUnavailable):
		g.log.Debug("session not confirmed", "error", err.Error())
		return problem.New(fiber.StatusServiceUnavailable, "not-ready", "Service Unavailable",
			"Better Auth cannot confirm the session right now; retry shortly.").WithHeader(fiber.HeaderRetryAfter, "1")
	}
	return g.authError(err)
}
