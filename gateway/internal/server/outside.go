package server

import (
	"errors"
	"net"
	"strings"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// answerOutsideHandlers routes the two answers that Fiber and fasthttp
// write outside the handler chain through answer (the edge), so that they
// too are problem+json with the security headers, a request id, a metric
// and an access line:
//   - a method Fiber does not know (it wrote a plain "Invalid http method"
//     400 itself) is 501 not-implemented, as RFC 9110 section 9.1 says;
//   - a request fasthttp cannot read (malformed, headers too large, a body
//     over BODY_LIMIT, a timeout mid-request) goes to fasthttp's
//     Server.ErrorHandler, which Fiber answered without the edge.
//
// Answers fasthttp writes on its own (Server.Concurrency, MaxConnsPerIP,
// an ExpectHandler status) have no hook; the gateway uses none of them for
// refusals with a body.
func answerOutsideHandlers(app *fiber.App, answer func(c *fiber.Ctx, err error)) {
	srv := app.Server()
	routed := srv.Handler
	srv.Handler = func(fctx *fasthttp.RequestCtx) {
		if knownMethod(string(fctx.Request.Header.Method())) {
			routed(fctx)
			return
		}
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		answer(c, problem.New(fiber.StatusNotImplemented, "not-implemented", "Not Implemented", "The gateway does not implement this method."))
	}
	srv.ErrorHandler = func(fctx *fasthttp.RequestCtx, err error) {
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		answer(c, unreadable(err))
	}
}

// unreadable maps an error of fasthttp's request reader to the Fiber error
// the app's error handler turns into a problem, as Fiber's own
// serverErrorHandler does; the reader's text (which quotes the request)
// is never sent.
func unreadable(err error) error {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return fiber.ErrRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return fiber.ErrRequestTimeout
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fiber.ErrRequestEntityTooLarge
	case strings.Contains(err.Error(), "timeout"): // as Fiber's serverErrorHandler
		return fiber.ErrRequestTimeout
	}
	return fiber.ErrBadRequest
}

// knownMethod reports whether Fiber routes method (fiber.DefaultMethods,
// the gateway's RequestMethods): only these reach the router, and only
// these are metric labels of their own.
func knownMethod(method string) bool {
	for _, m := range fiber.DefaultMethods {
		if method == m {
			return true
		}
	}
	return false
}
