package proxy

import (
	"errors"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/tracing"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Proxy forwards to the tasks service (signed identity) and to Better Auth
// (untouched).
type Proxy struct {
	Tasks *Upstream
	Auth  *Upstream
	Keys  *identity.Keyring
	// Clients decides the client address and scheme sent upstream in
	// X-Forwarded-For and X-Forwarded-Proto.
	Clients clientip.Resolver
	// Tracer, when set, records each upstream call as a client span and
	// sends that span's traceparent (and the caller's tracestate) upstream
	// instead of the client's. nil: no span, and the client's traceparent
	// and tracestate pass through like any other header.
	Tracer trace.Tracer
}

// Header names in fasthttp's canonical spelling, for SetCanonical and (the
// string values) Set.
const headerUserID = "X-User-Id"

var (
	hdrSignature      = []byte("X-Identity-Signature")
	hdrRequestID      = []byte("X-Request-Id")
	hdrForwardedFor   = []byte("X-Forwarded-For")
	hdrForwardedProto = []byte("X-Forwarded-Proto")
	hdrForwardedHost  = []byte("X-Forwarded-Host")
)

// MaxAddedHeadBytes bounds how much longer ToTasks makes a client's request
// head, besides the upstream's host and base path: X-User-ID (a user id of
// at most identity.MaxUserIDBytes), X-Identity-Signature (a kid of at most
// 64 bytes), X-Forwarded-For, -Proto and the name of -Host, a generated
// X-Request-Id, the Content-Length and default Content-Type fasthttp
// writes for a body, and with tracing on a Traceparent (70 bytes) where the
// client sent none (a client's Tracestate is replaced by at most itself).
// The gateway's configuration keeps a client head plus this within
// identity.MaxHeadBytes; TestAddedHeadBytes measures the worst case.
const MaxAddedHeadBytes = 1 << 10

// ToTasks forwards c to the tasks service at path (the canonical raw path,
// already checked by CheckPath) for the verified user sub. The upstream
// request carries none of the client's credentials or identity headers, and
// gains X-User-ID and an X-Identity-Signature over the exact method,
// request-target, user and body that the tasks service receives.
func (p *Proxy) ToTasks(c *fiber.Ctx, sub string, path []byte) error {
	req := p.tasksRequest(c, sub, path)
	defer fasthttp.ReleaseRequest(req)
	return p.forward(c, p.Tasks, req, "tasks-service")
}

// tasksRequest builds ToTasks's upstream request, signature included.
func (p *Proxy) tasksRequest(c *fiber.Ctx, sub string, path []byte) *fasthttp.Request {
	var ubuf [512]byte // the usual URL fits; AppendURL grows past it
	url := p.Tasks.AppendURL(ubuf[:0], path, c.Request().URI().QueryString())
	req := p.build(c, p.Tasks, url, DropCredentials)
	var sbuf [128]byte
	sig := p.Keys.AppendSign(sbuf[:0], identity.Request{
		Method:     c.Method(),
		Target:     string(url[p.Tasks.OriginLen():]),
		UserID:     sub,
		BodySHA256: identity.HashBody(req.Body()),
	}, c.Context().Time()) // the request's arrival, as authentication saw it
	req.Header.Set(headerUserID, sub) // Set and SetCanonical copy their arguments
	req.Header.SetCanonical(hdrSignature, sig)
	return req
}

// ToAuth forwards c to Better Auth with its path, query, Authorization and
// cookies as received (hygiene aside), and returns every Set-Cookie.
func (p *Proxy) ToAuth(c *fiber.Ctx) error {
	uri := c.Request().URI()
	var ubuf [512]byte
	req := p.build(c, p.Auth, p.Auth.AppendURL(ubuf[:0], uri.PathOriginal(), uri.QueryString()), 0)
	defer fasthttp.ReleaseRequest(req)
	return p.forward(c, p.Auth, req, "better-auth")
}

// build returns a fresh upstream request for url: method, the headers
// CopyHeaders lets through, X-Forwarded-* (one address: the client as
// p.Clients decides it, never an entry the client wrote), the request id
// and the body bytes as received.
func (p *Proxy) build(c *fiber.Ctx, up *Upstream, url []byte, flags int) *fasthttp.Request {
	src := c.Request()
	req := fasthttp.AcquireRequest()
	// The client's header names arrive normalised by the server's parser
	// (and the gateway's own are written canonical): copying them need not
	// normalise them again.
	req.Header.DisableNormalizing()
	CopyHeaders(&req.Header, &src.Header, flags)
	req.Header.SetMethodBytes(src.Header.Method())
	up.Prepare(req, url)
	if ip := p.Clients.Of(&src.Header, c.Context().RemoteIP()); ip.IsValid() {
		var buf [64]byte
		req.Header.SetCanonical(hdrForwardedFor, ip.AppendTo(buf[:0]))
	}
	req.Header.SetCanonical(hdrForwardedProto, p.Clients.Scheme(&src.Header, c.Context().IsTLS()))
	if host := src.Header.Host(); len(host) > 0 {
		req.Header.SetCanonical(hdrForwardedHost, host)
	}
	if id := observe.RequestIDBytes(c); len(id) > 0 {
		req.Header.SetCanonical(hdrRequestID, id)
	}
	if body := src.Body(); len(body) > 0 {
		req.SetBodyRaw(body)
	}
	return req
}

func (p *Proxy) forward(c *fiber.Ctx, up *Upstream, req *fasthttp.Request, name string) error {
	if p.Tracer != nil {
		return p.forwardTraced(c, up, req, name)
	}
	return p.forwardPlain(c, up, req)
}

// forwardPlain sends req to up and copies the answer to c's response.
func (p *Proxy) forwardPlain(c *fiber.Ctx, up *Upstream, req *fasthttp.Request) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := up.Do(req, resp); err != nil {
		return err
	}
	CopyResponse(c.Response(), resp)
	return nil
}

// forwardTraced is forward inside an "upstream NAME" client span, whose
// context goes upstream in traceparent. The span says which upstream, the
// method and the status: no path, header or body.
func (p *Proxy) forwardTraced(c *fiber.Ctx, up *Upstream, req *fasthttp.Request, name string) error {
	ctx := c.UserContext()
	if !trace.SpanFromContext(ctx).IsRecording() {
		// An unsampled request (OTEL_TRACES_SAMPLER decides per trace):
		// no child span would be recorded; the request span's context
		// goes upstream, so the trace and its sampled flag go on.
		tracing.Inject(ctx, &req.Header)
		return p.forwardPlain(c, up, req)
	}
	ctx, span := p.Tracer.Start(ctx, "upstream "+name, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	recording := span.IsRecording() // unsampled: only the traceparent goes upstream
	if recording {
		span.SetAttributes(
			attribute.String("server.address", up.host),
			attribute.String("http.request.method", string(req.Header.Method())),
		)
	}
	tracing.Inject(ctx, &req.Header)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := up.Do(req, resp); err != nil {
		if !recording {
			return err
		}
		msg := "unavailable"
		if errors.Is(err, ErrUpstreamTimeout) {
			msg = "timeout"
		}
		span.SetStatus(codes.Error, msg)
		return err
	}
	if recording {
		status := resp.StatusCode()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
	}
	CopyResponse(c.Response(), resp)
	return nil
}
