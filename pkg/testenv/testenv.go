// Package testenv holds what tests of every module share: what a test does
// when something it needs (a database, Redis, node, curl) is missing — skip
// on a developer's machine, fail in CI, where nothing may be skipped — and
// Logs, a log sink a test reads while a server writes to it.
package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// InCI reports whether CI is set to a true value (true, 1, TRUE...).
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Missing ends tb because a prerequisite is missing: Fatalf when InCI,
// Skipf otherwise. The message should name what is missing and how to
// provide it. A skip is also appended, with the test's name, to the file
// TESTENV_SKIP_LOG names (when set), where `make test` collects every skip
// to list them at its end; testenv.sh is the same rule for shell scripts.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("CI=true, so a missing prerequisite fails the test: %s", msg)
	}
	if name := os.Getenv("TESTENV_SKIP_LOG"); name != "" {
		if f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", tb.Name(), msg)
			_ = f.Close()
		}
	}
	tb.Skip(msg)
}
