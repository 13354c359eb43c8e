package server

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// newCrossOrigin returns the cross-site request forgery check for tokens
// that come from a cookie: Go's http.CrossOriginProtection, which trusts
// the browser's Sec-Fetch-Site header and, from browsers without it,
// compares Origin with Host. The frontends in CORS_ALLOWED_ORIGINS are
// trusted origins: they call the gateway cross-origin on purpose.
func newCrossOrigin(trusted []string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkCookieOrigin refuses a state-changing request (anything but GET,
// HEAD and OPTIONS) whose token came from the cookie when a browser says it
// was sent from another origin that is not a trusted frontend: a browser
// attaches the cookie to a form or a fetch that another site makes, and a
// POST with a "simple" content type needs no CORS preflight. A token in
// the Authorization header is never attached by a browser on its own, and
// requests without Sec-Fetch-Site and Origin (curl, servers) are not
// browser requests: both pass.
func (g *Gateway) checkCookieOrigin(c *fiber.Ctx, src authn.Source) error {
	if src != authn.FromCookie {
		return nil
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return nil
	}
	h := &c.Request().Header
	r := &http.Request{
		Method: c.Method(),
		Host:   string(h.Host()),
		URL:    &url.URL{Path: c.Path()},
		Header: http.Header{},
	}
	for _, name := range []string{"Sec-Fetch-Site", fiber.HeaderOrigin} {
		if v := h.Peek(name); len(v) > 0 {
			r.Header.Set(name, string(v))
		}
	}
	if err := g.crossOrigin.Check(r); err != nil {
		g.log.Debug("cookie token refused on a cross-origin request", "reason", err.Error(),
			"origin", r.Header.Get(fiber.HeaderOrigin), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		return problem.New(fiber.StatusForbidden, "cross-origin-cookie", "Forbidden",
			"A token from the cookie does not authorise a "+r.Method+" sent from another site. Send the token in "+
				"Authorization: Bearer, or list the frontend's origin in CORS_ALLOWED_ORIGINS.")
	}
	return nil
}
