package api

import (
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
)

// etag is the strong entity tag of a task version: "<version>".
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch parses If-Match: nil when absent or "*", else the version it
// names. A tag that is not one of ours (weak, malformed, several) can never
// match, so it becomes version -1 and the write fails with 412.
func ifMatch(header string) *int64 {
	header = strings.TrimSpace(header)
	if header == "" || header == "*" {
		return nil
	}
	v := int64(-1)
	if len(header) >= 3 && header[0] == '"' && header[len(header)-1] == '"' {
		if n, err := strconv.ParseInt(header[1:len(header)-1], 10, 64); err == nil && n > 0 {
			v = n
		}
	}
	return &v
}

// ifMatchAny wraps a write: "If-Match: *" is false when the task has no
// current representation (RFC 9110 section 13.1.1), so a write to a task
// that is missing (or another user's: the two stay indistinguishable) is
// 412, not 404. The store treats "*" as no condition (ifMatch returns nil);
// only its NotFound answer changes.
func ifMatchAny(write fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := write(c)
		if task.ErrorCode(err) == task.NotFound && strings.TrimSpace(c.Get(fiber.HeaderIfMatch)) == "*" {
			return task.Errorf(task.PreconditionFailed, "If-Match: * needs the task to exist, and there is no such task")
		}
		return err
	}
}

// noneMatch reports whether If-None-Match matches version (weak comparison).
func noneMatch(header string, version int64) bool {
	want := etag(version)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == want {
			return true
		}
	}
	return false
}
