// Package tracing is the OpenTelemetry setup both services share: the
// standard OTEL_* variables (Vars, Load) become a TracerProvider that
// exports OTLP/HTTP (New), and W3C trace context travels in fasthttp
// headers (Extract, Inject).
//
// Tracing is off unless an OTLP endpoint is configured. Then New creates no
// exporter and no SDK at all, Provider.Enabled is false, and the services
// skip every span (they test Enabled, or a nil Tracer, before doing any
// tracing work), so that tracing off costs nothing.
package tracing

import (
	"context"
	"errors"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Provider is a configured TracerProvider, or nothing when tracing is off.
type Provider struct {
	sdk *sdktrace.TracerProvider // nil: off
}

// newExporter creates the OTLP/HTTP exporter; a test counts its calls.
var newExporter = func(ctx context.Context, opts ...otlptracehttp.Option) (sdktrace.SpanExporter, error) {
	return otlptracehttp.New(ctx, opts...)
}

// New returns the Provider of cfg: off (no exporter, no SDK) when
// cfg.Enabled is false, otherwise an SDK TracerProvider that samples with
// cfg.Sampler and exports in batches (the SDK's OTEL_BSP_* defaults: every
// 5 s or 512 spans, at most 2048 queued; a full queue drops spans, never
// blocks a request).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if !cfg.Enabled() {
		return &Provider{}, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.Endpoint)}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	if cfg.Timeout > 0 {
		opts = append(opts, otlptracehttp.WithTimeout(cfg.Timeout))
	}
	if cfg.Gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	exp, err := newExporter(ctx, opts...)
	if err != nil {
		return nil, err
	}
	attrs := append([]attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}, cfg.Attributes...)
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	sampler := cfg.Sampler
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return &Provider{sdk: sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)}, nil
}

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// TracerProvider returns the SDK provider, or a no-op one when off.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if !p.Enabled() {
		return noop.NewTracerProvider()
	}
	return p.sdk
}

// Tracer returns the named tracer, or nil when tracing is off: callers test
// for nil and skip their spans.
func (p *Provider) Tracer(name string) trace.Tracer {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.Tracer(name)
}

// Shutdown exports the spans still queued and stops the exporter; it is a
// no-op when off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Propagator is W3C Trace Context (traceparent, tracestate) only. Baggage
// is not read: nothing a client sends may become an attribute unseen.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Extract returns ctx with the remote span context of h's traceparent and
// tracestate, when they are valid (a malformed traceparent is ignored: the
// request starts a new trace).
func Extract(ctx context.Context, h *fasthttp.RequestHeader) context.Context {
	return Propagator.Extract(ctx, requestCarrier{h})
}

// Inject sets traceparent (and tracestate, when the span context has one)
// on h for the span in ctx, replacing any value h had under the canonical
// names (Traceparent, Tracestate: what fasthttp's server makes of any
// spelling a client sends).
func Inject(ctx context.Context, h *fasthttp.RequestHeader) {
	h.Del("Traceparent")
	h.Del("Tracestate")
	Propagator.Inject(ctx, requestCarrier{h})
}

// TraceID returns the hex trace id of the span in ctx, or "" when there is
// none (tracing off).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// requestCarrier adapts fasthttp request headers to the propagator.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(key string) string { return string(c.h.Peek(key)) }

// Set writes the canonical names, so that they replace what Inject deleted
// on headers that do not normalise (the gateway's upstream requests).
func (c requestCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		key = "Traceparent"
	case "tracestate":
		key = "Tracestate"
	}
	c.h.Set(key, value)
}
func (c requestCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }
