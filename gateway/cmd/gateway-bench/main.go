// Command gateway-bench is the gateway's load run. It starts, as separate
// processes on 127.0.0.1, a trivial upstream, an unauthenticated Fiber
// reverse proxy to it, the same proxy behind the gateway's edge
// (server.Edge) and the gateway as cmd/gateway runs it (access log,
// metrics, per-user rate limit; an in-process JWKS issuer and one valid
// EdDSA token per connection), warms N connections to each, drives them
// in short interleaved rounds, and prints requests/s, p50, p99, the
// pairwise throughput and CPU ratios and the gateway's RSS. When nginx is
// installed, a plain nginx reverse proxy to the same upstream is a fourth
// peer; -b runs the gateways of other builds of gateway-bench next to this
// one (A/B of gateway versions in one run).
//
//	gateway-bench -rounds 30 -duration 500ms -conns 64
//	gateway-bench -b /tmp/gateway-bench.old -rounds 60
package main

import (
	"bufio"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/valyala/fasthttp"
)

func main() {
	role := flag.String("role", "driver", "internal: driver, upstream, plainproxy, edgeproxy or gateway")
	upstream := flag.String("upstream", "", "internal: upstream address for -role plainproxy and edgeproxy")
	logLevel := flag.String("log-level", "info", "internal: log level of -role edgeproxy")
	duration := flag.Duration("duration", 500*time.Millisecond, "load time per target and round (capped at 10s)")
	rounds := flag.Int("rounds", 30, "rounds; targets are interleaved and the median round is reported (1-100)")
	conns := flag.Int("conns", 64, "concurrent connections")
	other := flag.String("b", "", "other gateway-bench binaries, comma-separated, whose gateways run alongside as \"gateway B\", \"C\"... (A/B of builds)")
	nginx := flag.String("nginx", "/usr/sbin/nginx", "nginx binary for the nginx peer (skipped when missing; \"\" skips it)")
	traced := flag.Bool("tracing", true, "also run the gateway with OpenTelemetry tracing on, sampling 1 % and 100 %, exporting to an in-process OTLP/HTTP sink")
	flag.Parse()
	var err error
	switch *role {
	case "upstream":
		err = runUpstream()
	case "plainproxy":
		err = runPlainProxy(*upstream)
	case "edgeproxy":
		err = runEdgeProxy(*upstream, *logLevel)
	case "gateway":
		err = runGateway()
	case "driver":
		err = drive(min(*duration, 10*time.Second), *conns, min(max(*rounds, 1), 100), *other, *nginx, *traced)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway-bench:", err)
		os.Exit(1)
	}
}

// child is a server process started by the driver.
type child struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	workers []int // processes whose CPU time counts as the server's (nginx's workers)
	cleanup func()
}

func spawn(name string, env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return spawnBinary(self, name, env, args...)
}

// spawnBinary starts bin (a gateway-bench build) in a server role and
// waits for the address it announces.
func spawnBinary(bin, name string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return &child{name: name, cmd: cmd, addr: addr}, nil
		}
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("%s exited before announcing its address", name)
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
	}
	if c.cleanup != nil {
		c.cleanup()
	}
}

// rssKB reads a process's resident set (VmRSS) in KiB.
func rssKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// cpuTime is the user and system CPU time of a server: its process and,
// for nginx, its worker processes.
func (c *child) cpuTime() (user, sys time.Duration) {
	user, sys = cpuTime(c.cmd.Process.Pid)
	for _, pid := range c.workers {
		u, s := cpuTime(pid)
		user, sys = user+u, sys+s
	}
	return user, sys
}

// cpuTime is a process's user and system CPU time from /proc/PID/stat.
func cpuTime(pid int) (user, sys time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut) * time.Second / clkTck, time.Duration(st) * time.Second / clkTck
}

type result struct {
	name      string
	reqs      int64
	errs      int64
	rps       float64
	p50, p99  time.Duration
	cpuPerReq time.Duration // server CPU per request (0 when not measured)
	userShare float64       // of which in user space
}

// newTarget returns a target for the server c, with one client connection
// per token slot: connection i sends tokens[i%len(tokens)] as its bearer
// token. Every target gets the same requests, token included: the proxy
// forwards it unread, the gateway verifies and strips it, so only what the
// server under test does differs, not what the load generator sends.
func newTarget(name string, c *child, tokens []string, conns int) *target {
	t := &target{
		name:    name,
		child:   c,
		client:  &fasthttp.HostClient{Addr: c.addr, MaxConns: conns, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second},
		reqs:    make([]*fasthttp.Request, conns),
		samples: make([][]time.Duration, conns),
	}
	for i := range conns {
		req := new(fasthttp.Request)
		req.SetRequestURI("http://" + c.addr + loadPath)
		req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
		t.reqs[i] = req
	}
	return t
}

