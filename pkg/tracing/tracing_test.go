package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing/otlptest"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		desc     string
		env      map[string]string
		endpoint string // "" = off
		wantErr  string // a variable name the error must name
		check    func(t *testing.T, c tracing.Config)
	}{
		{desc: "nothing set: off", env: nil},
		{desc: "sampler alone does not turn it on", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on", "OTEL_SERVICE_NAME": "x"}},
		{desc: "base endpoint gets /v1/traces", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			endpoint: "http://collector:4318/v1/traces"},
		{desc: "traces endpoint is used as it is and wins",
			env:      map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/traces"},
			endpoint: "https://b/otlp/traces"},
		{desc: "exporter none turns it off", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{desc: "SDK disabled turns it off", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SDK_DISABLED": "true"}},
		{desc: "service name, resource attributes, headers", endpoint: "http://a:4318/v1/traces",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SERVICE_NAME": "edge",
				"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%20b", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20x",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"},
			check: func(t *testing.T, c tracing.Config) {
				if c.ServiceName != "edge" || len(c.Attributes) != 2 || c.Attributes[1] != attribute.String("team", "a b") ||
					c.Headers["authorization"] != "Bearer x" || !c.Gzip || c.Timeout != 2500*time.Millisecond {
					t.Errorf("config %+v", c)
				}
			}},
		{desc: "service.name in resource attributes", endpoint: "http://a:4318/v1/traces",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_RESOURCE_ATTRIBUTES": "service.name=edge2"},
			check: func(t *testing.T, c tracing.Config) {
				if c.ServiceName != "edge2" || len(c.Attributes) != 0 {
					t.Errorf("config %+v", c)
				}
			}},
		{desc: "default service name and sampler", endpoint: "http://a:4318/v1/traces",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"},
			check: func(t *testing.T, c tracing.Config) {
				if c.ServiceName != "svc" || c.SamplerName != "parentbased_always_on" || !strings.Contains(c.Sampler.Description(), "ParentBased{root:AlwaysOnSampler") {
					t.Errorf("config %+v, sampler %s", c, c.Sampler.Description())
				}
			}},
		{desc: "ratio sampler", endpoint: "http://a:4318/v1/traces",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
			check: func(t *testing.T, c tracing.Config) {
				if d := c.Sampler.Description(); !strings.Contains(d, "TraceIDRatioBased{0.01}") {
					t.Errorf("sampler %s", d)
				}
			}},
		{desc: "unknown sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{desc: "ratio out of range", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{desc: "grpc is not built in", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{desc: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{desc: "bad exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{desc: "bad headers", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, wantErr: "OTEL_EXPORTER_OTLP_HEADERS"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := tracing.Load(settings.MapEnv(tt.env), "svc")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint != tt.endpoint || c.Enabled() != (tt.endpoint != "") {
				t.Fatalf("endpoint %q (enabled %v), want %q", c.Endpoint, c.Enabled(), tt.endpoint)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestOffCreatesNoExporter: with no OTEL_* variable set, New creates no
// exporter and no SDK; its Tracer is nil, which is how the services know
// to skip their spans.
func TestOffCreatesNoExporter(t *testing.T) {
	var n int
	defer tracing.CountExporters(&n)()
	c, err := tracing.Load(settings.MapEnv(nil), "svc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := tracing.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || p.Enabled() || p.Tracer("x") != nil {
		t.Fatalf("off: %d exporters created, enabled %v", n, p.Enabled())
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExportsToAnOTLPReceiver: on, the spans reach a real OTLP/HTTP
// receiver, gzip-compressed as configured, with the service name and
// resource attributes.
func TestExportsToAnOTLPReceiver(t *testing.T) {
	recv := otlptest.Start(t)
	var n int
	defer tracing.CountExporters(&n)()
	c, err := tracing.Load(settings.MapEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
	}), "svc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := tracing.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !p.Enabled() {
		t.Fatalf("on: %d exporters, enabled %v", n, p.Enabled())
	}
	_, span := p.Tracer("test").Start(context.Background(), "work", trace.WithAttributes(attribute.Int("n", 7)))
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := recv.Spans()
	if len(spans) != 1 || spans[0].Name != "work" || spans[0].Service != "svc" || spans[0].Attributes["n"] != "7" {
		t.Fatalf("received %+v", spans)
	}
}

// TestPropagation: Extract reads a caller's traceparent and tracestate;
// Inject replaces whatever the headers held with the current span's.
func TestPropagation(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var in fasthttp.RequestHeader
	in.Set("traceparent", parent)
	in.Set("tracestate", "vendor=x")
	ctx := tracing.Extract(context.Background(), &in)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() || sc.TraceState().Get("vendor") != "x" {
		t.Fatalf("extracted %+v", sc)
	}
	if got := tracing.TraceID(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("TraceID %q", got)
	}

	var out fasthttp.RequestHeader
	out.Add("Traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
	out.Add("Traceparent", "garbage")
	tracing.Inject(ctx, &out)
	if all := out.PeekAll("Traceparent"); len(all) != 1 || string(all[0]) != parent {
		t.Fatalf("injected %q", all)
	}

	var bad fasthttp.RequestHeader
	bad.Set("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), &bad)); sc.IsValid() {
		t.Fatalf("an all-zero trace id was accepted: %+v", sc)
	}
	if tracing.TraceID(context.Background()) != "" {
		t.Fatal("TraceID without a span")
	}
}
