// Package problem writes RFC 9457 problem details (application/problem+json),
// the one error shape of every Gatehouse HTTP response.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// ContentType is the media type of every error body.
const ContentType = "application/problem+json"

// TypePrefix starts every problem type URI; the slug after it is stable and
// documented, so clients may switch on it.
const TypePrefix = "urn:gatehouse:problem:"

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Details is a problem details object. It is also an error, so handlers can
// return it and let the error handler write it.
type Details struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`

	// Headers are extra response headers (WWW-Authenticate, Retry-After...).
	Headers map[string]string `json:"-"`
}

// New returns a problem with type TypePrefix+slug.
func New(status int, slug, title, detail string) *Details {
	return &Details{Type: TypePrefix + slug, Title: title, Status: status, Detail: detail}
}

// Error implements error with the title and detail, never more.
func (p *Details) Error() string {
	if p.Detail == "" {
		return fmt.Sprintf("%d %s", p.Status, p.Title)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// WithHeader returns p with a response header added.
func (p *Details) WithHeader(name, value string) *Details {
	if p.Headers == nil {
		p.Headers = make(map[string]string, 1)
	}
	p.Headers[name] = value
	return p
}

// WithErrors returns p with field errors attached.
func (p *Details) WithErrors(errs ...FieldError) *Details {
	p.Errors = append(p.Errors, errs...)
	return p
}

// Write sends p as the response. The request id the response carries (set
// by observe.RequestID) is repeated in the body.
func Write(c *fiber.Ctx, p *Details) error {
	if p.RequestID == "" {
		p.RequestID = string(c.Response().Header.Peek(fiber.HeaderXRequestID))
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	for k, v := range p.Headers {
		c.Set(k, v)
	}
	c.Set(fiber.HeaderContentType, ContentType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(p.Status).Send(body)
}

// Common problems, shared so both services name them the same way.

// NotFound is the answer for a missing route or resource.
func NotFound(detail string) *Details {
	return New(fiber.StatusNotFound, "not-found", "Not Found", detail)
}

// Internal is the generic 500 a client sees; details go to the log only.
func Internal() *Details {
	return New(fiber.StatusInternalServerError, "internal", "Internal Server Error", "The server failed to handle the request; it has been logged.")
}

// Unauthorized is a 401 problem. It sets no challenge: the caller adds the
// WWW-Authenticate header its scheme needs (the gateway's Bearer challenge
// with the RFC 6750 error, tasks-service's Gatehouse-Identity).
func Unauthorized(slug, detail string) *Details {
	return New(fiber.StatusUnauthorized, slug, "Unauthorized", detail)
}

// FromFiber converts an error that Fiber itself raised (*fiber.Error: bad
// method, body too large, unknown route...), wrapped or not, into a problem,
// and anything else into Internal. ok reports whether err holds a
// *fiber.Error.
func FromFiber(err error) (p *Details, ok bool) {
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return Internal(), false
	}
	switch fe.Code {
	case fiber.StatusNotFound:
		return NotFound("No route matches this path."), true
	case fiber.StatusMethodNotAllowed:
		return New(fe.Code, "method-not-allowed", "Method Not Allowed", "This route does not accept this method."), true
	case fiber.StatusRequestEntityTooLarge:
		return New(fe.Code, "body-too-large", "Request Entity Too Large", "The request body exceeds the size limit."), true
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return New(fe.Code, "headers-too-large", "Request Header Fields Too Large", "The request headers exceed the size limit."), true
	case fiber.StatusRequestTimeout:
		return New(fe.Code, "request-timeout", "Request Timeout", "The request was not received in time."), true
	}
	if fe.Code >= 500 {
		return Internal(), true
	}
	return New(fe.Code, "bad-request", fiber.ErrBadRequest.Message, "The request could not be understood."), true
}