// load drives the target with all its connections for d and reports
// throughput and latency percentiles. Every request must answer 200. The
// connections stay open between calls, so a slice needs no warm-up of its
// own.
func (t *target) load(d time.Duration) result {
	var errs atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i, req := range t.reqs {
		wg.Go(func() {
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			samples := t.samples[i][:0]
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := t.client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					errs.Add(1)
					continue
				}
				samples = append(samples, time.Since(t0))
			}
			t.samples[i] = samples
		})
	}
	wg.Wait()
	var all []time.Duration
	for _, s := range t.samples {
		all = append(all, s...)
	}
	slices.Sort(all)
	r := result{name: t.name, reqs: int64(len(all)), errs: errs.Load()}
	if len(all) > 0 {
		r.rps = float64(len(all)) / d.Seconds()
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

// loadPath is what every load request asks for.
const loadPath = "/api/tasks"

// warmUp is how long each target is driven, unrecorded, before the first
// round: connections opened, caches and pools filled.
const warmUp = time.Second

func drive(d time.Duration, conns, rounds int, other, nginxBin string, traced bool) error {
	key := testissuer.NewKey(jwa.EdDSA, "bench-key")
	iss := testissuer.Start(key)
	defer iss.Close()
	// One user per connection, as real traffic has: every request goes
	// through the per-user rate limit (set high enough never to refuse)
	// and the token cache holds one entry per user.
	tokens := make([]string, conns)
	for i := range tokens {
		tokens[i] = testissuer.Mint(key, iss.Claims(fmt.Sprintf("bench-user-%04d-2f1c9a7e3b5d", i), time.Now()))
	}
	logLevel := envOr("BENCH_LOG_LEVEL", "info")

	up, err := spawn("upstream", nil, "-role", "upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	plain, err := spawn("plainproxy", nil, "-role", "plainproxy", "-upstream", up.addr)
	if err != nil {
		return err
	}
	defer plain.stop()
	edge, err := spawn("edgeproxy", nil, "-role", "edgeproxy", "-upstream", up.addr, "-log-level", logLevel)
	if err != nil {
		return err
	}
	defer edge.stop()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	gwEnv := []string{
		"BETTER_AUTH_URL=" + iss.URL,
		"TASKS_SERVICE_URL=http://" + up.addr,
		"IDENTITY_KEYS=bench:" + base64.StdEncoding.EncodeToString(secret),
		"GATEWAY_ADDR=127.0.0.1:0",
		"LOG_LEVEL=" + logLevel,
		"RATE_LIMIT_USER_RPS=" + envOr("BENCH_RATE_LIMIT_USER_RPS", "1000000"),
		"RATE_LIMIT_USER_BURST=100000",
		// A short drain, so that the gateway exits (and writes its
		// BENCH_CPUPROFILE) before stop's 5 s are up.
		"SHUTDOWN_IDLE_GRACE=100ms",
		"SHUTDOWN_TIMEOUT=2s",
	}
	gw, err := spawn("gateway", gwEnv, "-role", "gateway")
	if err != nil {
		return err
	}
	defer gw.stop()
	if err := waitReady(gw.addr); err != nil {
		return err
	}

	direct := newTarget("upstream direct", up, tokens, conns)
	plainT := newTarget("fiber proxy (no auth)", plain, tokens, conns)
	edgeT := newTarget("fiber proxy + edge", edge, tokens, conns)
	gwT := newTarget("gateway (EdDSA JWT)", gw, tokens, conns)
	targets := []*target{direct, plainT, edgeT, gwT}
	var others []*target
	var nginxT *target
	for i, bin := range strings.FieldsFunc(other, func(r rune) bool { return r == ',' }) {
		// BENCH_CPUPROFILE applies to this build's gateway only.
		name := fmt.Sprintf("gateway %c", 'B'+i)
		b, err := spawnBinary(bin, name, append(gwEnv, "BENCH_CPUPROFILE="), "-role", "gateway")
		if err != nil {
			return err
		}
		defer b.stop()
		if err := waitReady(b.addr); err != nil {
			return err
		}
		t := newTarget(name+" ("+filepath.Base(bin)+")", b, tokens, conns)
		others = append(others, t)
		targets = append(targets, t)
	}
	var traced1, traced100 *target
	var sink *otlpSink
	if traced {
		// The same gateway with tracing on, exporting to a sink in this
		// process: what spans, sampling and export cost.
		if sink, err = startOTLPSink(); err != nil {
			return err
		}
		defer sink.close()
		for _, tc := range []struct {
			t     **target
			ratio string
		}{{&traced1, "0.01"}, {&traced100, "1"}} {
			env := append(slices.Clone(gwEnv), "OTEL_EXPORTER_OTLP_ENDPOINT="+sink.url, "OTEL_TRACES_SAMPLER=traceidratio",
				"OTEL_TRACES_SAMPLER_ARG="+tc.ratio, "BENCH_CPUPROFILE=")
			c, err := spawn("gateway traced", env, "-role", "gateway")
			if err != nil {
				return err
			}
			defer c.stop()
			if err := waitReady(c.addr); err != nil {
				return err
			}
			pct := "1%"
			if tc.ratio == "1" {
				pct = "100%"
			}
			*tc.t = newTarget("gateway, tracing "+pct, c, tokens, conns)
			targets = append(targets, *tc.t)
		}
	}
	ngx, err := startNginx(nginxBin, up.addr, conns)
	switch {
	case err != nil:
		return err
	case ngx == nil && nginxBin == "":
		fmt.Println("nginx: off (-nginx \"\")")
	case ngx == nil:
		fmt.Printf("nginx: %q not found; the nginx peer is skipped\n", nginxBin)
	default:
		defer ngx.stop()
		nginxT = newTarget("nginx proxy (no auth)", ngx, tokens, conns)
		targets = append(targets, nginxT)
	}
	// Every target's connections are opened and warmed once; then rounds
	// interleave the targets in short slices, so that noise from other
	// processes on the machine (on a VM, CPU time taken by the host) hits
	// all of them alike, and each round's ratios compare runs a few
	// seconds apart. The proxies rotate places every round, so that none
	// is always the one measured right after another.
	for _, t := range targets {
		t.load(warmUp)
	}
	if ngx != nil {
		// nginx's workers exist by now, each having taken connections.
		ngx.workers = childPids(ngx.cmd.Process.Pid)
	}
	proxies := targets[1:]
	var peak atomic.Int64
	for round := range rounds {
		direct.run(d)
		for i := range proxies {
			t := proxies[(round+i)%len(proxies)]
			if t != gwT {
				t.run(d)
				continue
			}
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						if kb := int64(rssKB(gw.cmd.Process.Pid, "VmRSS")); kb > peak.Load() {
							peak.Store(kb)
						}
					}
				}
			}()
			t.run(d)
			close(stop)
		}
	}
	hwm := rssKB(gw.cmd.Process.Pid, "VmHWM")

	fmt.Printf("load: %d connections, %d interleaved rounds of %s per target (after %s of warm-up each), all on 127.0.0.1; median round shown\n", conns, rounds, d, warmUp)
	fmt.Printf("every target gets the same requests: GET %s with one user's bearer token per connection\n", loadPath)
	fmt.Printf("gateway as cmd/gateway runs it: LOG_LEVEL=%s, metrics, RATE_LIMIT_USER_RPS=%s (0: off; else never reached)\n",
		logLevel, envOr("BENCH_RATE_LIMIT_USER_RPS", "1000000"))
	fmt.Printf("fiber proxy + edge: the same proxy behind the gateway's edge (request id, security headers, metrics, access log), no authentication\n")
	if nginxT != nil {
		fmt.Printf("nginx proxy: %s, %s\n", nginxBin, nginxSummary)
	}
	fmt.Printf("%-24s %12s %10s %10s %12s %6s %8s   %s\n", "target", "req/s", "p50", "p99", "CPU/req", "user", "errors", "req/s, slowest-fastest round")
	for _, t := range targets {
		r := median(t.results)
		lo := slices.MinFunc(t.results, func(a, b result) int { return cmp.Compare(a.rps, b.rps) })
		hi := slices.MaxFunc(t.results, func(a, b result) int { return cmp.Compare(a.rps, b.rps) })
		fmt.Printf("%-24s %12.0f %10s %10s %12s %5.0f%% %8d   %.0f-%.0f\n", r.name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.cpuPerReq.Round(100*time.Nanosecond), r.userShare*100, r.errs, lo.rps, hi.rps)
	}
	compare("gateway / fiber proxy", gwT, plainT, " (target >= 85%)")
	compare("gateway / fiber proxy + edge", gwT, edgeT, ": what authentication, header hygiene, signature and rate limit cost")
	compare("fiber proxy + edge / fiber proxy", edgeT, plainT, ": what the edge features cost")
	if nginxT != nil {
		compare("gateway / nginx proxy", gwT, nginxT, " (target >= 90%)")
		compare("fiber proxy / nginx proxy", plainT, nginxT, "")
	}
	if traced1 != nil {
		compare("gateway, tracing 1% / gateway", traced1, gwT, ": tracing on, 1 % of requests sampled (OTEL_TRACES_SAMPLER=traceidratio, ARG=0.01)")
		compare("gateway, tracing 100% / gateway", traced100, gwT, ": every request traced and exported")
		fmt.Printf("OTLP sink: %d export requests, %.1f MiB received\n", sink.requests.Load(), float64(sink.bytes.Load())/(1<<20))
	}
	for _, t := range others {
		name, _, _ := strings.Cut(t.name, " (")
		compare("gateway / "+name, gwT, t, ": this build against "+t.name)
		compare(name+" / fiber proxy", t, plainT, "")
	}
	fmt.Printf("gateway RSS under load: peak sampled %.1f MiB, high-water mark %.1f MiB (target < 40 MiB)\n", float64(peak.Load())/1024, float64(hwm)/1024)
	for _, t := range append([]*target{gwT, traced1, traced100}, others...) {
		if t == nil {
			continue
		}
		for _, r := range t.results {
			if r.errs > 0 || r.reqs == 0 {
				return fmt.Errorf("%s answered %d requests with errors", t.name, r.errs)
			}
		}
	}
	return nil
}

