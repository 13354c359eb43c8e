package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// seen is what an upstream received.
type seen struct {
	Method    string
	Target    string
	Header    http.Header
	Body      string
	VerifyErr error // nil when the identity assertion verified
	// Framing as the upstream parsed it.
	TransferEncoding []string
	ContentLength    int64
}

// recorder is an upstream that records requests; the tasks upstream also
// verifies every identity assertion with pkg/identity, as tasks-service does.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []seen
	verify *identity.Verifier
	handle func(w http.ResponseWriter, r *http.Request)
}

func newRecorder(t *testing.T, verify *identity.Verifier, handle func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{verify: verify, handle: handle}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Target: r.RequestURI, Header: r.Header.Clone(), Body: string(body),
			TransferEncoding: r.TransferEncoding, ContentLength: r.ContentLength}
		if rec.verify != nil {
			ids := r.Header.Values(identity.HeaderUserID)
			user := ""
			if len(ids) == 1 {
				user = ids[0]
			}
			s.VerifyErr = rec.verify.Verify(r.Header.Get(identity.HeaderSignature), identity.Request{
				Method: r.Method, Target: r.RequestURI, UserID: user, BodySHA256: identity.HashBody(body),
			}, time.Now())
			if len(ids) != 1 {
				s.VerifyErr = identity.ErrBadUserID
			}
		}
		rec.mu.Lock()
		rec.got = append(rec.got, s)
		rec.mu.Unlock()
		if rec.handle != nil {
			rec.handle(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.got...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.got = nil
	r.mu.Unlock()
}

type harness struct {
	addr        string
	metricsAddr string // set with METRICS_ADDR
	iss         *testissuer.Issuer
	key         testissuer.Key
	tasks       *recorder
	auth        *recorder
	gw          *server.Gateway
	cancel      context.CancelFunc
	done        chan error

	// sessions are the auth upstream's session cookies: value → user id
	// (see serveToken).
	sessions sync.Map
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

var (
	edOnce sync.Once
	edKey  testissuer.Key
)

// start runs a gateway in front of a recording tasks upstream and a
// recording auth upstream, with an in-process issuer. env overrides the
// gateway's environment.
func start(t *testing.T, env map[string]string) *harness {
	t.Helper()
	return startWith(t, env, server.Hooks{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

// startWith is start with hooks and a logger.
func startWith(t *testing.T, env map[string]string, hooks server.Hooks, log *slog.Logger) *harness {
	t.Helper()
	edOnce.Do(func() { edKey = testissuer.NewKey(jwa.EdDSA, "ba-key-1") })
	h := &harness{key: edKey}
	h.iss = testissuer.Start(h.key)
	t.Cleanup(h.iss.Close)
	keyring := "k1:" + randomKey(t)
	kr, err := identity.ParseKeys(keyring)
	if err != nil {
		t.Fatal(err)
	}
	h.tasks = newRecorder(t, identity.NewVerifier(kr, 0), nil)
	h.auth = newRecorder(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/auth/token" {
			h.serveToken(w, r)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "better-auth.session_token", Value: "tok123", Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "better-auth.session_data", Value: "data456", Path: "/", HttpOnly: true})
		w.Header().Set("Set-Auth-Jwt", "header.payload.sig")
		// As Better Auth's bearer and jwt plugins answer: the session token
		// and the JWT in headers that a frontend is meant to read. The
		// wildcard grant is what an upstream must never add to the gateway's.
		w.Header().Set("Set-Auth-Token", "tok123.sig")
		w.Header().Set("Access-Control-Expose-Headers", "set-auth-jwt, set-auth-token")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"user":{"id":"alice"}}`)
	})
	e := map[string]string{
		"GATEWAY_ADDR":         "127.0.0.1:0",
		"BETTER_AUTH_URL":      h.iss.URL,
		"AUTH_UPSTREAM_URL":    h.auth.srv.URL,
		"TASKS_SERVICE_URL":    h.tasks.srv.URL,
		"IDENTITY_KEYS":        keyring,
		"CORS_ALLOWED_ORIGINS": "https://app.example.com",
		"UPSTREAM_TIMEOUT":     "1s",
		"SHUTDOWN_TIMEOUT":     "5s",
		"LOG_LEVEL":            "error",
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.Load(settings.MapEnv(e))
	if err != nil {
		t.Fatal(err)
	}
	h.gw, err = server.New(cfg, log, hooks)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	var metrics net.Listener // with METRICS_ADDR: where /metrics is served
	if cfg.MetricsAddr != "" {
		if metrics, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		h.metricsAddr = metrics.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.gw.Serve(ctx, ln, metrics) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return h
}

// serveToken answers as Better Auth's GET /api/auth/token does: a JWT for
// the user of a known better-auth.session_token cookie, else 401.
func (h *harness) serveToken(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie("better-auth.session_token"); err == nil {
		if sub, ok := h.sessions.Load(c.Value); ok {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"token": h.token(sub.(string))})
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"code":"UNAUTHORIZED","message":"Unauthorized"}`)
}

// waitReady polls /readyz until 200.
func (h *harness) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp := h.do(t, "GET /readyz HTTP/1.1\r\nHost: gw\r\n\r\n")
		if resp.status == 200 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("gateway never became ready")
}

func (h *harness) token(sub string) string {
	return testissuer.Mint(h.key, h.iss.Claims(sub, time.Now()))
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	return p
}

// do writes a raw HTTP/1.1 request (so that paths and headers reach the
// gateway byte for byte) and reads the response.
func (h *harness) do(t *testing.T, raw string) response {
	t.Helper()
	return doAt(t, h.addr, raw)
}

// send opens a connection to addr, writes raw on it and returns it with
// a 10 s deadline for the answers.
func send(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn
}

// doAt sends raw to addr on a new connection and reads one response.
func doAt(t *testing.T, addr, raw string) response {
	t.Helper()
	conn := send(t, addr, raw)
	defer conn.Close()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", requestLine(raw), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// requestLine is the first line of the raw request raw, for messages.
func requestLine(raw string) string {
	line, _, _ := strings.Cut(raw, "\r\n")
	return line
}

// req builds a raw request with a Host header.
func req(method, target string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: gateway.test\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// reqWithBody is req with a body and its Content-Length.
func reqWithBody(method, target, body string, headers ...string) string {
	headers = append(headers, "Content-Length: "+itoa(len(body)))
	return req(method, target, headers...) + body
}

func itoa(n int) string { return strconv.Itoa(n) }
