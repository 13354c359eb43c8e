package server

import (
	"bytes"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// checkRequest guards every /api route before anything is forwarded: the raw
// path must pass proxy.CheckPath, and TRACE/CONNECT are never forwarded.
func checkRequest(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodTrace, fiber.MethodConnect:
		return problem.New(fiber.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "This method is not forwarded.")
	}
	if err := proxy.CheckPath(c.Request().URI().PathOriginal()); err != nil {
		return problem.New(fiber.StatusBadRequest, "bad-path", "Bad Request",
			"The path contains dot-segments, empty segments, encoded slashes or other characters that proxies read differently.")
	}
	return nil
}

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
