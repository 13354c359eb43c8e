package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// fleet is Better Auth and any number of tasks-service replicas and
// gateways on one pair of fresh databases, every process with its
// binary's defaults except addresses, keys and the e2e rate limits.
type fleet struct {
	t            *testing.T
	authURL      string
	authEnv      []string
	tasksDB      string
	identityKeys string
	betterAuth   *proc
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	requireEnv(t)
	suffix := randomHex(t, 4)
	authDB := createDatabase(t, "gatehouse_e2e_fleet_auth_"+suffix)
	f := &fleet{
		t:            t,
		tasksDB:      createDatabase(t, "gatehouse_e2e_fleet_tasks_"+suffix),
		identityKeys: "e2e1:" + randomBase64(t, 32),
	}
	port := freePort(t)
	f.authURL = "http://127.0.0.1:" + port
	f.authEnv = []string{
		"BETTER_AUTH_URL=" + f.authURL,
		"BETTER_AUTH_SECRET=" + randomBase64(t, 32),
		"AUTH_DATABASE_URL=" + authDB,
		"BETTER_AUTH_TRUSTED_ORIGINS=" + trustedOrigin,
		"BETTER_AUTH_JWT_ALG=EdDSA",
		"BETTER_AUTH_RATE_LIMIT=off",
		"HOST=127.0.0.1",
		"PORT=" + port,
	}
	f.startBetterAuth()
	runToCompletion(t, "tasks-service migrate up", filepath.Join(env.binDir, "tasks-service"), []string{"migrate", "up"}, f.tasksEnv("0"))
	return f
}

// startBetterAuth (re)starts Better Auth on its port and waits until ready.
func (f *fleet) startBetterAuth() {
	f.t.Helper()
	f.betterAuth = startProc(f.t, "better-auth", "node", []string{filepath.Join(env.betterAuth, "server.mjs")}, f.authEnv)
	waitReady(f.t, f.betterAuth, f.authURL+"/readyz")
}

func (f *fleet) tasksEnv(port string) []string {
	return []string{
		"TASKS_ADDR=127.0.0.1:" + port,
		"DATABASE_URL=" + f.tasksDB,
		"IDENTITY_KEYS=" + f.identityKeys,
	}
}

// startTasks starts a tasks-service replica on port and waits until ready.
func (f *fleet) startTasks(port string) *proc {
	f.t.Helper()
	p := startProc(f.t, "tasks-service:"+port, filepath.Join(env.binDir, "tasks-service"), []string{"serve"}, f.tasksEnv(port))
	waitReady(f.t, p, "http://127.0.0.1:"+port+"/readyz")
	return p
}

// startGateway starts a gateway on port in front of tasksURL and waits
// until ready. The per-user rate limit is off: the load is one user.
func (f *fleet) startGateway(port, tasksURL string) *proc {
	f.t.Helper()
	p := startProc(f.t, "gateway:"+port, filepath.Join(env.binDir, "gateway"), nil, []string{
		"GATEWAY_ADDR=127.0.0.1:" + port,
		"BETTER_AUTH_URL=" + f.authURL,
		"TASKS_SERVICE_URL=" + tasksURL,
		"IDENTITY_KEYS=" + f.identityKeys,
		"RATE_LIMIT_USER_RPS=0",
		"RATE_LIMIT_IP_RPS=50", "RATE_LIMIT_IP_BURST=200",
	})
	waitReady(f.t, p, "http://127.0.0.1:"+port+"/readyz")
	return p
}

// terminate sends SIGTERM, as the kubelet does after preStop, and waits
// for the process to drain and exit; it fails the test past within.
func terminate(t *testing.T, p *proc, within time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM:\n%s", p.name, p.err, p.tail(20))
		}
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s still draining %s after SIGTERM", p.name, within)
	}
}

// balancer is a TCP load balancer in the manner of kube-proxy: each new
// connection goes to the next backend in rotation and stays with it;
// taking a backend out of rotation (as Kubernetes removes a terminating
// pod from the Service's endpoints) leaves its open connections alone.
type balancer struct {
	ln net.Listener

	mu       sync.Mutex
	rotation []string
	next     int
	conns    map[net.Conn]struct{}
}

func startBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, conns: map[net.Conn]struct{}{}}
	b.set(backends...)
	go b.serve()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	return b
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

// set replaces the rotation (host:port addresses).
func (b *balancer) set(backends ...string) {
	b.mu.Lock()
	b.rotation = backends
	b.mu.Unlock()
}

