package server_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
)

// TestEdgeLogsCountsAndRecovers checks what the folded outermost handler
// owes every request: request id, security headers, one structured access
// line, a metric sample, and a 500 problem (not a dropped connection) when
// a handler panics.
func TestEdgeLogsCountsAndRecovers(t *testing.T) {
	var logs testenv.Logs
	hooks := server.Hooks{PerUser: func(c *fiber.Ctx) error {
		if c.Get("X-Test-Panic") != "" {
			panic("boom")
		}
		return c.Next()
	}}
	h := startWith(t, nil, hooks, observe.NewLogger(&logs, "gateway", slog.LevelInfo))
	h.waitReady(t)

	resp := h.do(t, req("GET", "/api/tasks?x=1", "Authorization: Bearer "+h.token("alice"), "X-Request-ID: edge-1"))
	if resp.status != 200 || resp.header.Get("X-Request-Id") != "edge-1" {
		t.Fatalf("proxied: %d, request id %q", resp.status, resp.header.Get("X-Request-Id"))
	}
	for _, name := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Strict-Transport-Security"} {
		if resp.header.Get(name) == "" {
			t.Errorf("response lacks %s", name)
		}
	}
	resp = h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice"), "X-Test-Panic: 1"))
	if resp.status != 500 || resp.header.Get("X-Request-Id") == "" || resp.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("panic: %d %v", resp.status, resp.header)
	}
	resp.problem(t)

	var ok, failed map[string]any
	for _, l := range logs.Records(t, "request") {
		switch l["request_id"] {
		case "edge-1":
			ok = l
		case resp.header.Get("X-Request-Id"):
			failed = l
		}
	}
	if ok == nil || ok["route"] != "/api/tasks" || ok["path"] != "/api/tasks" || ok["status"] != float64(200) ||
		ok["user_id"] != "alice" || ok["service"] != "gateway" || ok["level"] != "INFO" || ok["method"] != "GET" {
		t.Fatalf("access line of the proxied request: %v", ok)
	}
	if _, isNum := ok["latency_ms"].(float64); !isNum {
		t.Fatalf("latency_ms: %v", ok["latency_ms"])
	}
	if failed == nil || failed["status"] != float64(500) || failed["level"] != "ERROR" {
		t.Fatalf("access line of the panicking request: %v", failed)
	}

	resp = h.do(t, req("GET", "/metrics"))
	for _, want := range []string{
		`http_requests_total{method="GET",route="/api/tasks",service="gateway",status="200"} 1`,
		`http_requests_total{method="GET",route="/api/tasks",service="gateway",status="500"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/api/tasks",service="gateway"} 2`,
	} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
