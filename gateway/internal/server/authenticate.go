package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// localPrincipal is the Locals key of the verified *authn.Principal. A
// pointer is stored without an allocation; the Principal is the token
// cache's shared, read-only copy.
const localPrincipal = "principal"

// authenticate is where identity is decided: the token is extracted and
// verified (verifyToken), and its principal stored for Subject. Anything
// else is a 401 problem (or 503 before the first JWKS fetch), a 429 for an
// address over its failure budget, or a 403 for a cookie token on a
// cross-origin change (checkCookieOrigin).
func (g *Gateway) authenticate(c *fiber.Ctx) error {
	h := &c.Request().Header
	tok, src, err := authn.Extract(h, g.cfg.CookieName, g.Authn.MaxTokenBytes())
	if g.sessions != nil && errors.Is(err, authn.ErrNoToken) {
		return g.authenticateSession(c) // session mode: a bearer token always wins
	}
	if errors.Is(err, authn.ErrNoToken) {
		return g.authError(err)
	}
	if err == nil {
		if err := g.checkCookieOrigin(c, src); err != nil {
			return err
		}
	}
	// A key fetch for an unknown kid has its own timeout. The context is
	// Fiber's user context, never the pooled *fasthttp.RequestCtx (see
	// TestNoPooledRequestContext). The token is checked as of the request's
	// arrival, the instant the rate limit and the signature use too.
	p, err := g.verifyToken(c.UserContext(), h, c.Context().RemoteIP(), tok, err, c.Context().Time())
	if err != nil {
		return g.authError(err)
	}
	c.Locals(localPrincipal, p)
	return nil
}

// verifyToken verifies tok, presented by a request with headers h from
// peer at now; extractErr, when not nil, is why the request has no usable
// token (Extract's error).
//
// With a failure budget (Hooks.Failures) every refused token (an
// *authn.TokenError: 401 invalid_token) draws one from its client
// address's budget, and a token is verified only while the budget lasts:
// an address over it gets the 429 problem, with Retry-After, before any
// signature is checked, until the budget refills. A token the gateway has
// verified before (in the verified-token cache) costs no signature check
// and is accepted whatever the budget, so a user who shares an address
// with an attacker (a NAT) keeps working with the token they hold. Like
// fail2ban, but for the tokens that cost work only.
func (g *Gateway) verifyToken(ctx context.Context, h *fasthttp.RequestHeader, peer net.IP, tok []byte, extractErr error, now time.Time) (*authn.Principal, error) {
	// The samplers OTEL_TRACES_SAMPLER offers decide per trace: under an
	// unsampled request span no child would be recorded either.
	if g.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		return g.verifyTokenTraced(ctx, h, peer, tok, extractErr, now)
	}
	return g.checkToken(ctx, h, peer, tok, extractErr, now, nil)
}

// checkToken is verifyToken without its span; cached, when not nil, is set
// to whether the verified-token cache answered.
func (g *Gateway) checkToken(ctx context.Context, h *fasthttp.RequestHeader, peer net.IP, tok []byte, extractErr error, now time.Time, cached *bool) (*authn.Principal, error) {
	if extractErr == nil {
		if p, ok := g.Authn.Cached(tok, now); ok {
			if cached != nil {
				*cached = true
			}
			return p, nil
		}
	}
	key, budgeted, err := g.failureBudget(ctx, h, peer, now)
	if err != nil {
		g.log.Debug("token refused unverified: address over its failure budget")
		return nil, err
	}
	var p *authn.Principal
	err = extractErr
	if err == nil {
		p, err = g.Authn.VerifyAt(ctx, tok, now)
	}
	var te *authn.TokenError
	if budgeted && errors.As(err, &te) {
		g.failures.AllowAt(ctx, key, now)
	}
	return p, err
}

// failureBudget is the check that verifyToken and exchangeSession make
// before they pay for a signature or an exchange: with a failure budget
// (Hooks.Failures), the client address's key and budgeted=true, or the 429
// problem when the address is over its budget; without one (or without an
// address), budgeted=false. It counts nothing: a refused credential is
// counted by the caller (g.failures.AllowAt with key).
func (g *Gateway) failureBudget(ctx context.Context, h *fasthttp.RequestHeader, peer net.IP, now time.Time) (key string, budgeted bool, err error) {
	if g.failures == nil || !g.failures.Enabled() {
		return "", false, nil
	}
	key, budgeted = ratelimit.AddressKey(g.clients, h, peer)
	if !budgeted {
		return "", false, nil
	}
	if d := g.failures.PeekAt(ctx, key, now); !d.Allowed {
		return key, true, g.failures.Refusal(d)
	}
	return key, true, nil
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

// verifyTokenTraced is verifyToken in an "authn.verify" span that says
// whether the verified-token cache answered, the algorithm of a verified
// token and the outcome: valid, a refused token's reason
// (authn.TokenError.Reason), no_token, keys_unavailable or over_budget.
// Never the token, a claim, the key id or the user.
func (g *Gateway) verifyTokenTraced(ctx context.Context, h *fasthttp.RequestHeader, peer net.IP, tok []byte, extractErr error, now time.Time) (*authn.Principal, error) {
	ctx, span := g.tracer.Start(ctx, "authn.verify")
	defer span.End()
	var cached bool
	p, err := g.checkToken(ctx, h, peer, tok, extractErr, now, &cached)
	if !span.IsRecording() {
		return p, err
	}
	outcome := verifyOutcome(span, p, err)
	span.SetAttributes(attribute.Bool("gatehouse.token.cache_hit", cached), attribute.String("gatehouse.token.outcome", outcome))
	if err != nil && outcome != "over_budget" {
		span.SetStatus(codes.Error, outcome)
	}
	return p, err
}

// verifyOutcome names how a verification ended, for the authn.verify span,
// and records a verified token's algorithm on it.
func verifyOutcome(span trace.Span, p *authn.Principal, err error) string {
	var te *authn.TokenError
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("gatehouse.token.alg", p.Alg))
		return "valid"
	case errors.As(err, &te):
		return te.Reason
	case errors.Is(err, authn.ErrNoToken):
		return "no_token"
	case errors.Is(err, authn.ErrKeysUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "keys_unavailable"
	default:
		return "over_budget" // failureBudget's 429
	}
}

// verifyExchangedToken is session mode's verification of the JWT an
// exchange brought, in an "authn.verify" span with
// gatehouse.token.source = session (and the algorithm and outcome, as
// verifyTokenTraced records them).
func (g *Gateway) verifyExchangedToken(ctx context.Context, tok []byte, now time.Time) (*authn.Principal, error) {
	ctx, span := g.tracer.Start(ctx, "authn.verify")
	defer span.End()
	p, err := g.Authn.VerifyAt(ctx, tok, now)
	outcome := verifyOutcome(span, p, err)
	if outcome == "over_budget" { // VerifyAt knows no budget: any other error is the keys'
		outcome = "keys_unavailable"
	}
	span.SetAttributes(attribute.String("gatehouse.token.source", "session"), attribute.String("gatehouse.token.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, outcome)
	}
	return p, err
}
