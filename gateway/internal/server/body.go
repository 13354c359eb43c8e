package server

import (
	"bytes"
	"io"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// The gateway's server streams request bodies (fasthttp's
// StreamRequestBody): a handler runs once the headers and at most the first
// 8 KiB of the body have arrived, and the rest stays in the socket. The
// handlers read it with readBody only after every check that needs no body
// has passed — the path, authentication, the rate limits — so that what an
// unauthenticated client makes the gateway hold is its headers and that
// read-ahead, whatever Content-Length it declares.

// readBody reads the request's streamed body into memory, where the proxy
// forwards it from and the identity signature hashes it: exactly the bytes
// received, at most limit of them. A larger declared Content-Length is a
// 413 before anything is read; a chunked body is read up to limit + 1
// bytes and is a 413 past limit. A body that ends early (the client went
// away or timed out) is a 400; fasthttp closes such a connection.
//
// The buffer grows with the bytes that arrive, never to the declared
// length at once: Better Auth's routes read bodies without a token, and a
// client that declares a megabyte and sends a few kilobytes must hold a few
// kilobytes (TestIdleBodiesCostLittleMemory).
func readBody(c *fiber.Ctx, limit int) error {
	req := c.Request()
	stream := req.BodyStream()
	if stream == nil {
		return nil // no body, or already read
	}
	n := req.Header.ContentLength()
	if n > limit {
		return fiber.ErrRequestEntityTooLarge
	}
	want := int64(n)
	if n < 0 { // chunked: one byte past the limit tells a 413
		want = int64(limit) + 1
	}
	var buf bytes.Buffer
	buf.Grow(int(min(want, firstBodyBuffer)))
	_, err := buf.ReadFrom(io.LimitReader(stream, want))
	switch {
	case err != nil, n >= 0 && buf.Len() < n:
		return problem.New(fiber.StatusBadRequest, "incomplete-body", "Bad Request",
			"The request body ended before it was complete.")
	case buf.Len() > limit:
		return fiber.ErrRequestEntityTooLarge
	}
	req.SetBodyRaw(buf.Bytes())
	return nil
}

// firstBodyBuffer is readBody's first allocation at most: a task's JSON
// fits, larger bodies grow as they arrive.
const firstBodyBuffer = 16 << 10