func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.rotation) == 0 {
		return ""
	}
	b.next++
	return b.rotation[b.next%len(b.rotation)]
}

func (b *balancer) track(c net.Conn, open bool) {
	b.mu.Lock()
	if open {
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
	b.mu.Unlock()
}

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.relay(c)
	}
}

// relay pipes c to a backend; when either side ends, both are closed.
func (b *balancer) relay(c net.Conn) {
	defer c.Close()
	addr := b.pick()
	if addr == "" {
		return
	}
	d, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer d.Close()
	b.track(c, true)
	b.track(d, true)
	defer b.track(c, false)
	defer b.track(d, false)
	go func() {
		_, _ = io.Copy(d, c)
		d.Close()
		c.Close()
	}()
	_, _ = io.Copy(c, d)
}

// load is steady traffic through a gateway: workers that each create a
// task, read, update, complete and list it, then delete it. Each worker is
// a client that takes HTTP/1.1 at its word: it keeps its connection for the
// next request unless a response said Connection: close, and retries
// nothing — a server that closes a kept-alive connection without saying so
// fails that client's next request. Every request must get the status it
// expects.
type load struct {
	addr string
	// auth adds the credentials to a request with body (a bearer token
	// for the gateway, a signed identity for tasks-service).
	auth   func(req *http.Request, body []byte)
	ok     atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed []string
}

func startLoad(base string, auth func(*http.Request, []byte), workers int) *load {
	l := &load{addr: strings.TrimPrefix(base, "http://"), auth: auth, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			c := &keepAliveClient{addr: l.addr}
			defer c.close()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.round(c, fmt.Sprintf("w%d-%d", w, i))
			}
		})
	}
	return l
}

// finish stops the workers and returns how many requests succeeded and
// the failures.
func (l *load) finish() (int64, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	l.failed = append(l.failed, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// keepAliveClient sends requests one after another on one connection,
// opening a new one only when the last response said Connection: close.
type keepAliveClient struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

func (c *keepAliveClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *keepAliveClient) do(req *http.Request) (*http.Response, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			return nil, nil, err
		}
		c.conn, c.br = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := req.Write(c.conn); err != nil {
		c.close()
		return nil, nil, fmt.Errorf("writing on a kept-alive connection: %w", err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.close()
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp, b, err
}

// call sends one request and checks its status; it returns the body.
func (l *load) call(c *keepAliveClient, method, path string, body any, want int) ([]byte, bool) {
	var rd io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+l.addr+path, rd)
	if err != nil {
		l.fail("%s %s: %v", method, path, err)
		return nil, false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	l.auth(req, raw)
	resp, b, err := c.do(req)
	if err != nil {
		l.fail("%s %s: %v", method, path, err)
		return nil, false
	}
	if resp.StatusCode != want {
		l.fail("%s %s: %d (want %d) %s", method, path, resp.StatusCode, want, truncate(b))
		return nil, false
	}
	l.ok.Add(1)
	return b, true
}

func (l *load) round(c *keepAliveClient, name string) {
	b, ok := l.call(c, "POST", "/api/tasks", map[string]any{"title": name}, http.StatusCreated)
	if !ok {
		return
	}
	var tk struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &tk); err != nil || tk.ID == "" {
		l.fail("create %s: body %s", name, truncate(b))
		return
	}
	one := "/api/tasks/" + tk.ID
	l.call(c, "GET", one, nil, http.StatusOK)
	l.call(c, "PATCH", one, map[string]any{"description": "rolling"}, http.StatusOK)
	l.call(c, "PATCH", one+"/complete", nil, http.StatusOK)
	l.call(c, "GET", "/api/tasks?limit=5", nil, http.StatusOK)
	l.call(c, "DELETE", one, nil, http.StatusNoContent)
}

// bearer authenticates load requests to a gateway.
func bearer(token string) func(*http.Request, []byte) {
	return func(req *http.Request, _ []byte) { req.Header.Set("Authorization", "Bearer "+token) }
}

// signedAs authenticates load requests sent straight to tasks-service, as
// the gateway does: X-User-ID and an identity assertion over the request.
func signedAs(t *testing.T, keys, userID string) func(*http.Request, []byte) {
	t.Helper()
	kr, err := identity.ParseKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return func(req *http.Request, body []byte) {
		req.Header.Set("X-User-ID", userID)
		req.Header.Set("X-Identity-Signature", kr.Sign(identity.Request{
			Method: req.Method, Target: req.URL.RequestURI(), UserID: userID, BodySHA256: identity.HashBody(body),
		}, time.Now()))
	}
}
