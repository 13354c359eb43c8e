// Package otlptest is an OTLP/HTTP trace receiver for tests: a real
// listener on 127.0.0.1:0 that decodes what exporters send (protobuf,
// gzip or not) into Spans, so that a test can check the traces a real
// gateway and tasks-service export.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened.
type Span struct {
	Service      string // the resource's service.name
	Name         string
	Kind         string // SERVER, CLIENT, INTERNAL, ...
	TraceID      string // hex
	SpanID       string // hex
	ParentSpanID string // hex; "" for a root span
	Attributes   map[string]string
	Status       string // "", "Ok" or "Error"
	StatusMsg    string
	Events       []string // event names with their attributes, as text
	Start, End   time.Time
}

// Receiver collects the spans exported to it.
type Receiver struct {
	// URL is the base URL to put in OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	mu       sync.Mutex
	spans    []Span
	requests int
	srv      *http.Server
}

// Start serves a receiver until the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.handle)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	tb.Cleanup(func() { _ = r.srv.Close() })
	return r
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range msg.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = valueString(a.Value)
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := Span{
					Service:    service,
					Name:       s.Name,
					Kind:       strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"),
					TraceID:    hex.EncodeToString(s.TraceId),
					SpanID:     hex.EncodeToString(s.SpanId),
					Attributes: attrs(s.Attributes),
					Start:      time.Unix(0, int64(s.StartTimeUnixNano)),
					End:        time.Unix(0, int64(s.EndTimeUnixNano)),
				}
				if len(s.ParentSpanId) > 0 {
					sp.ParentSpanID = hex.EncodeToString(s.ParentSpanId)
				}
				if st := s.GetStatus(); st != nil && st.Code != 0 {
					sp.Status = strings.TrimPrefix(st.Code.String(), "STATUS_CODE_")
					sp.StatusMsg = st.Message
				}
				for _, e := range s.Events {
					sp.Events = append(sp.Events, fmt.Sprintf("%s %v", e.Name, attrs(e.Attributes)))
				}
				got = append(got, sp)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.requests++
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// Spans returns every span received so far, oldest first by start time.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Span(nil), r.spans...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Requests returns how many export requests arrived.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// WaitFor polls until ok accepts the spans received so far or timeout
// passes, and returns the last spans it saw.
func (r *Receiver) WaitFor(timeout time.Duration, ok func([]Span) bool) ([]Span, bool) {
	deadline := time.Now().Add(timeout)
	for {
		spans := r.Spans()
		if ok(spans) {
			return spans, true
		}
		if time.Now().After(deadline) {
			return spans, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, a := range kvs {
		m[a.Key] = valueString(a.Value)
	}
	return m
}

func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BytesValue:
		return string(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, valueString(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *commonpb.AnyValue_KvlistValue:
		return fmt.Sprint(attrs(x.KvlistValue.GetValues()))
	}
	return ""
}

// Text is every string a span carries (name, attribute keys and values,
// status message, events), for scans that look for secrets.
func (s Span) Text() string {
	var b strings.Builder
	b.WriteString(s.Name)
	for k, v := range s.Attributes {
		b.WriteString("\n" + k + "=" + v)
	}
	b.WriteString("\n" + s.StatusMsg)
	for _, e := range s.Events {
		b.WriteString("\n" + e)
	}
	return b.String()
}
