package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTracedRequest: a request carrying the gateway's traceparent gets a
// server span that continues it ("POST /api/tasks", with route and status,
// no path or user), and the store's SQL and idempotency spans hang under
// it; the access log line carries the trace id. The replay is counted in
// tasks_idempotency_replays_total, and the pool's series are served.
func TestTracedRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := pg.MustOpen(t)
	sdb := store.New(db, pgtest.Role, store.WithTracing(tp))
	metrics := observe.NewMetrics("tasks-service")
	metrics.Registry.MustRegister(collectors.NewDBStatsCollector(db.DB, "tasks"))
	srv := serve(t, api.Config{
		Stores: sdb.For, Ready: sdb.Ready, Metrics: metrics, ServeMetrics: true,
		Tracer:  tp.Tracer("test"),
		Service: api.NewServiceMetrics(metrics.Registry),
	})
	u := srv.newUser(t)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tp0 := "00-" + traceID + "-" + parentID + "-01"
	body := map[string]any{"title": "a secret title"}
	for i, want := range []int{201, 201} {
		r := u.do("POST", "/api/tasks", body, "Idempotency-Key", "k-1", "Traceparent", tp0)
		if r.status != want || (i == 1) != (r.header.Get("Idempotent-Replayed") == "true") {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}
	if r := u.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	_ = tp.ForceFlush(context.Background())

	var servers, children int
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q in trace %s, not the caller's", sp.Name(), sp.SpanContext().TraceID())
			continue
		}
		for _, kv := range sp.Attributes() {
			if v := kv.Value.String(); strings.Contains(v, "a secret title") || strings.Contains(v, u.id) || strings.Contains(v, "k-1") {
				t.Errorf("span %q attribute %s = %q", sp.Name(), kv.Key, v)
			}
		}
		if sp.Name() == "POST /api/tasks" {
			servers++
			if sp.Parent().SpanID().String() != parentID || !sp.Parent().IsRemote() {
				t.Errorf("server span's parent %s, want the caller's %s", sp.Parent().SpanID(), parentID)
			}
			continue
		}
		children++
	}
	if servers != 2 || children < 5 { // per request a lookup and 1 or 2 statements
		t.Fatalf("%d server spans and %d others, want 2 and at least 5", servers, children)
	}
	if !strings.Contains(srv.logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("access log lacks the trace id:\n%s", srv.logs.String())
	}

	_, m := get(t, srv.base+"/metrics")
	for _, want := range []string{
		"tasks_idempotency_replays_total 1",
		"tasks_rls_role_switch_failures_total 0",
		`go_sql_max_open_connections{db_name="tasks"}`,
		`go_sql_in_use_connections{db_name="tasks"}`,
		`go_sql_wait_count_total{db_name="tasks"}`,
		`http_request_duration_seconds_count{method="POST",route="/api/tasks",service="tasks-service",status="201"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
