package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
)

// stackConfig chooses how Better Auth is set up for one run of the suite.
type stackConfig struct {
	alg string // BETTER_AUTH_JWT_ALG
	// publicIssuer makes Better Auth's base URL (hence iss and aud) the
	// gateway's public URL, as in the compose setup, so the gateway needs
	// explicit JWT_ISSUER/JWT_AUDIENCE. Otherwise both sides derive
	// everything from the same BETTER_AUTH_URL.
	publicIssuer bool
	// gatewayEnv is added to the gateway's environment (a later entry wins).
	gatewayEnv []string
	// authUpstream, when set, returns the gateway's AUTH_UPSTREAM_URL for
	// Better Auth's URL (e.g. a counting proxy in front of it).
	authUpstream func(authURL string) string
}

// stack is one running Better Auth + tasks-service + gateway on fresh databases.
type stack struct {
	t            *testing.T
	cfg          stackConfig
	gatewayURL   string
	tasksURL     string
	authURL      string // where Better Auth listens
	issuer       string // iss and aud Better Auth puts in its JWTs
	identityKeys string
	authEnv      []string
	tasksEnv     []string // of the tasks-service
	betterAuth   *proc
	procs        []*proc
}

// startStack creates fresh databases and starts the three processes, each
// waited on until ready. Everything is stopped and dropped at cleanup.
func startStack(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	requireEnv(t)

	suffix := strings.ToLower(strings.NewReplacer("-", "_").Replace(cfg.alg)) + "_" + randomHex(t, 4)
	authDB := createDatabase(t, "gatehouse_e2e_auth_"+suffix)
	tasksDB := createDatabase(t, "gatehouse_e2e_tasks_"+suffix)

	authPort, tasksPort, gatewayPort := freePort(t), freePort(t), freePort(t)
	s := &stack{
		t:            t,
		cfg:          cfg,
		gatewayURL:   "http://127.0.0.1:" + gatewayPort,
		tasksURL:     "http://127.0.0.1:" + tasksPort,
		authURL:      "http://127.0.0.1:" + authPort,
		identityKeys: "e2e1:" + randomBase64(t, 32),
	}
	s.issuer = s.authURL
	if cfg.publicIssuer {
		s.issuer = s.gatewayURL
	}
	t.Cleanup(s.stopAll)

	s.authEnv = []string{
		"BETTER_AUTH_URL=" + s.issuer,
		"BETTER_AUTH_SECRET=" + randomBase64(t, 32),
		"AUTH_DATABASE_URL=" + authDB,
		"BETTER_AUTH_TRUSTED_ORIGINS=" + trustedOrigin,
		"BETTER_AUTH_JWT_ALG=" + cfg.alg,
		"BETTER_AUTH_RATE_LIMIT=off",
		"HOST=127.0.0.1",
		"PORT=" + authPort,
	}
	s.startBetterAuth(false)

	tasksEnv := []string{
		"TASKS_ADDR=127.0.0.1:" + tasksPort,
		"DATABASE_URL=" + tasksDB,
		"MIGRATIONS_DATABASE_URL=" + tasksDB,
		"IDENTITY_KEYS=" + s.identityKeys,
	}
	s.tasksEnv = tasksEnv
	runToCompletion(t, "tasks-service migrate up", filepath.Join(env.binDir, "tasks-service"), []string{"migrate", "up"}, tasksEnv)
	tasks := startProc(t, "tasks-service", filepath.Join(env.binDir, "tasks-service"), []string{"serve"}, tasksEnv)
	s.procs = append(s.procs, tasks)
	waitReady(t, tasks, s.tasksURL+"/readyz")

	gatewayEnv := []string{
		"GATEWAY_ADDR=127.0.0.1:" + gatewayPort,
		"BETTER_AUTH_URL=" + s.authURL,
		"TASKS_SERVICE_URL=" + s.tasksURL,
		"IDENTITY_KEYS=" + s.identityKeys,
		"CORS_ALLOWED_ORIGINS=" + trustedOrigin,
		// Refetch the JWKS in the background every second, so the test with
		// Better Auth down sees failed refreshes (the jwk.Cache trap).
		"JWKS_REFRESH_INTERVAL=1s",
		// The suite sends bursts from one address as one user; the gateway's
		// rate limits are tested in the gateway module, not here.
		"RATE_LIMIT_USER_RPS=200", "RATE_LIMIT_USER_BURST=1000",
		"RATE_LIMIT_IP_RPS=50", "RATE_LIMIT_IP_BURST=200",
		// The suite's clients keep idle connections for 90 s; at the end the
		// drain need not wait for them (TestRollingRestartsFailNoRequest
		// drains with the defaults).
		"SHUTDOWN_IDLE_GRACE=500ms",
	}
	if cfg.publicIssuer {
		gatewayEnv = append(gatewayEnv, "JWT_ISSUER="+s.issuer, "JWT_AUDIENCE="+s.issuer)
	}
	if cfg.authUpstream != nil {
		gatewayEnv = append(gatewayEnv, "AUTH_UPSTREAM_URL="+cfg.authUpstream(s.authURL))
	}
	gatewayEnv = append(gatewayEnv, cfg.gatewayEnv...)
	gateway := startProc(t, "gateway", filepath.Join(env.binDir, "gateway"), nil, gatewayEnv)
	s.procs = append(s.procs, gateway)
	waitReady(t, gateway, s.gatewayURL+"/readyz")
	return s
}

