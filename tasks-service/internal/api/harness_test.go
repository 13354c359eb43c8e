package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gatehouse-dev/gatehouse/pkg/testenv"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/uptrace/bun"
)

// testKeys is a fixed keyring: the gateway's signing key in these tests.
var testKeys = func() *identity.Keyring {
	kr, err := identity.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		panic(err)
	}
	return kr
}()

// server is a tasks-service on a real socket over the package's database.
type server struct {
	base string
	logs *testenv.Logs
	db   *bun.DB
}

// startServer serves the API on 127.0.0.1:0 over db, switching to role per
// transaction; each opt adjusts the configuration first (e.g. a
// RequestTimeout).
func startServer(t *testing.T, db *bun.DB, role string, opts ...func(*api.Config)) *server {
	t.Helper()
	sdb := store.New(db, role)
	cfg := api.Config{
		Stores:  sdb.For,
		Ready:   sdb.Ready,
		Metrics: observe.NewMetrics("tasks-service"),
		// The opt-in (METRICS_ADDR = TASKS_ADDR): tests read /metrics here.
		ServeMetrics: true,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	srv := serve(t, cfg)
	srv.db = db
	return srv
}

// serve runs the API with cfg (its Verifier and Log filled in: the test
// keys, and a JSON log the returned server keeps) on 127.0.0.1:0 until the
// test ends.
func serve(t *testing.T, cfg api.Config) *server {
	t.Helper()
	logs := &testenv.Logs{}
	cfg.Verifier = identity.NewVerifier(testKeys, identity.DefaultWindow)
	cfg.Log = slog.New(slog.NewJSONHandler(logs, nil))
	app := api.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(api.Listener(ln)) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return &server{base: "http://" + ln.Addr().String(), logs: logs}
}

func newServer(t *testing.T) *server {
	t.Helper()
	return startServer(t, pg.MustOpen(t), pgtest.Role)
}

// user is one signed-in user talking to the service through a "gateway"
// that signs every request as docs/identity-contract.md says.
type user struct {
	t   *testing.T
	srv *server
	id  string
	// offSpec skips the OpenAPI check, for requests the document rightly
	// does not describe (unknown routes).
	offSpec bool
}

func (s *server) newUser(t *testing.T) *user {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return &user{t: t, srv: s, id: hex.EncodeToString(b)}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", r.status, r.body, err)
	}
}

// problem decodes a problem+json body and checks its shape.
func (r response) problem(t *testing.T) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d content type %q, want application/problem+json; body %s", r.status, ct, r.body)
	}
	var p problemBody
	r.json(t, &p)
	if p.Status != r.status || !strings.HasPrefix(p.Type, "urn:gatehouse:problem:") || p.Title == "" {
		t.Fatalf("malformed problem %+v for status %d", p, r.status)
	}
	return p
}

// problemBody is the RFC 9457 body both services write.
type problemBody struct{ problem.Details }

func (p problemBody) fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// in returns u reporting to t, for use inside a subtest: a failure through
// the parent's t would end the subtest with "FailNow on a parent test" and
// hide the message.
func (u *user) in(t *testing.T) *user {
	c := *u
	c.t = t
	return &c
}

// do sends a signed request. body may be nil, a string or any JSON value;
// headers are name, value pairs. Every response to an /api route is checked
// against the OpenAPI document.
func (u *user) do(method, target string, body any, headers ...string) response {
	u.t.Helper()
	raw := encodeBody(u.t, body)
	req := u.request(method, target, raw, headers...)
	req.Header.Set(identity.HeaderUserID, u.id)
	req.Header.Set(identity.HeaderSignature, testKeys.Sign(identity.Request{
		Method: method, Target: target, UserID: u.id, BodySHA256: identity.HashBody(raw),
	}, time.Now()))
	return send(u.t, req, raw, !u.offSpec)
}

func (u *user) request(method, target string, raw []byte, headers ...string) *http.Request {
	u.t.Helper()
	req, err := http.NewRequest(method, u.srv.base+target, bytes.NewReader(raw))
	if err != nil {
		u.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func encodeBody(t *testing.T, body any) []byte {
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	case []byte:
		return b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
}

func send(t *testing.T, req *http.Request, raw []byte, checkSpec bool) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if checkSpec && strings.HasPrefix(req.URL.Path, "/api/") {
		checkAgainstOpenAPI(t, req, raw, r)
	}
	return r
}

var (
	openapiOnce sync.Once
	openapiV    validator.Validator
	openapiErr  error
)

// checkAgainstOpenAPI validates a real response (status, headers, body
// schema) against the embedded OpenAPI document: the document must
// describe what the handlers really do.
func checkAgainstOpenAPI(t *testing.T, req *http.Request, raw []byte, r response) {
	t.Helper()
	openapiOnce.Do(func() {
		doc, err := libopenapi.NewDocument(api.OpenAPI)
		if err != nil {
			openapiErr = err
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			openapiErr = errs[0]
			return
		}
		openapiV = v
	})
	if openapiErr != nil {
		t.Fatalf("OpenAPI document: %v", openapiErr)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(raw))
	vresp := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)), Request: vreq}
	if ok, errs := openapiV.ValidateHttpResponse(vreq, vresp); !ok {
		for _, e := range errs {
			t.Errorf("OpenAPI: %s %s -> %d: %s (%s) %v", req.Method, req.URL.RequestURI(), r.status, e.Message, e.Reason, e.SchemaValidationErrors)
		}
	}
}
