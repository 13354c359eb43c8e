// Package observe holds what both services log and measure the same way:
// JSON logs, request ids, access logs and Prometheus metrics for Fiber.
package observe

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// HeaderRequestID carries the request id between client, gateway and services.
const HeaderRequestID = "X-Request-ID"

// LocalRequestID is the fiber.Ctx Locals key that marks a request whose
// X-Request-ID header AssignRequestID has validated or replaced.
const LocalRequestID = "request_id"

// NewLogger returns a JSON logger (slog's JSONHandler) writing to w, tagged
// with the service name, whose access lines (LogAccess) take a faster
// encoder with the same output. Each line is written with one Write, under
// one lock for all of them, so w needs no lock of its own.
func NewLogger(w io.Writer, service string, level slog.Level) *slog.Logger {
	w = zerolog.SyncWriter(w)
	json := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}).
		WithAttrs([]slog.Attr{slog.String("service", service)})
	return slog.New(&handler{Handler: json, access: zerolog.New(w), service: service})
}

// RequestID propagates a well-formed incoming X-Request-ID or generates one,
// and sets it on the request (for proxies and RequestIDOf) and on the
// response.
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		AssignRequestID(c)
		return c.Next()
	}
}

// AssignRequestID does what RequestID does before calling the next
// handler, for servers that fold their middleware into one handler, and
// returns the id (a copy of the request's X-Request-ID header).
func AssignRequestID(c *fiber.Ctx) string {
	h := &c.Request().Header
	raw := h.PeekBytes(hdrRequestID)
	if !validRequestIDBytes(raw) {
		h.SetCanonical(hdrRequestID, appendRequestID(make([]byte, 0, requestIDLen)))
		raw = h.PeekBytes(hdrRequestID)
	}
	c.Locals(LocalRequestID, true) // a bool is stored without an allocation
	c.Response().Header.SetCanonical(hdrRequestID, raw)
	return string(raw)
}

// RequestIDOf returns the id AssignRequestID gave the request, or "".
func RequestIDOf(c *fiber.Ctx) string {
	return string(RequestIDBytes(c))
}

// RequestIDBytes is RequestIDOf without the copy: the request's header
// value, valid until the request ends (for a proxy copying it into the
// upstream request).
func RequestIDBytes(c *fiber.Ctx) []byte {
	if assigned, _ := c.Locals(LocalRequestID).(bool); !assigned {
		return nil
	}
	return c.Request().Header.PeekBytes(hdrRequestID)
}

// AccessLog logs one line per request with id, method, route, path, status,
// latency, bytes, the user and the trace id (when the request is traced:
// tracing.TraceID of its user context). It must run after RequestID and before the error
// handler has written the response, so it calls the app's error handler
// itself when the chain returns an error.
func AccessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		user, _ := c.Locals("user_id").(string)
		LogAccess(c.UserContext(), log, &Access{
			RequestID: RequestIDOf(c),
			Method:    c.Method(),
			Route:     c.Route().Path,
			Path:      c.Path(),
			UserID:    user,
			TraceID:   tracing.TraceID(c.UserContext()),
			Status:    c.Response().StatusCode(),
			Bytes:     len(c.Response().Body()),
			Latency:   time.Since(start),
		})
		return nil
	}
}

// Metrics counts requests and observes latency by method, route and status.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series maps each method, route and status seen to its metric
	// handles. The map is never written once published: a new series
	// publishes a copy under mu, so that the per-request lookup takes no
	// lock and hashes no interface.
	series atomic.Pointer[map[seriesKey]*series]
	mu     sync.Mutex
}

// NewMetrics returns a registry with Go and process collectors plus the
// http_requests_total and http_request_duration_seconds families.
func NewMetrics(service string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by method, route and status.",
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by method, route and status.",
			ConstLabels: prometheus.Labels{"service": service},
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Middleware records every request. Routes are labelled by their pattern,
// never the raw path, so label cardinality stays bounded.
func (m *Metrics) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		route := c.Route().Path
		if route == "" || route == "/" && c.Path() != "/" {
			route = "unmatched"
		}
		status := c.Response().StatusCode()
		if err != nil {
			if fe, ok := err.(*fiber.Error); ok {
				status = fe.Code
			} else if status < 400 {
				status = fiber.StatusInternalServerError
			}
		}
		m.Observe(c.Method(), route, status, time.Since(start))
		return err
	}
}

// RouteLabel is the route label Middleware uses for c: the matched
// pattern, or "unmatched".
func RouteLabel(c *fiber.Ctx) string {
	route := c.Route().Path
	if route == "" || route == "/" && c.Path() != "/" {
		return "unmatched"
	}
	return route
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// Observe counts one request and its latency. The metric handles of each
// method, route and status are looked up once and cached; route must be a
// pattern (bounded), never a raw path.
func (m *Metrics) Observe(method, route string, status int, d time.Duration) {
	k := seriesKey{method, route, status}
	s := m.lookup(k)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

func (m *Metrics) lookup(k seriesKey) *series {
	if p := m.series.Load(); p != nil {
		if s, ok := (*p)[k]; ok {
			return s
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var old map[seriesKey]*series
	if p := m.series.Load(); p != nil {
		old = *p
	}
	if s, ok := old[k]; ok {
		return s
	}
	// Label values are copied: Fiber's strings may alias request buffers.
	k.method, k.route = internMethod(k.method), strings.Clone(k.route)
	s := &series{
		requests: m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.status)),
		latency:  m.latency.WithLabelValues(k.method, k.route, strconv.Itoa(k.status)),
	}
	next := make(map[seriesKey]*series, len(old)+1)
	for ok, os := range old {
		next[ok] = os
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// internMethod returns a constant string for the standard methods (Fiber's
// Method() aliases the request buffer) and a copy otherwise.
func internMethod(m string) string {
	for _, std := range stdMethods {
		if m == std {
			return std
		}
	}
	return strings.Clone(m)
}

var stdMethods = [...]string{
	fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete,
	fiber.MethodHead, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace,
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() fiber.Handler {
	h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return func(c *fiber.Ctx) error {
		h(c.Context()) // pooled: promhttp writes the response before h returns
		return nil
	}
}
