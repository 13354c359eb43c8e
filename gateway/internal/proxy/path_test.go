package proxy_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
)

func TestCheckPath(t *testing.T) {
	ok := []string{
		"/api/tasks", "/api/tasks/", "/api/tasks/0d6b2c1e-aaaa-4bbb-8ccc-123456789abc",
		"/api/tasks/a.b", "/api/tasks/...", "/api/auth/sign-in/email", "/api/tasks/caf%C3%A9", "/api/u%20x/tasks",
	}
	bad := []string{
		"", "api/tasks", "/api/tasks/..", "/api/tasks/../auth", "/api/./tasks", "/api/tasks/.",
		"/api/tasks/%2e%2e", "/api/tasks/%2E.", "/api/tasks/.%2e/x", "/api/tasks/%2e",
		"/api/tasks%2Fauth", "/api/tasks%2fauth", "/api/tasks%5Cauth", "/api/tasks\\..\\auth",
		"/api//tasks", "//api/tasks", "/api/tasks/%00", "/api/tasks/%0a", "/api/tasks/%zz", "/api/tasks/%2",
		"/api/tasks/%252e%252e", "/api/tasks/a b", "/api/tasks/\x7f",
	}
	for _, p := range ok {
		if err := proxy.CheckPath([]byte(p)); err != nil {
			t.Errorf("CheckPath(%q) rejected a plain path", p)
		}
	}
	for _, p := range bad {
		if err := proxy.CheckPath([]byte(p)); err == nil {
			t.Errorf("CheckPath(%q) accepted an ambiguous path", p)
		}
	}
}
