package server

import (
	"bytes"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/valyala/fasthttp"
)

// expectContinue answers a request that carries Expect: 100-continue.
// fasthttp calls it with the headers alone, before any of the body is
// read, and sends 100 Continue only when it returns
// fasthttp.StatusContinue; any other status is the final answer, without a
// body (fasthttp's contract), and the connection closes.
//
// 100 Continue invites the client to send its body, so the gateway sends it
// only to a request it would read the body of: an /api route other than
// /api/auth/*, with a token from the Authorization header that verifies,
// from an address within its failure budget, declaring no more than
// BODY_LIMIT (else 413). Everything else — no token, a bad one, a cookie
// token, Better Auth's routes — gets 417 Expectation Failed: a client that
// retries without the expectation (curl does) then gets the route's own
// answer, with its problem body. Browsers never send the expectation.
func (g *Gateway) expectContinue(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if h.ContentLength() > g.cfg.BodyLimit {
		return fasthttp.StatusRequestEntityTooLarge
	}
	path := ctx.Request.URI().PathOriginal()
	if !authenticatedRoute(path) || proxy.CheckPath(path) != nil || h.IsTrace() || h.IsConnect() {
		return fasthttp.StatusExpectationFailed
	}
	tok, src, err := authn.Extract(h, g.cfg.CookieName, g.Authn.MaxTokenBytes())
	if errors.Is(err, authn.ErrNoToken) || src != authn.FromAuthorization {
		return fasthttp.StatusExpectationFailed
	}
	// Verified as authenticate does, failure budget included. The context
	// is the gateway's own, never the pooled RequestCtx (see authenticate).
	if _, err := g.verifyToken(g.ctx, h, ctx.RemoteIP(), tok, err, time.Now()); err != nil {
		return fasthttp.StatusExpectationFailed
	}
	return fasthttp.StatusContinue
}

var (
	apiPrefix  = []byte("/api/")
	authPrefix = []byte("/api/auth")
)

// authenticatedRoute reports whether path is under /api/ and not one of
// Better Auth's routes (/api/auth, /api/auth/...), as routes decides.
func authenticatedRoute(path []byte) bool {
	if !bytes.HasPrefix(path, apiPrefix) {
		return false
	}
	if rest, ok := bytes.CutPrefix(path, authPrefix); ok && (len(rest) == 0 || rest[0] == '/') {
		return false
	}
	return true
}
