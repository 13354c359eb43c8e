package api

import (
	"errors"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
)

// RetryAfterSeconds is what a 503 tells clients to wait.
const RetryAfterSeconds = "2"

// codeUnsupportedMedia is the API's own code: a body declared as something
// other than JSON is an HTTP matter the domain knows nothing of.
const codeUnsupportedMedia task.Code = "unsupported_media"

// statusOf is the one table from error code to HTTP status and problem type.
var statusOf = map[task.Code]struct {
	status int
	slug   string
	title  string
}{
	task.Invalid:             {fiber.StatusUnprocessableEntity, "validation", "Validation Failed"},
	task.Malformed:           {fiber.StatusBadRequest, "bad-request", "Bad Request"},
	task.Unauthenticated:     {fiber.StatusUnauthorized, "unauthenticated", "Unauthorized"},
	task.NotFound:            {fiber.StatusNotFound, "not-found", "Not Found"},
	task.PreconditionFailed:  {fiber.StatusPreconditionFailed, "precondition-failed", "Precondition Failed"},
	task.IdempotencyMismatch: {fiber.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency Key Reused"},
	task.Conflict:            {fiber.StatusConflict, "conflict", "Conflict"},
	codeUnsupportedMedia:     {fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type"},
	task.Unavailable:         {fiber.StatusServiceUnavailable, "unavailable", "Service Unavailable"},
	task.Internal:            {fiber.StatusInternalServerError, "internal", "Internal Server Error"},
}

// errorHandler writes every error as problem+json. 5xx causes go to the log;
// the client gets the code's generic text, never SQL or a driver message.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var te *task.Error
		if !errors.As(err, &te) {
			p, ok := problem.FromFiber(err)
			if !ok {
				log.Error("unhandled error", "request_id", observe.RequestIDOf(c), "path", c.Path(), "error", err.Error())
			}
			return problem.Write(c, p)
		}
		s, ok := statusOf[te.Code]
		if !ok {
			s = statusOf[task.Internal]
		}
		detail := te.Message
		if s.status >= 500 {
			log.Error("request failed", "request_id", observe.RequestIDOf(c), "path", c.Path(), "code", string(te.Code), "error", err.Error())
			if te.Code == task.Internal || !ok { // a code missing from the table is a bug
				return problem.Write(c, problem.Internal())
			}
		}
		p := problem.New(s.status, s.slug, s.title, detail)
		for _, f := range te.Fields {
			p.WithErrors(problem.FieldError(f))
		}
		if te.Code == task.Unavailable {
			p.WithHeader(fiber.HeaderRetryAfter, RetryAfterSeconds)
		}
		if te.Code == task.Unauthenticated {
			p.WithHeader(fiber.HeaderWWWAuthenticate, `Gatehouse-Identity realm="tasks-service"`)
		}
		return problem.Write(c, p)
	}
}