// trustedOrigin is the frontend origin the stack allows (CORS and Better Auth).
const trustedOrigin = "http://localhost:3000"

// startBetterAuth (re)starts the Better Auth server; rotate retires its
// signing keys at start, so the next JWT carries a new kid.
func (s *stack) startBetterAuth(rotate bool) {
	s.t.Helper()
	envv := append([]string{}, s.authEnv...)
	envv = append(envv, fmt.Sprintf("BETTER_AUTH_ROTATE_KEYS_ON_START=%t", rotate))
	p := startProc(s.t, "better-auth", "node", []string{filepath.Join(env.betterAuth, "server.mjs")}, envv)
	s.betterAuth = p
	s.procs = append(s.procs, p)
	waitReady(s.t, p, s.authURL+"/readyz")
}

func (s *stack) stopBetterAuth() {
	s.t.Helper()
	if err := s.betterAuth.stop(); err != nil {
		s.t.Fatalf("stopping better-auth: %v", err)
	}
}

// stopAll stops every process; when the test failed it prints their logs.
func (s *stack) stopAll() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].stop()
	}
	if s.t.Failed() {
		for _, p := range s.procs {
			s.t.Logf("---- %s log (last lines) ----\n%s", p.name, p.tail(60))
		}
	}
}

// proc is a child process whose output goes to a log buffer.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu  sync.Mutex
	log bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(strings.TrimRight(p.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 5 s before killing. Stopping an
// exited process is a no-op.
func (p *proc) stop() error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for 5s and was killed", p.name)
	}
}

// childEnv is the environment of a child: only PATH and HOME are inherited,
// so a developer's DATABASE_URL or IDENTITY_KEYS cannot leak in.
func childEnv(extra []string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extra...)
}

func startProc(t *testing.T, name, bin string, args, extraEnv []string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv(extraEnv)
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { _ = p.stop() })
	return p
}

func runToCompletion(t *testing.T, name, bin string, args, extraEnv []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(extraEnv)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// waitReady polls url until it answers 200, the process exits, or 30 s pass.
func waitReady(t *testing.T, p *proc, url string) {
	t.Helper()
	// Like the kubelet's probes, one connection per poll: a kept-alive
	// connection would hold up the process's drain when it stops.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.tail(40))
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after 30s (last: %s):\n%s", p.name, url, last, p.tail(40))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// createDatabase creates a fresh database and returns its URL; it is dropped
// at cleanup.
func createDatabase(t *testing.T, name string) string {
	t.Helper()
	admin, err := sql.Open("postgres", env.adminDBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("postgres", env.adminDBURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(env.adminDBURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomBase64(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// redactURL hides a password in a database URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
