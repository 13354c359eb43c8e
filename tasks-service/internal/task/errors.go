package task

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The API maps each code to one HTTP status in one
// table; clients see the code's meaning, never the cause. The codes here are
// the domain's; the API adds its own for what only HTTP knows (a body that
// is not JSON).
type Code string

// The error codes of the tasks service.
const (
	Invalid             Code = "invalid"              // well-formed request, invalid values (Fields say which)
	Malformed           Code = "malformed"            // body or parameter that cannot be parsed
	Unauthenticated     Code = "unauthenticated"      // no valid identity assertion
	NotFound            Code = "not_found"            // missing, or another user's
	PreconditionFailed  Code = "precondition_failed"  // If-Match names a stale version
	IdempotencyMismatch Code = "idempotency_mismatch" // Idempotency-Key reused with another body
	Conflict            Code = "conflict"             // a concurrent writer kept winning
	Unavailable         Code = "unavailable"          // database unreachable; retry later
	Internal            Code = "internal"             // a bug or an unexpected failure
)

// FieldError says what is wrong with one field or query parameter. The API
// shows it as a problem.FieldError, converted (not copied field by field):
// the domain may not import the HTTP package that defines that one.
type FieldError struct {
	Field   string
	Message string
}

// Error is the one error type of the service. Message is safe to show to the
// client; Cause is for logs only.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error carrying cause for the logs.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// FieldErrors returns an Invalid error listing fields, or nil when fields is empty.
func FieldErrors(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "the request has invalid fields", Fields: fields}
}

// ErrorCode returns the code of err: "" for nil, Internal for anything that
// is not an *Error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
