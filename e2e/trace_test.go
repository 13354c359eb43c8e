package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/tracing/otlptest"
)

// testOneTrace: with OTEL_EXPORTER_OTLP_ENDPOINT pointing both real
// binaries at an in-process OTLP/HTTP receiver, one POST /api/tasks that
// carries a client's traceparent becomes ONE trace, continuing the
// client's: gateway request → authn.verify and upstream tasks-service →
// the tasks service's request → idempotency.lookup → the SQL statements
// (bunotel), each span the child of the one before. No attribute, status
// or event of any span received carries the JWT, its signature, the
// identity signature the tasks service received, the identity key, the
// JWKS key material, the task's title or description, the Idempotency-Key
// or the user id.
func testOneTrace(t *testing.T, s *stack, u *user, jwt, alg string) {
	recv := otlptest.Start(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL, "OTEL_BSP_SCHEDULE_DELAY=100"}
	tasksURL := startTasksService(t, s, otel...)

	// A relay in front of the tasks service records the identity
	// signatures the gateway sends, to look for them in the spans.
	var mu sync.Mutex
	var signatures []string
	target, _ := url.Parse(tasksURL)
	relay := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		signatures = append(signatures, r.In.Header.Get("X-Identity-Signature"))
		mu.Unlock()
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(relay.Close)
	gatewayURL := startGateway(t, s, relay.URL, otel...)

	traceID, clientSpan := randomHexBytes(t, 16), randomHexBytes(t, 8)
	const title, description, key = "trace-secret-title-5e1f", "trace-secret-description-a93b", "trace-secret-key-77c2"
	api := newClient(t, gatewayURL, false).withBearer(jwt)
	expect(t, "traced create", api.do("POST", "/api/tasks", map[string]any{"title": title, "description": description},
		"Idempotency-Key", key, "Traceparent", "00-"+traceID+"-"+clientSpan+"-01", "Tracestate", "client=1"), http.StatusCreated)

	// Spans by "service name".
	want := []string{"gateway POST /api/tasks", "gateway authn.verify", "gateway upstream tasks-service",
		"tasks-service POST /api/tasks", "tasks-service idempotency.lookup", "tasks-service INSERT"}
	inTrace := func(spans []otlptest.Span) map[string]otlptest.Span {
		m := map[string]otlptest.Span{}
		for _, sp := range spans {
			if sp.TraceID == traceID {
				m[sp.Service+" "+sp.Name] = sp
			}
		}
		return m
	}
	spans, ok := recv.WaitFor(15*time.Second, func(spans []otlptest.Span) bool {
		m := inTrace(spans)
		for _, name := range want {
			if _, ok := m[name]; !ok {
				return false
			}
		}
		return true
	})
	byName := inTrace(spans)
	if !ok {
		var got []string
		for _, sp := range spans {
			got = append(got, sp.Service+":"+sp.Name+"@"+sp.TraceID[:8])
		}
		t.Fatalf("the trace lacks spans: want %v, received %v", want, got)
	}
	byID := map[string]otlptest.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	// Every span of the request is in the client's trace, and hangs from
	// the client's span through the chain below.
	parentOf := map[string]string{
		"gateway POST /api/tasks":          "", // the client's span
		"gateway authn.verify":             "gateway POST /api/tasks",
		"gateway upstream tasks-service":   "gateway POST /api/tasks",
		"tasks-service POST /api/tasks":    "gateway upstream tasks-service",
		"tasks-service idempotency.lookup": "tasks-service POST /api/tasks",
		"tasks-service INSERT":             "tasks-service idempotency.lookup",
	}
	for name, parent := range parentOf {
		sp := byName[name]
		if parent == "" {
			if sp.ParentSpanID != clientSpan {
				t.Errorf("span %q: parent %s, want the client's span %s", name, sp.ParentSpanID, clientSpan)
			}
			continue
		}
		p := byID[sp.ParentSpanID]
		if got := p.Service + " " + p.Name; got != parent || p.TraceID != traceID {
			t.Errorf("span %q: parent %q, want %q", name, got, parent)
		}
	}
	if a := byName["gateway authn.verify"].Attributes; a["gatehouse.token.alg"] != alg || a["gatehouse.token.cache_hit"] != "false" || a["gatehouse.token.outcome"] != "valid" {
		t.Errorf("authn.verify attributes %v", a)
	}
	if st := byName["tasks-service INSERT"].Attributes["db.statement"]; !strings.Contains(st, "SET LOCAL ROLE ?") || !strings.Contains(st, "INSERT INTO tasks") {
		t.Errorf("SQL span statement %q", st)
	}
	if a := byName["tasks-service idempotency.lookup"].Attributes; a["gatehouse.idempotency.outcome"] != "created" {
		t.Errorf("idempotency.lookup attributes %v", a)
	}

	// Nothing secret in any span received.
	secrets := map[string]string{
		"JWT": jwt, "JWT signature": jwt[strings.LastIndexByte(jwt, '.')+1:], "user id": u.id,
		"title": title, "description": description, "Idempotency-Key": key,
	}
	for _, k := range strings.Split(s.identityKeys, ",") {
		secrets["identity key"] = k[strings.IndexByte(k, ':')+1:]
	}
	mu.Lock()
	for i, sig := range signatures {
		if sig == "" {
			t.Fatal("the relay saw a request without X-Identity-Signature")
		}
		secrets["identity signature "+string(rune('0'+i))] = sig
		secrets["identity MAC "+string(rune('0'+i))] = sig[strings.LastIndex(sig, "sig=")+4:]
	}
	mu.Unlock()
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	expect(t, "JWKS", newClient(t, s.authURL, false).do("GET", "/api/auth/jwks", nil), http.StatusOK).json(t, &jwks)
	for _, k := range jwks.Keys {
		for _, member := range []string{"x", "y", "n", "e"} {
			if v, _ := k[member].(string); len(v) > 8 {
				secrets["JWKS "+member] = v
			}
		}
	}
	for _, sp := range spans {
		text := sp.Text()
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("span %q (%s) carries the %s", sp.Name, sp.Service, what)
			}
		}
	}
}

func randomHexBytes(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
