package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// startGatewayProcess builds cmd/gateway (without the race detector, whose
// shadow memory would swamp what is measured, whatever flags the test was
// built with) and runs it with env; it returns the process and the address
// from its "gateway listening" log line. The process is stopped with
// SIGINT when the test ends.
func startGatewayProcess(t *testing.T, env map[string]string) (*os.Process, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/gateway/cmd/gateway")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd.Process, line.Addr
		}
	}
	t.Fatal("the gateway exited before listening")
	return nil, ""
}

// procStatusKiB reads a field such as VmRSS or VmHWM of /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s (the process has exited)", pid, field)
}

// TestIdleBodiesCostLittleMemory is issue 15's attack: 1000 connections,
// from four addresses, each sending the headers of POST /api/tasks with
// Content-Length: 1048576 (BODY_LIMIT) and nothing else — or those of a
// Better Auth route, which needs no token, and the first 8 KiB. fasthttp used to
// allocate the declared body as soon as it had read the headers: 800 MiB
// for these, and valid requests timed out. Now a request's body is read
// only after its token has been verified, and the whole attack must cost
// the gateway (cmd/gateway as built for production, in a process of its
// own, with the default caps) less than 64 MiB of resident memory,
// high-water mark included, while it keeps serving valid requests.
func TestIdleBodiesCostLittleMemory(t *testing.T) {
	const (
		conns  = 1000
		budget = 64 << 10 // KiB
	)
	key := testissuer.NewKey(jwa.EdDSA, "mem-key")
	iss := testissuer.Start(key)
	defer iss.Close()
	keyring := "k1:" + randomKey(t)
	kr, err := identity.ParseKeys(keyring)
	if err != nil {
		t.Fatal(err)
	}
	tasks := newRecorder(t, identity.NewVerifier(kr, 0), nil)
	// The Go heap in use, from the gateway's own metrics: RSS alone would
	// miss a buffer allocated for a declared length and never written,
	// whose pages the kernel has not yet backed.
	metricsAddr := freeAddr(t)
	heapInUse := func() int {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return int(f) >> 10
			}
		}
		t.Fatal("metrics: no go_memstats_heap_inuse_bytes")
		return 0
	}
	proc, addr := startGatewayProcess(t, map[string]string{
		"METRICS_ADDR":      metricsAddr,
		"GATEWAY_ADDR":      "127.0.0.1:0",
		"BETTER_AUTH_URL":   iss.URL,
		"TASKS_SERVICE_URL": tasks.srv.URL,
		"IDENTITY_KEYS":     keyring,
		"READ_TIMEOUT":      "60s",  // the bound must not come from a timeout
		"RATE_LIMIT_IP_RPS": "0",    // nor from the per-address limit on /api/auth/*
		"LOG_LEVEL":         "info", // for the "gateway listening" line
	})
	bearer := "Authorization: Bearer " + testissuer.Mint(key, iss.Claims("alice", time.Now()))
	// valid sends a valid request on a new connection; it reports what
	// went wrong rather than failing, so that the memory is reported too.
	valid := func() error {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, reqWithBody("POST", "/api/tasks", `{"title":"t"}`, bearer)); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	rss := func(field string) int {
		t.Helper()
		n, err := procStatusKiB(proc.Pid, field)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for doAt(t, addr, req("GET", "/readyz")).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("child gateway never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 20 { // warm: pools, caches, the upstream connection
		if err := valid(); err != nil {
			t.Fatalf("valid request %d: %v", i, err)
		}
	}
	base := rss("VmRSS")

	// The attack, from 127.0.0.2 to 127.0.0.5 (250 connections each, within
	// the default per-address cap, so that every one is held).
	held := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Half declare a task upload and send nothing; half declare a Better
	// Auth request (no token needed) and send fasthttp's 8 KiB read-ahead,
	// so that the route's handler runs and reads the body: what it holds
	// must follow the bytes received, not the length declared.
	uploads := []string{
		req("POST", "/api/tasks", "Content-Type: application/json", "Content-Length: 1048576"),
		req("POST", "/api/auth/sign-in/email", "Content-Type: application/json", "Content-Length: 1048576") +
			strings.Repeat(" ", 8<<10),
	}
	for i := range conns {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%4))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v (file descriptors: see ulimit -n)", i, err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, uploads[i%2]); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}

	// Meanwhile valid requests are served; the memory is sampled for 2 s.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, err := procStatusKiB(proc.Pid, "VmRSS"); err == nil && int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var failed []string
	for i := range 20 {
		if err := valid(); err != nil {
			failed = append(failed, fmt.Sprintf("request %d: %v", i, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-sampled
	hwm := rss("VmHWM")
	heap := heapInUse()
	grew := max(int(peak.Load()), hwm) - base
	t.Logf("gateway RSS %d KiB before, peak %d KiB, high-water mark %d KiB: %d KiB for %d connections (%.1f KiB each)",
		base, peak.Load(), hwm, grew, conns, float64(grew)/conns)
	t.Logf("Go heap in use during the attack: %d KiB", heap)
	if heap >= budget {
		t.Errorf("%d idle 1 MiB uploads hold %d MiB of the gateway's heap, want < %d MiB", conns, heap>>10, budget>>10)
	}
	if grew >= budget {
		t.Errorf("%d idle 1 MiB uploads cost the gateway %d MiB, want < %d MiB", conns, grew>>10, budget>>10)
	}
	if len(failed) > 0 {
		t.Fatalf("valid requests failed during the attack: %s", strings.Join(failed, "; "))
	}
	// Every held connection is still open: none was refused or timed out.
	for i, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
			b, _ := io.ReadAll(io.LimitReader(c, 300))
			t.Fatalf("held connection %d was answered or closed (%v %q): the test measured fewer than %d", i, err, b, conns)
		}
	}
	if n := len(tasks.requests()); n != 40 {
		t.Fatalf("upstream saw %d requests, want the 40 valid ones", n)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// freeAddr returns a 127.0.0.1 address nothing listens on at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
