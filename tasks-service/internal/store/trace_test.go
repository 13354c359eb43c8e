package store

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTracedStatements: under a request's span every statement is a child
// span (bunotel) whose db.statement is the template — the prelude's SET
// LOCAL ROLE included — and never a value: not the user id, a title, a
// description or an Idempotency-Key. Create with a key has an
// idempotency.lookup span over its statements that says created or
// replayed. Statements outside a request (Ready) are not traced.
func TestTracedStatements(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	d := New(pg.MustOpen(t), pgtest.Role, WithTracing(tp))
	s, err := d.tasks(newUser(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	const title, key = "secret title 7f3a", "secret-idem-key-9b1c"
	desc := "secret description 2e8d"
	dr, err := task.Input{Title: ptr(title), Description: &desc}.Draft()
	if err != nil {
		t.Fatal(err)
	}
	idem := keyIdem(key)
	if _, replayed, err := s.Create(ctx, dr, idem); err != nil || replayed {
		t.Fatalf("create: replayed=%v %v", replayed, err)
	}
	if _, replayed, err := s.Create(ctx, dr, idem); err != nil || !replayed {
		t.Fatalf("retry: replayed=%v %v", replayed, err)
	}
	if _, err := s.List(ctx, task.ListQuery{Sort: task.SortCreatedAt, Limit: 10, Search: title}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if err := d.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID().String()] = sp
	}
	var sql, lookups []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		for _, secret := range []string{title, desc, key, s.userID} {
			for _, kv := range sp.Attributes() {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %q attribute %s carries %q: %s", sp.Name(), kv.Key, secret, kv.Value.String())
				}
			}
			if strings.Contains(sp.Status().Description, secret) {
				t.Errorf("span %q status carries %q", sp.Name(), secret)
			}
		}
		switch {
		case spanAttr(sp, "db.statement") != "":
			sql = append(sql, sp)
		case sp.Name() == "idempotency.lookup":
			lookups = append(lookups, sp)
		}
	}
	// Create (new key): 1 statement; Create (replay): 2; List: 1.
	if len(sql) != 4 || len(lookups) != 2 {
		t.Fatalf("%d SQL spans and %d lookups, want 4 and 2; spans: %v", len(sql), len(lookups), names(spans))
	}
	if got := []string{spanAttr(lookups[0], "gatehouse.idempotency.outcome"), spanAttr(lookups[1], "gatehouse.idempotency.outcome")}; got[0] != "created" || got[1] != "replayed" {
		t.Errorf("lookup outcomes %v, want created, replayed", got)
	}
	wantOps := []string{"INSERT", "INSERT", "SELECT", "SELECT"}
	for i, sp := range sql {
		stmt := spanAttr(sp, "db.statement")
		if sp.Name() != wantOps[i] || spanAttr(sp, "db.operation") != wantOps[i] ||
			!strings.HasPrefix(stmt, "SET LOCAL statement_timeout = ?; SET LOCAL ROLE ?; SET LOCAL app.user_id = ?; ") {
			t.Errorf("SQL span %d: name %q, operation %q, statement %q", i, sp.Name(), spanAttr(sp, "db.operation"), stmt)
		}
		p, ok := byID[sp.Parent().SpanID().String()]
		wantParent := "request"
		if i < 3 {
			wantParent = "idempotency.lookup"
		}
		if !ok || p.Name() != wantParent || sp.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("SQL span %d (%s): parent %v, want %s in the request's trace", i, sp.Name(), sp.Parent().SpanID(), wantParent)
		}
	}
	for _, l := range lookups {
		if l.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("idempotency.lookup is not a child of the request span")
		}
	}
	if n := len(spans); n != 4+2+1 {
		t.Errorf("%d spans, want 7 (Ready's ping must not be traced): %v", n, names(spans))
	}
}

// TestRoleSwitchFailuresAreReported: a request whose SET LOCAL ROLE
// Postgres refuses (here the role does not exist) fails, and
// WithRoleSwitchFailures hears of it; other failures are not counted.
func TestRoleSwitchFailuresAreReported(t *testing.T) {
	var n int
	d := New(pg.MustOpen(t), "tasks_rls_missing", WithRoleSwitchFailures(func() { n++ }))
	s, err := d.tasks(newUser(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(context.Background(), task.ListQuery{Sort: task.SortCreatedAt, Limit: 10}); err == nil {
		t.Fatal("a missing RLS role did not fail the request")
	}
	if n != 1 {
		t.Fatalf("%d role switch failures reported, want 1", n)
	}

	ok := New(pg.MustOpen(t), pgtest.Role, WithRoleSwitchFailures(func() { n++ }))
	s, _ = ok.tasks(newUser(t))
	bad := s.db.NewRaw("SELECT 1/0")
	if err := s.run(context.Background(), nil, bad); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if n != 1 {
		t.Fatalf("an unrelated error counted as a role switch failure (%d)", n)
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func ptr[T any](v T) *T { return &v }
