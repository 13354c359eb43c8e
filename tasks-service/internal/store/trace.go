package store

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/extra/bunotel"
	"github.com/uptrace/bun/schema"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// WithTracing traces the store: every statement a request sends becomes a
// span (Bun's OpenTelemetry instrumentation, bunotel) under the request's
// span, and Create with an Idempotency-Key gets an "idempotency.lookup" span
// around its statements. Statements outside a traced request (readiness
// pings, the janitor) are not traced. The store uses a copy of the *bun.DB
// given to New with bunotel's query hook.
//
// A span never carries a value: db.statement is the statement's template,
// with ? where Bun would write an argument (the user id, a title, a
// description, an Idempotency-Key), and a failed statement's status is its
// SQLSTATE only, since a Postgres error message may quote a value.
func WithTracing(tp trace.TracerProvider) Option {
	return func(d *DB) {
		d.tracer = tp.Tracer("github.com/gatehouse-dev/gatehouse/tasks-service/internal/store")
		d.db = d.db.WithQueryHook(&queryHook{otel: bunotel.NewQueryHook(
			bunotel.WithTracerProvider(tp),
			bunotel.WithDBName("tasks"),
			bunotel.WithFormattedQueries(false),
		)})
	}
}

// statement describes what store.run sends, for the query hook: its
// operation (SELECT, INSERT, ...) and its template without any value.
type statement struct {
	op, template string
}

type statementKey struct{}

// spanStartedKey marks a context whose query span queryHook started.
type spanStartedKey struct{}

// queryHook is bunotel's hook, limited to statements of traced requests and
// given only redacted events.
type queryHook struct{ otel *bunotel.QueryHook }

func (h *queryHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx // not part of a traced request
	}
	ctx = h.otel.BeforeQuery(ctx, e)
	return context.WithValue(ctx, spanStartedKey{}, true)
}

func (h *queryHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	if started, _ := ctx.Value(spanStartedKey{}).(bool); !started {
		return
	}
	redacted := bun.QueryEvent{DB: e.DB, StartTime: e.StartTime, Result: e.Result, Err: redactError(e.Err)}
	if st, ok := ctx.Value(statementKey{}).(*statement); ok {
		redacted.Query, redacted.QueryTemplate = st.op, st.template
	} else {
		redacted.Query = firstWord(e.Query) // its operation; the text may hold values
	}
	h.otel.AfterQuery(ctx, &redacted)
}

// redactError keeps what a span may say about a failed statement: a
// Postgres error is reduced to its SQLSTATE (its message may quote a
// value); driver and network errors say nothing about the data.
func redactError(err error) error {
	var pg pgdriver.Error
	if errors.As(err, &pg) {
		return errors.New("postgres error SQLSTATE " + pg.Field('C'))
	}
	return err
}

// traceStatement returns ctx carrying the redacted description of the
// message run sends for q, when the request is traced.
func (s *Tasks) traceStatement(ctx context.Context, q schema.QueryAppender) context.Context {
	if s.dbh.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	b, err := q.AppendQuery(schema.NewNopQueryGen(), []byte(preludeTemplate(s.dbh.skipRole)))
	if err != nil {
		return ctx
	}
	tmpl := string(b)
	return context.WithValue(ctx, statementKey{}, &statement{op: operation(tmpl[len(preludeTemplate(s.dbh.skipRole)):]), template: tmpl})
}

// preludeTemplate is what every request's message starts with, without
// its values (appendStatementTimeout and the prelude of DB.tasks).
func preludeTemplate(skipRole bool) string {
	if skipRole {
		return "SET LOCAL statement_timeout = ?; SET LOCAL app.user_id = ?; "
	}
	return "SET LOCAL statement_timeout = ?; SET LOCAL ROLE ?; SET LOCAL app.user_id = ?; "
}

// operation is the SQL command of a statement: its first word, or for a
// WITH statement the command that follows its common table expressions.
func operation(sql string) string {
	op := firstWord(sql)
	if !strings.EqualFold(op, "WITH") {
		return strings.ToUpper(op)
	}
	depth := 0
	for i := 0; i < len(sql); i++ {
		switch sql[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				rest := strings.TrimLeft(sql[i+1:], " \t\r\n")
				if !strings.HasPrefix(rest, ",") {
					if w := firstWord(rest); w != "" {
						return strings.ToUpper(w)
					}
				}
			}
		}
	}
	return "WITH"
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n")
	if i := strings.IndexAny(s, " \t\r\n(;"); i >= 0 {
		return s[:i]
	}
	return s
}

// idempotencySpan starts the span of an Idempotency-Key lookup (nil span
// when the request is not traced); end records how it went.
func (s *Tasks) idempotencySpan(ctx context.Context) (context.Context, trace.Span) {
	if s.dbh.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return s.dbh.tracer.Start(ctx, "idempotency.lookup")
}

// endIdempotencySpan ends span (nil: not traced) with the outcome: created
// (the key was new), replayed, or the error.
func endIdempotencySpan(span trace.Span, replayed bool, err error) {
	if span == nil {
		return
	}
	outcome := "created"
	switch {
	case err != nil:
		outcome = string(task.ErrorCode(err))
		span.SetStatus(codes.Error, outcome)
	case replayed:
		outcome = "replayed"
	}
	span.SetAttributes(attribute.String("gatehouse.idempotency.outcome", outcome))
	span.End()
}

// noteRoleSwitch reports err to WithRoleSwitchFailures when it is Postgres
// refusing the request's SET LOCAL ROLE: the role does not exist, or the
// login role may not switch to it.
func (s *Tasks) noteRoleSwitch(err error) {
	if s.dbh.roleSwitchFailed == nil || s.dbh.skipRole {
		return
	}
	var pg pgdriver.Error
	if !errors.As(err, &pg) {
		return
	}
	switch pg.Field('C') {
	case "42501", "42704", "22023": // insufficient_privilege, undefined_object, invalid_parameter_value
		if strings.Contains(pg.Field('M'), `role "`+s.dbh.role+`"`) {
			s.dbh.roleSwitchFailed()
		}
	}
}
