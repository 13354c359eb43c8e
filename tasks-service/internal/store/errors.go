package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun/driver/pgdriver"
)

// wrap names the store operation in a failing *errp, in the manner of
// pkgsite's derrors.Wrap: `defer wrap(&err, "Get(%s)", id)`. The logged
// cause of a 5xx then says which operation failed ("store.Get(…): internal:
// …: <driver error>"); errors.As still finds the *task.Error inside, whose
// Message is all a client sees.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("store.%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}

// translate turns any storage error into a *task.Error; the driver's error
// stays in Cause for the logs and never reaches a client.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var te *task.Error
	if errors.As(err, &te) {
		return err
	}
	if unavailable(err) {
		return task.Wrap(task.Unavailable, err, "the database is unavailable; retry later")
	}
	var pg pgdriver.Error
	if errors.As(err, &pg) {
		switch code := pg.Field('C'); {
		case code == "23505":
			return task.Wrap(task.Conflict, err, "a concurrent request created the same record; retry")
		case code == "40001" || code == "40P01":
			return task.Wrap(task.Conflict, err, "a concurrent request won; retry")
		case code == "57014":
			return task.Wrap(task.Unavailable, err, "the database took too long; retry later")
		}
	}
	return task.Wrap(task.Internal, err, "internal error")
}

// unavailable reports errors that mean "the database is not there right
// now": network failures, a server shutting down or refusing connections.
func unavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pg pgdriver.Error
	if errors.As(err, &pg) {
		code := pg.Field('C')
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300" || code == "53000"
	}
	// pgdriver reports a refused TLS upgrade and some dial failures as plain text.
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "SSL is not enabled") ||
		strings.Contains(msg, "TLS handshake")
}
