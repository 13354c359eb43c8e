package tracing

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Vars are the standard OpenTelemetry variables both services read (the
// OpenTelemetry specification's meaning and defaults); each binary's
// config.Vars includes them. Tracing is off unless an OTLP endpoint is set.
var Vars = []settings.Var{
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Usage: "OTLP/HTTP base URL of a collector; traces go to its /v1/traces (e.g. http://otel-collector:4318); empty (and no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): tracing off, no exporter, no spans"},
	{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Usage: "full OTLP/HTTP URL for traces, used as it is (e.g. http://otel-collector:4318/v1/traces); wins over OTEL_EXPORTER_OTLP_ENDPOINT"},
	{Name: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: "http/protobuf", Usage: "OTLP transport; only http/protobuf is built in (a collector's port 4318)"},
	{Name: "OTEL_EXPORTER_OTLP_HEADERS", Secret: true, Usage: "headers sent with every export, key=value pairs separated by commas, values URL-encoded (e.g. authorization=Bearer%20xyz)"},
	{Name: "OTEL_EXPORTER_OTLP_TIMEOUT", Default: "10000", Usage: "timeout of one export in milliseconds (1-600000)"},
	{Name: "OTEL_EXPORTER_OTLP_COMPRESSION", Usage: "gzip to compress exports; empty or none: uncompressed"},
	{Name: "OTEL_TRACES_EXPORTER", Default: "otlp", Usage: "otlp, or none to turn tracing off whatever the endpoint says"},
	{Name: "OTEL_TRACES_SAMPLER", Default: "parentbased_always_on", Usage: "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio; the parentbased_* samplers follow the sampled flag of a caller's traceparent (a browser's too), the others decide alone"},
	{Name: "OTEL_TRACES_SAMPLER_ARG", Usage: "the ratio of the *traceidratio samplers, 0-1 (e.g. 0.01 for 1 %); default 1"},
	{Name: "OTEL_SERVICE_NAME", Usage: "service.name of the spans; default the binary's name (gateway, tasks-service)"},
	{Name: "OTEL_RESOURCE_ATTRIBUTES", Usage: "more resource attributes, key=value pairs separated by commas, values URL-encoded (e.g. deployment.environment=prod,service.version=1.4.0)"},
	{Name: "OTEL_SDK_DISABLED", Default: "false", Usage: "true turns tracing off whatever else is set"},
}

// Config is a validated tracing configuration; the zero Config is tracing
// off.
type Config struct {
	// Endpoint is the full OTLP/HTTP traces URL; "" means tracing is off.
	Endpoint    string
	Headers     map[string]string
	Timeout     time.Duration
	Gzip        bool
	Sampler     sdktrace.Sampler
	SamplerName string // as configured, for the start-up log
	ServiceName string
	Attributes  []attribute.KeyValue
}

// Enabled reports whether c exports spans.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// Load reads Vars from env. service is the default service.name. Its error
// names each malformed variable, like the binaries' own settings.
func Load(env settings.Env, service string) (Config, error) {
	r := settings.NewReader(env, Vars)
	c := Config{ServiceName: service}
	if s := r.String("OTEL_SERVICE_NAME"); s != "" {
		c.ServiceName = s
	}
	if s := r.String("OTEL_RESOURCE_ATTRIBUTES"); s != "" {
		pairs, ok := parsePairs(s)
		if !ok {
			r.Fail("OTEL_RESOURCE_ATTRIBUTES", "%q is not key=value[,key=value...] (e.g. deployment.environment=prod)", s)
		}
		for _, kv := range pairs {
			if kv[0] == "service.name" {
				if r.String("OTEL_SERVICE_NAME") == "" {
					c.ServiceName = kv[1]
				}
				continue
			}
			c.Attributes = append(c.Attributes, attribute.String(kv[0], kv[1]))
		}
	}
	c.SamplerName = r.String("OTEL_TRACES_SAMPLER")
	c.Sampler = sampler(r, c.SamplerName)
	if p := r.String("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "http/protobuf" {
		r.Fail("OTEL_EXPORTER_OTLP_PROTOCOL", "%q is not supported; only http/protobuf (a collector's OTLP/HTTP port, 4318)", p)
	}
	if s := r.String("OTEL_EXPORTER_OTLP_HEADERS"); s != "" {
		pairs, ok := parsePairs(s)
		if !ok {
			r.Fail("OTEL_EXPORTER_OTLP_HEADERS", "not key=value[,key=value...] with URL-encoded values (e.g. authorization=Bearer%%20xyz)")
		}
		c.Headers = make(map[string]string, len(pairs))
		for _, kv := range pairs {
			c.Headers[kv[0]] = kv[1]
		}
	}
	c.Timeout = time.Duration(r.Int("OTEL_EXPORTER_OTLP_TIMEOUT", 1, 600_000)) * time.Millisecond
	switch s := r.String("OTEL_EXPORTER_OTLP_COMPRESSION"); s {
	case "", "none":
	case "gzip":
		c.Gzip = true
	default:
		r.Fail("OTEL_EXPORTER_OTLP_COMPRESSION", "%q is not gzip or none", s)
	}

	endpoint := r.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	name := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if endpoint == "" {
		if base := r.String("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint, name = strings.TrimRight(base, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
		}
	}
	if endpoint != "" {
		if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail(name, "%q is not an http(s) URL (e.g. http://otel-collector:4318)", r.String(name))
		}
	}
	switch s := r.String("OTEL_TRACES_EXPORTER"); s {
	case "otlp":
	case "none":
		endpoint = ""
	default:
		r.Fail("OTEL_TRACES_EXPORTER", "%q is not otlp or none", s)
	}
	if r.Bool("OTEL_SDK_DISABLED") {
		endpoint = ""
	}
	c.Endpoint = endpoint
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// sampler builds the sampler OTEL_TRACES_SAMPLER names.
func sampler(r *settings.Reader, name string) sdktrace.Sampler {
	ratio := 1.0
	if s := r.String("OTEL_TRACES_SAMPLER_ARG"); s != "" && strings.HasSuffix(name, "traceidratio") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 1 {
			r.Fail("OTEL_TRACES_SAMPLER_ARG", "%q is not a ratio from 0 to 1 (e.g. 0.01)", s)
		}
		ratio = f
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	r.Fail("OTEL_TRACES_SAMPLER", "%q is not always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// parsePairs parses the W3C-baggage-like key=value lists of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS: comma-separated,
// values percent-decoded.
func parsePairs(s string) ([][2]string, bool) {
	var out [][2]string
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, false
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, false
		}
		out = append(out, [2]string{k, dv})
	}
	return out, true
}
