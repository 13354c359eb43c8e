package server

import (
	"bytes"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// checkRequest guards every /api route before anything is forwarded: the raw
// path must pass proxy.CheckPath, TRACE/CONNECT are never forwarded, and
// neither is a body with a Content-Encoding (checkContentCoding).
func checkRequest(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodTrace, fiber.MethodConnect:
		return problem.New(fiber.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "This method is not forwarded.")
	}
	if err := checkContentCoding(&c.Request().Header); err != nil {
		return err
	}
	if err := proxy.CheckPath(c.Request().URI().PathOriginal()); err != nil {
		return problem.New(fiber.StatusBadRequest, "bad-path", "Bad Request",
			"The path contains dot-segments, empty segments, encoded slashes or other characters that proxies read differently.")
	}
	return nil
}

// checkContentCoding refuses (415) a request that declares any
// Content-Encoding but identity, on any of its field lines. The API takes
// JSON as sent: an upstream that inflated it (Fiber's Ctx.Body does, with no
// limit: a 1 KB "gzip, gzip" body is 512 MiB) would also hash other bytes
// than the gateway signed. Content codings are case-insensitive (RFC 9110
// section 8.4.1).
func checkContentCoding(h *fasthttp.RequestHeader) error {
	for _, v := range h.PeekAll(fiber.HeaderContentEncoding) {
		for coding := range bytes.SplitSeq(v, []byte(",")) {
			coding = bytes.Trim(coding, " \t")
			if len(coding) > 0 && !bytes.EqualFold(coding, identityCoding) {
				return problem.New(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type",
					"This API does not accept compressed request bodies (Content-Encoding); send the JSON as it is.")
			}
		}
	}
	return nil
}

var identityCoding = []byte("identity")

var compatPrefix = []byte("/api/")

// compatPath turns /api/{user_id}/tasks... into /api/tasks... when the
// decoded {user_id} equals sub; otherwise it returns a 403 problem.
func compatPath(raw []byte, sub string) ([]byte, error) {
	rest := bytes.TrimPrefix(raw, compatPrefix)
	seg, tail, _ := bytes.Cut(rest, []byte{'/'})
	id, err := url.PathUnescape(string(seg))
	if err != nil || id != sub {
		return nil, problem.New(fiber.StatusForbidden, "forbidden", "Forbidden", "The user id in the path is not the authenticated user.")
	}
	out := make([]byte, 0, len(compatPrefix)+len(tail))
	out = append(out, compatPrefix...)
	return append(out, tail...), nil
}
