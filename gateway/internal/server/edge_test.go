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
	h := startWith(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"}, hooks, observe.NewLogger(&logs, "gateway", slog.LevelInfo))
	h.waitReady(t)

	resp := h.do(t, req("GET", "/api/tasks?x=1", "Authorization: Bearer "+h.token("alice"), "X-Request-ID: edge-1"))
	if resp.status != 200 || resp.header.Get("X-Request-Id") != "edge-1" {
		t.Fatalf("proxied: %d, request id %q", resp.status, resp.header.Get("X-Request-Id"))
	}
	for _, name := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Cross-Origin-Resource-Policy"} {
		if resp.header.Get(name) == "" {
			t.Errorf("response lacks %s", name)
		}
	}
	if v := resp.header.Get("Strict-Transport-Security"); v != "" {
		t.Errorf("HSTS over plain HTTP (RFC 6797 §7.2 forbids it): %q", v)
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
	if _, isNum := ok["latency_us"].(float64); !isNum {
		t.Fatalf("latency_us: %v", ok["latency_us"])
	}
	if failed == nil || failed["status"] != float64(500) || failed["level"] != "ERROR" {
		t.Fatalf("access line of the panicking request: %v", failed)
	}

	resp = doAt(t, h.metricsAddr, req("GET", "/metrics"))
	for _, want := range []string{
		`http_requests_total{method="GET",route="/api/tasks",service="gateway",status="200"} 1`,
		`http_requests_total{method="GET",route="/api/tasks",service="gateway",status="500"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/api/tasks",service="gateway",status="200"} 1`,
	} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMetricsOffThePublicPort: with METRICS_ADDR the public port answers
// /metrics with a 404 problem, as any unknown path, and the metrics address
// serves the series of the public traffic and nothing else (no proxying,
// no health checks).
func TestMetricsOffThePublicPort(t *testing.T) {
	h := start(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	h.waitReady(t)
	if resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("alice"))); resp.status != 200 {
		t.Fatalf("proxied request: %d %s", resp.status, resp.body)
	}
	public := h.do(t, req("GET", "/metrics"))
	if public.status != 404 || strings.Contains(public.body, "http_requests_total") {
		t.Fatalf("public /metrics: %d %s", public.status, public.body)
	}
	public.problem(t)

	resp := doAt(t, h.metricsAddr, req("GET", "/metrics"))
	want := `http_requests_total{method="GET",route="/api/tasks",service="gateway",status="200"} 1`
	if resp.status != 200 || !strings.Contains(resp.body, want) {
		t.Fatalf("metrics address: %d, want %s in %s", resp.status, want, resp.body)
	}
	if strings.Contains(resp.body, `route="/metrics"`) {
		t.Error("scrapes are counted as gateway traffic")
	}
	for _, path := range []string{"/api/tasks", "/healthz", "/metrics/../api/tasks"} {
		r := doAt(t, h.metricsAddr, req("GET", path, "Authorization: Bearer "+h.token("alice")))
		if r.status != 404 {
			t.Errorf("metrics address %s: %d, want 404", path, r.status)
		}
	}
	if got := len(h.tasks.requests()); got != 1 {
		t.Errorf("tasks upstream saw %d requests, want only the one made on the public port", got)
	}
}

// TestMetricsOffByDefault: without METRICS_ADDR there is no /metrics at
// all (it was served on the public port: request counts per route and
// status, runtime details); METRICS_ADDR equal to GATEWAY_ADDR is the
// explicit opt-in that serves it there.
func TestMetricsOffByDefault(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	resp := h.do(t, req("GET", "/metrics"))
	if resp.status != 404 || strings.Contains(resp.body, "http_requests_total") {
		t.Fatalf("public /metrics by default: %d %.200s, want 404", resp.status, resp.body)
	}
	resp.problem(t)
	if h.gw.Metrics != nil {
		t.Fatal("a metrics app without METRICS_ADDR")
	}

	// The harness serves its own listener; GATEWAY_ADDR only has to equal
	// METRICS_ADDR for the opt-in.
	on := start(t, map[string]string{"GATEWAY_ADDR": "127.0.0.1:18080", "METRICS_ADDR": "127.0.0.1:18080"})
	on.waitReady(t)
	if resp := on.do(t, req("GET", "/metrics")); resp.status != 200 || !strings.Contains(resp.body, "http_requests_total") {
		t.Fatalf("public /metrics with METRICS_ADDR = GATEWAY_ADDR: %d %.200s", resp.status, resp.body)
	}
}

// TestHSTSOnlyOverHTTPS checks that Strict-Transport-Security is sent when a
// trusted proxy says the client used HTTPS, and not when a client that
// reached the gateway directly over HTTP claims so itself.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	for _, tc := range []struct {
		hops string
		want bool
	}{{"1", true}, {"0", false}} {
		h := start(t, map[string]string{"TRUSTED_PROXY_HOPS": tc.hops})
		h.waitReady(t)
		resp := h.do(t, req("GET", "/healthz", "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.7"))
		got := resp.header.Get("Strict-Transport-Security")
		if resp.status != 200 || (got != "") != tc.want || tc.want && got != "max-age=31536000; includeSubDomains" {
			t.Errorf("TRUSTED_PROXY_HOPS=%s, X-Forwarded-Proto: https: status %d, HSTS %q, want sent=%v", tc.hops, resp.status, got, tc.want)
		}
	}
}
