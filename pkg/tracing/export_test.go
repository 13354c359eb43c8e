package tracing

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// CountExporters makes New count the exporters it creates into n until
// restore is called.
func CountExporters(n *int) (restore func()) {
	old := newExporter
	newExporter = func(ctx context.Context, opts ...otlptracehttp.Option) (sdktrace.SpanExporter, error) {
		*n++
		return old(ctx, opts...)
	}
	return func() { newExporter = old }
}
