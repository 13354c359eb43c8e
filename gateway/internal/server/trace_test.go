package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
	clientParent  = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

// TestTracing: with a tracer, a request continues the client's traceparent
// in a server span ("GET /api/tasks/*"), under which authn.verify (cache
// miss, then hit; the algorithm; never the token) and "upstream
// tasks-service" hang; the tasks service receives that upstream span's
// traceparent (not the client's) and the client's tracestate, and the
// access line carries the trace id. The first JWKS fetch is a span of its
// own. No attribute carries the token, its signature, the identity
// signature the upstream received or the user.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var logs testenv.Logs
	h := startWith(t, nil, server.Hooks{Tracer: tp.Tracer("test")}, slog.New(slog.NewJSONHandler(&logs, nil)))
	h.waitReady(t)
	tok := h.token("user-trace-1")
	for range 2 {
		r := h.do(t, req("GET", "/api/tasks/x", "Authorization: Bearer "+tok, "Traceparent: "+clientParent, "Tracestate: vendor=abc"))
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	}
	got := h.tasks.requests()
	if len(got) != 2 {
		t.Fatalf("%d upstream requests", len(got))
	}

	spans := rec.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		for _, kv := range s.Attributes() {
			if string(kv.Key) == key {
				return kv.Value.String()
			}
		}
		return ""
	}
	secrets := []string{tok, tok[strings.LastIndexByte(tok, '.')+1:], "user-trace-1", got[0].Header.Get("X-Identity-Signature")}
	var requests, verifies, upstreams, fetches int
	var hits []string
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			for _, secret := range secrets {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %q attribute %s carries a secret", s.Name(), kv.Key)
				}
			}
		}
		parent, hasParent := byID[s.Parent().SpanID()]
		switch s.Name() {
		case "GET /api/tasks/*":
			requests++
			if s.Parent().SpanID().String() != clientSpanID || s.SpanContext().TraceID().String() != clientTraceID || !s.Parent().IsRemote() {
				t.Errorf("request span: parent %s in %s, want the client's %s", s.Parent().SpanID(), s.SpanContext().TraceID(), clientSpanID)
			}
			if attr(s, "http.route") != "/api/tasks/*" || attr(s, "http.response.status_code") != "200" || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("request span attributes %v", s.Attributes())
			}
		case "authn.verify":
			verifies++
			hits = append(hits, attr(s, "gatehouse.token.cache_hit"))
			if !hasParent || parent.Name() != "GET /api/tasks/*" || attr(s, "gatehouse.token.alg") != "EdDSA" || attr(s, "gatehouse.token.outcome") != "valid" {
				t.Errorf("authn.verify: parent ok %v, attributes %v", hasParent, s.Attributes())
			}
		case "upstream tasks-service":
			want := "00-" + clientTraceID + "-" + s.SpanContext().SpanID().String() + "-01"
			if tp := got[upstreams].Header.Values("Traceparent"); len(tp) != 1 || tp[0] != want {
				t.Errorf("upstream received traceparent %q, want %q (its own span)", tp, want)
			}
			if ts := got[upstreams].Header.Get("Tracestate"); ts != "vendor=abc" {
				t.Errorf("upstream received tracestate %q", ts)
			}
			upstreams++
			if !hasParent || parent.Name() != "GET /api/tasks/*" || attr(s, "http.response.status_code") != "200" || s.SpanKind() != trace.SpanKindClient {
				t.Errorf("upstream span: parent ok %v, attributes %v", hasParent, s.Attributes())
			}
		case "jwks.fetch":
			fetches++
			if attr(s, "gatehouse.jwks.cause") != "start" || attr(s, "gatehouse.jwks.keys") != "1" {
				t.Errorf("jwks.fetch attributes %v", s.Attributes())
			}
		}
	}
	if requests != 2 || verifies != 2 || upstreams != 2 || fetches != 1 {
		t.Fatalf("%d request, %d authn.verify, %d upstream, %d jwks.fetch spans; want 2, 2, 2, 1", requests, verifies, upstreams, fetches)
	}
	if hits[0] != "false" || hits[1] != "true" {
		t.Errorf("cache hits %v, want a miss then a hit", hits)
	}
	lines := logs.Records(t, "request")
	if n := len(lines); n == 0 || lines[n-1]["trace_id"] != clientTraceID {
		t.Errorf("access log lines %v lack trace_id %s", lines, clientTraceID)
	}
	_ = tp.Shutdown(context.Background())
}

// TestTracingOffPassesTraceContext: without a tracer the gateway adds no
// span and no trace id, and the client's traceparent and tracestate reach
// the tasks service as they came, so a traced tasks service still joins the
// browser's trace.
func TestTracingOffPassesTraceContext(t *testing.T) {
	var logs testenv.Logs
	h := startWith(t, nil, server.Hooks{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	h.waitReady(t)
	r := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("u1"), "Traceparent: "+clientParent, "Tracestate: vendor=abc"))
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	got := h.tasks.requests()
	if len(got) != 1 || got[0].Header.Get("Traceparent") != clientParent || got[0].Header.Get("Tracestate") != "vendor=abc" {
		t.Fatalf("upstream headers %v", got[0].Header)
	}
	for _, l := range logs.Records(t, "request") {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("access line with trace_id while tracing is off: %v", l)
		}
	}
}

// TestTracingUnsampled: a request the sampler leaves out (here the
// client's unsampled traceparent under the default parent-based sampler)
// records no span, yet the trace goes on: the tasks service receives a
// traceparent in the client's trace, still unsampled, and the access line
// carries the trace id.
func TestTracingUnsampled(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	var logs testenv.Logs
	h := startWith(t, nil, server.Hooks{Tracer: tp.Tracer("test")}, slog.New(slog.NewJSONHandler(&logs, nil)))
	h.waitReady(t)
	unsampled := "00-" + clientTraceID + "-" + clientSpanID + "-00"
	r := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("u1"), "Traceparent: "+unsampled))
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	got := h.tasks.requests()
	tp0 := got[0].Header.Get("Traceparent")
	if len(got) != 1 || !strings.HasPrefix(tp0, "00-"+clientTraceID+"-") || !strings.HasSuffix(tp0, "-00") || strings.Contains(tp0, clientSpanID) {
		t.Fatalf("upstream traceparent %q, want the client's trace, a new span, unsampled", tp0)
	}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == clientTraceID {
			t.Errorf("unsampled request recorded span %q", s.Name())
		}
	}
	if lines := logs.Records(t, "request"); lines[len(lines)-1]["trace_id"] != clientTraceID {
		t.Errorf("access line %v lacks the trace id", lines[len(lines)-1])
	}
}