// target is one server under load and its rounds' results.
type target struct {
	name    string
	child   *child
	client  *fasthttp.HostClient
	reqs    []*fasthttp.Request // one per connection, token set
	samples [][]time.Duration   // latencies per connection, reused by every slice
	results []result
}

// run drives the target for d and records the slice as a round's result.
func (t *target) run(d time.Duration) {
	t.results = append(t.results, measured(t.child, func() result { return t.load(d) }))
}

// compare prints the throughput and CPU of a relative to b. Each round's
// runs of the two are close in time, so the per-round ratios are less
// disturbed by other load on the machine than the ratio of the two
// medians, which may come from different rounds; both are shown.
func compare(label string, a, b *target, note string) {
	var perRound, cpuPerRound []float64
	for i := range a.results {
		if b.results[i].rps > 0 {
			perRound = append(perRound, a.results[i].rps/b.results[i].rps)
		}
		if b.results[i].cpuPerReq > 0 {
			cpuPerRound = append(cpuPerRound, float64(a.results[i].cpuPerReq)/float64(b.results[i].cpuPerReq))
		}
	}
	slices.Sort(perRound)
	slices.Sort(cpuPerRound)
	ma, mb := median(a.results), median(b.results)
	fmt.Printf("%s throughput: %.1f%% of medians; per-round ratios %.0f%%-%.0f%% over %d rounds\n",
		label, ma.rps/max(mb.rps, 1)*100, quantile(perRound, 0)*100, quantile(perRound, 1)*100, len(perRound))
	fmt.Printf("  median of per-round ratios %.1f%%, quartiles %.1f%%-%.1f%%%s\n",
		quantile(perRound, 0.5)*100, quantile(perRound, 0.25)*100, quantile(perRound, 0.75)*100, note)
	fmt.Printf("  CPU per request: %.2fx of medians; median of per-round ratios %.2fx\n",
		float64(ma.cpuPerReq)/float64(max(mb.cpuPerReq, 1)), quantile(cpuPerRound, 0.5))
}

// quantile returns the q-quantile of sorted xs (nearest rank), 0 if empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}

// measured runs fn and adds the CPU the server process c spent per
// request, the figure least disturbed by other load on the machine. For
// proxies it excludes the upstream's CPU.
func measured(c *child, fn func() result) result {
	u0, s0 := c.cpuTime()
	r := fn()
	if n := r.reqs + r.errs; n > 0 {
		u1, s1 := c.cpuTime()
		r.cpuPerReq = (u1 - u0 + s1 - s0) / time.Duration(n)
		if total := u1 - u0 + s1 - s0; total > 0 {
			r.userShare = float64(u1-u0) / float64(total)
		}
	}
	return r
}

// median returns the round with the median throughput.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return int(a.rps - b.rps) })
	return s[len(s)/2]
}

func waitReady(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, _, err := fasthttp.Get(nil, "http://"+addr+"/readyz")
		if err == nil && code == 200 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gateway at %s never became ready", addr)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
