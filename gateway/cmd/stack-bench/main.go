// Command stack-bench is the full-stack load run: the gateway in front of
// the tasks service on a scratch Postgres database, both started from their
// binaries as their cmd/ mains run them (access logs at info, the gateway's
// per-user rate limit on but never reached), one EdDSA token per connection
// from an in-process JWKS issuer (testissuer, a stand-in for Better Auth's
// JWT plugin), and beside it the ceiling: the very message the store sends
// for the same request — "SET LOCAL statement_timeout …; SET LOCAL ROLE …;
// SET LOCAL app.user_id …; SELECT …", captured from pg_stat_activity while
// the stack serves it — sent straight to Postgres over the wire protocol on
// as many connections as the tasks service's pool holds.
//
// Scenarios: "list" (GET /api/tasks?limit=20, each user has 20 tasks) and
// "create" (POST /api/tasks). For each, every target (each gateway binary
// with each tasks-service binary, and the ceiling) is warmed, then driven
// in short rounds that rotate the targets' order, and the median round is
// reported: requests/s, p50, p99, and the CPU time per request of the
// gateway, the tasks service, Postgres (the whole server: postmaster and
// all its processes, reaped ones included) and the load generator itself,
// from /proc/PID/stat. New database sessions are counted with
// pg_stat_database.sessions over a stretch of steady load after warm-up,
// and with pg_stat_activity's backend pids before and after it.
//
//	stack-bench -gateway bin/gateway -tasks-service bin/tasks-service
//	stack-bench -gateway old=/tmp/gw-old,new=bin/gateway -tasks-service bin/tasks-service
//
// Several gateway binaries (label=path, comma-separated) are measured side
// by side against one tasks service, and several tasks-service binaries
// behind the first gateway, so that an A/B of two builds comes from one
// run, their slices interleaved. A binary's own environment follows its
// path: label=path@GOGC=400@LOG_LEVEL=warn.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
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

type options struct {
	db            string
	gateways      []program
	tasksServices []program
	scenarios     []string
	conns         int
	pool          int
	users         int
	tasks         int
	duration      time.Duration
	rounds        int
	steady        time.Duration
	warmUp        time.Duration
}

func main() {
	var o options
	db := flag.String("db", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "Postgres server (plaintext, trust/password/md5 auth); scratch databases are created on it and dropped")
	gws := flag.String("gateway", "", "gateway binaries, [label=]path[,...] (required)")
	tss := flag.String("tasks-service", "", "tasks-service binaries, [label=]path[,...] (required)")
	scen := flag.String("scenarios", "list,create", "scenarios to run: list, create")
	flag.IntVar(&o.conns, "conns", 64, "client connections to each gateway")
	flag.IntVar(&o.pool, "pool", 20, "the tasks service's DB_MAX_OPEN_CONNS, and the ceiling's connections")
	flag.IntVar(&o.users, "users", 64, "users (one per connection, round robin)")
	flag.IntVar(&o.tasks, "tasks", 20, "tasks per user before the run")
	flag.DurationVar(&o.duration, "duration", time.Second, "one slice of load per target and round (at most 10s)")
	flag.IntVar(&o.rounds, "rounds", 8, "rounds per scenario (1-100)")
	flag.DurationVar(&o.steady, "steady", 4*time.Second, "steady load over which new database sessions are counted (at least 2s)")
	flag.DurationVar(&o.warmUp, "warm-up", time.Second, "unrecorded load per target before the rounds")
	flag.Parse()
	var err error
	if o.gateways, err = parseBinaries("gateway", *gws); err == nil {
		o.tasksServices, err = parseBinaries("tasks-service", *tss)
	}
	for _, s := range strings.Split(*scen, ",") {
		if s != "list" && s != "create" {
			err = errors.Join(err, fmt.Errorf("-scenarios: %q is not list or create", s))
		}
		o.scenarios = append(o.scenarios, s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack-bench:", err)
		flag.Usage()
		os.Exit(2)
	}
	o.db = *db
	o.duration = min(o.duration, 10*time.Second)
	o.rounds = min(max(o.rounds, 1), 100)
	o.steady = max(o.steady, 2*time.Second)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "stack-bench:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

const (
	tasksApp   = "stack-bench-tasks" // application_name of the tasks services' connections, with their label
	ceilingApp = "stack-bench-ceiling"
	rlsRole    = "tasks_rls" // the tasks service's default DB_RLS_ROLE
)

var started = time.Now()

// progress notes on stderr what the run is doing, with the time since start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "stack-bench [%5.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func userID(i int) string { return fmt.Sprintf("bench-user-%04d-2f1c9a7e3b5d", i) }

// bench is one run's shared state.
type bench struct {
	o          options
	admin      *pgConn // on the server's maintenance database
	stackDB    string  // the tasks services' database
	ceilingDB  string  // a copy of it for the ceiling, so that sessions are counted apart
	server     pgURL
	postmaster int // 0: Postgres's CPU is not measured
	querySize  int // track_activity_query_size
}

func run(o options) error {
	server, err := parsePGURL(o.db)
	if err != nil {
		return err
	}
	admin, err := pgConnect(server, "stack-bench-admin")
	if err != nil {
		return err
	}
	defer admin.Close()
	b := &bench{o: o, admin: admin, server: server}
	suffix := randHex(4)
	b.stackDB, b.ceilingDB = "stackbench_"+suffix, "stackbench_"+suffix+"_ceiling"
	if err := b.setUp(); err != nil {
		return err
	}
	defer b.tearDown()

	// The tasks services, one per binary, and a gateway per pair.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	identityKeys := "bench:" + base64.StdEncoding.EncodeToString(secret)
	progress("migrating and seeding %s", b.stackDB)
	if err := migrate(o.tasksServices[0].path, server.with(b.stackDB).String(tasksApp), identityKeys); err != nil {
		return err
	}
	if err := b.seed(); err != nil {
		return err
	}
	key := testissuer.NewKey(jwa.EdDSA, "bench-key")
	iss := testissuer.Start(key)
	defer iss.Close()
	tokens := make([]string, o.users)
	for i := range tokens {
		tokens[i] = testissuer.Mint(key, iss.Claims(userID(i), time.Now()))
	}
	var procs []*proc
	defer func() {
		progress("stopping the services")
		for _, p := range slices.Backward(procs) {
			p.stop()
		}
	}()
	progress("starting the services")
	tsProcs := map[string]*proc{}
	for _, ts := range o.tasksServices {
		p, err := startProc("tasks-service "+ts.label, ts.path, "TASKS_ADDR", "/readyz", append([]string{
			"DATABASE_URL=" + server.with(b.stackDB).String(tasksApp+"-"+ts.label),
			"IDENTITY_KEYS=" + identityKeys,
			"DB_MAX_OPEN_CONNS=" + strconv.Itoa(o.pool),
			"LOG_LEVEL=info",
		}, ts.env...))
		if err != nil {
			return err
		}
		procs = append(procs, p)
		tsProcs[ts.label] = p
	}
	pairs := [][2]program{}
	for _, gw := range o.gateways {
		pairs = append(pairs, [2]program{gw, o.tasksServices[0]})
	}
	for _, ts := range o.tasksServices[1:] {
		pairs = append(pairs, [2]program{o.gateways[0], ts})
	}
	var stacks []*stackTarget
	for _, pr := range pairs {
		ts := tsProcs[pr[1].label]
		gw, err := startProc("gateway "+pr[0].label, pr[0].path, "GATEWAY_ADDR", "/readyz", append([]string{
			"BETTER_AUTH_URL=" + iss.URL,
			"TASKS_SERVICE_URL=http://" + ts.addr,
			"IDENTITY_KEYS=" + identityKeys,
			"LOG_LEVEL=info",
			"RATE_LIMIT_USER_RPS=1000000",
			"RATE_LIMIT_USER_BURST=100000",
		}, pr[0].env...))
		if err != nil {
			return err
		}
		procs = append(procs, gw)
		name := "gw " + pr[0].label
		if len(o.tasksServices) > 1 {
			name += " + ts " + pr[1].label
		}
		stacks = append(stacks, &stackTarget{name: name, gw: gw, ts: ts, app: tasksApp + "-" + pr[1].label, tokens: tokens, conns: o.conns})
	}

	fmt.Printf("== full stack: gateway -> tasks-service -> Postgres, all on 127.0.0.1 (%d cores, %s)\n", numCPU(), cpuModel())
	fmt.Printf("%d client connections to the gateway, one EdDSA token each (%d users, %d tasks each before the run); tasks service pool %d (DB_MAX_OPEN_CONNS), its other settings its defaults\n",
		o.conns, o.users, o.tasks, o.pool)
	fmt.Printf("ceiling: the store's own message for the same request, captured from pg_stat_activity, sent by %d wire-protocol connections (the pool's size)\n", o.pool)
	fmt.Printf("per scenario: %s warm-up per target, %s of steady load for the session count, then %d rounds of %s per target in rotating order; median round shown\n",
		o.warmUp, o.steady, o.rounds, o.duration)
	for _, s := range o.scenarios {
		if err := b.scenario(s, stacks); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) setUp() error {
	if _, err := b.admin.exec("CREATE DATABASE " + quoteIdent(b.stackDB)); err != nil {
		return fmt.Errorf("create the scratch database: %w", err)
	}
	if v, err := b.admin.queryOne("SELECT setting FROM pg_settings WHERE name = 'track_activity_query_size'"); err == nil {
		b.querySize, _ = strconv.Atoi(v)
	}
	// The admin connection's backend is a child of the postmaster, whose
	// process tree is Postgres's CPU — when the server runs on this machine.
	if v, err := b.admin.queryOne("SELECT pg_backend_pid()"); err == nil {
		pid, _ := strconv.Atoi(v)
		if pp := parentOf(pid); pp > 1 {
			b.postmaster = pp
		}
	}
	return nil
}

func (b *bench) tearDown() {
	progress("dropping the scratch databases")
	for _, db := range []string{b.ceilingDB, b.stackDB} {
		if _, err := b.admin.exec("DROP DATABASE IF EXISTS " + quoteIdent(db) + " WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "stack-bench: drop", db+":", err)
		}
	}
}

// migrate runs "tasks-service migrate up" on the stack's database.
func migrate(bin, dbURL, identityKeys string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "migrate", "up")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "IDENTITY_KEYS=" + identityKeys}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tasks-service migrate up: %v\n%s", err, out)
	}
	return nil
}

// seed gives every user its tasks, then copies the database for the
// ceiling (before any service connects: a template must be unused).
func (b *bench) seed() error {
	c, err := pgConnect(b.server.with(b.stackDB), "stack-bench-admin")
	if err != nil {
		return err
	}
	defer c.Close()
	q := fmt.Sprintf(`INSERT INTO tasks (id, user_id, title, description, priority, tags, created_at, updated_at)
		SELECT gen_random_uuid(), 'bench-user-' || lpad(u::text, 4, '0') || '-2f1c9a7e3b5d', 'task ' || i, 'description of task ' || i,
			1 + i %% 3, ARRAY['t' || (i %% 5)], now() - i * interval '1 minute', now() - i * interval '1 minute'
		FROM generate_series(0, %d) u, generate_series(1, %d) i`, b.o.users-1, b.o.tasks)
	if _, err := c.exec(q); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if _, err := c.exec("ANALYZE"); err != nil {
		return err
	}
	c.Close()
	if _, err := b.admin.exec("CREATE DATABASE " + quoteIdent(b.ceilingDB) + " TEMPLATE " + quoteIdent(b.stackDB)); err != nil {
		return fmt.Errorf("copy the database for the ceiling: %w", err)
	}
	return nil
}

// sample is one slice of load on one target.
type sample struct {
	reqs, errs int
	rps        float64
	p50, p99   time.Duration
	// CPU time per request, by process: gateway, tasks, postgres, client.
	cpu [4]time.Duration
	// read and write system calls per request of the gateway and the
	// tasks service: reads[0], writes[0] are the gateway's.
	reads, writes [2]float64
}

// target is something the rounds drive: a gateway in front of a tasks
// service, or the ceiling.
type target interface {
	label() string
	// load drives the target for d; it returns latencies and errors.
	load(scenario string, d time.Duration) (lat []time.Duration, errs int, firstErr error)
	// pids are the processes whose CPU is charged to the target: gateway
	// and tasks service (0 when absent).
	pids() (gw, ts int)
}

// measure runs one slice and adds the CPU each process spent.
func (b *bench) measure(t target, scenario string, d time.Duration) (sample, error) {
	gw, ts := t.pids()
	self := os.Getpid()
	var r0, w0, r1, w1 [2]int64
	for i, pid := range []int{gw, ts} {
		if pid != 0 {
			r0[i], w0[i] = syscallsOf(pid)
		}
	}
	before := [4]time.Duration{cpuIf(gw), cpuIf(ts), b.pgCPU(), cpuOf(self)}
	start := time.Now()
	lat, errs, firstErr := t.load(scenario, d)
	took := time.Since(start)
	after := [4]time.Duration{cpuIf(gw), cpuIf(ts), b.pgCPU(), cpuOf(self)}
	for i, pid := range []int{gw, ts} {
		if pid != 0 {
			r1[i], w1[i] = syscallsOf(pid)
		}
	}
	s := sample{reqs: len(lat), errs: errs}
	if errs > 0 {
		return s, fmt.Errorf("%s, %s: %d failed requests, the first: %v", t.label(), scenario, errs, firstErr)
	}
	if len(lat) == 0 {
		return s, fmt.Errorf("%s, %s: no request completed", t.label(), scenario)
	}
	slices.Sort(lat)
	s.rps = float64(len(lat)) / took.Seconds()
	s.p50, s.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	for i := range after {
		s.cpu[i] = (after[i] - before[i]) / time.Duration(len(lat))
	}
	for i := range r1 {
		s.reads[i] = float64(r1[i]-r0[i]) / float64(len(lat))
		s.writes[i] = float64(w1[i]-w0[i]) / float64(len(lat))
	}
	return s, nil
}

func cpuIf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	return cpuOf(pid)
}

func (b *bench) pgCPU() time.Duration {
	if b.postmaster == 0 {
		return 0
	}
	return cpuOfTree(b.postmaster)
}

// scenario runs one scenario over every target and prints its report.
func (b *bench) scenario(name string, stacks []*stackTarget) error {
	o := b.o
	progress("%s: warm-up and steady load", name)
	for _, t := range stacks {
		if _, _, err := t.load(name, o.warmUp); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.label(), err)
		}
	}
	var captured string
	steadies := make([]steadyResult, len(stacks))
	for i, t := range stacks {
		var err error
		var msg string
		if steadies[i], msg, err = b.steady(t, name); err != nil {
			return err
		}
		if i == 0 {
			captured = msg
		}
	}
	ceil, err := b.newCeiling(name, captured)
	if err != nil {
		return err
	}
	defer ceil.close()
	if _, _, err := ceil.load(name, o.warmUp); err != nil {
		return fmt.Errorf("ceiling warm-up: %w", err)
	}

	// The rounds.
	targets := []target{}
	for _, t := range stacks {
		targets = append(targets, t)
	}
	targets = append(targets, ceil)
	results := make([][]sample, len(targets))
	progress("%s: %d rounds", name, o.rounds)
	phase0, err := b.sessions()
	if err != nil {
		return err
	}
	for round := range o.rounds {
		for i := range targets {
			k := (round + i) % len(targets)
			s, err := b.measure(targets[k], name, o.duration)
			if err != nil {
				return err
			}
			results[k] = append(results[k], s)
		}
	}
	time.Sleep(1100 * time.Millisecond) // the last backends report their sessions
	phase1, err := b.sessions()
	if err != nil {
		return err
	}

	// The report.
	what := map[string]string{
		"list":   "GET /api/tasks?limit=20, the token's user has " + strconv.Itoa(o.tasks) + " tasks",
		"create": "POST /api/tasks, a 57-byte JSON task",
	}[name]
	fmt.Printf("\n== %s (%s)\n", name, what)
	fmt.Printf("%-28s %9s %9s %9s   %-36s  %-19s %s\n", "target", "req/s", "p50", "p99", "CPU/request: gateway tasks pg client", "reads+writes/req: gw ts", "req/s slowest-fastest round")
	for k, t := range targets {
		m := medianSample(results[k])
		lo := slices.MinFunc(results[k], func(a, b sample) int { return cmp.Compare(a.rps, b.rps) })
		hi := slices.MaxFunc(results[k], func(a, b sample) int { return cmp.Compare(a.rps, b.rps) })
		cpu := ""
		for i := range m.cpu {
			cpu += fmt.Sprintf(" %7s", fmtCPU(m.cpu[i], (i < 2 && k == len(targets)-1) || (i == 2 && b.postmaster == 0)))
		}
		sys := "-"
		if k < len(stacks) {
			sys = fmt.Sprintf("%.1f+%.1f %.1f+%.1f", m.reads[0], m.writes[0], m.reads[1], m.writes[1])
		}
		fmt.Printf("%-28s %9.0f %9s %9s   %-36s  %-19s %.0f-%.0f\n", t.label(), m.rps, m.p50.Round(10*time.Microsecond), m.p99.Round(10*time.Microsecond), cpu, sys, lo.rps, hi.rps)
	}
	ceilRes := results[len(targets)-1]
	for k, t := range stacks {
		r := ratios(results[k], ceilRes)
		verdict := "met"
		if r[1] < 0.5 {
			verdict = "NOT met"
		}
		fmt.Printf("%s / ceiling: median of per-round ratios %.1f%%, quartiles %.1f-%.1f%% (target >= 50%%: %s)\n", t.label(), 100*r[1], 100*r[0], 100*r[2], verdict)
		m := medianSample(results[k])
		verdict = "met"
		if m.p99 > 25*time.Millisecond {
			verdict = "NOT met"
		}
		fmt.Printf("  p99 at %d connections: %s in the median round (target <= 25ms: %s)\n", o.conns, m.p99.Round(10*time.Microsecond), verdict)
	}
	for k := 1; k < len(stacks); k++ {
		r := ratios(results[k], results[0])
		c := cpuRatios(results[k], results[0])
		p := p99Ratios(results[k], results[0])
		fmt.Printf("%s / %s: throughput median of per-round ratios %.1f%% (quartiles %.1f-%.1f%%); p99 %.2fx (quartiles %.2f-%.2fx); CPU/request of the gateway %.2fx, of the tasks service %.2fx\n",
			stacks[k].label(), stacks[0].label(), 100*r[1], 100*r[0], 100*r[2], p[1], p[0], p[2], c[0], c[1])
	}
	for i, st := range steadies {
		verdict := "met"
		if st.sessions != 0 || st.newPids != 0 {
			verdict = "NOT met"
		}
		fmt.Printf("new database sessions during %s of steady load through %s (after warm-up): %d by pg_stat_database.sessions; its tasks service's backends %d before, %d after, %d new (target 0: %s)\n",
			o.steady, stacks[i].label(), st.sessions, st.before, st.after, st.newPids, verdict)
	}
	fmt.Printf("sessions opened over the rounds, pool idle between its slices: %d\n", phase1-phase0)
	fmt.Printf("ceiling's message (as captured; user id and, for create, task id vary per request):\n  %s\n", captured)
	return nil
}

// steadyResult counts new database sessions over steady load.
type steadyResult struct {
	sessions, before, after, newPids int
}

// steady drives t for o.steady after a second of load, counting the
// sessions opened meanwhile, and captures the store's message for the
// scenario. The counter is read 1 s into the load, when every backend
// opened before has reported itself (a backend reports its session when
// its first query ends), and a moment after the load, when every backend
// opened during it has; an idle pool opens none.
func (b *bench) steady(t *stackTarget, name string) (steadyResult, string, error) {
	var r steadyResult
	var pids0 map[string]bool
	var s0 int
	var sessErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
		s0, sessErr = b.sessions()
		pids0 = b.backends(t.app)
	})
	var captured string
	var capErr error
	wg.Go(func() {
		captured, capErr = b.capture(name, t.app, stop)
	})
	_, _, loadErr := t.load(name, b.o.steady+time.Second)
	close(stop)
	wg.Wait()
	if err := errors.Join(loadErr, sessErr, capErr); err != nil {
		return r, "", fmt.Errorf("%s steady load: %w", t.label(), err)
	}
	time.Sleep(1100 * time.Millisecond)
	s1, err := b.sessions()
	if err != nil {
		return r, "", err
	}
	pids1 := b.backends(t.app)
	r = steadyResult{sessions: s1 - s0, before: len(pids0), after: len(pids1)}
	for p := range pids1 {
		if !pids0[p] {
			r.newPids++
		}
	}
	return r, captured, nil
}

// ratios returns the quartiles and median of the per-round throughput ratios a/b.
func ratios(a, b []sample) [3]float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i].rps > 0 {
			rs = append(rs, a[i].rps/b[i].rps)
		}
	}
	slices.Sort(rs)
	return [3]float64{quantile(rs, 0.25), quantile(rs, 0.5), quantile(rs, 0.75)}
}

// p99Ratios returns the quartiles and median of the per-round p99 ratios a/b.
func p99Ratios(a, b []sample) [3]float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i].p99 > 0 {
			rs = append(rs, float64(a[i].p99)/float64(b[i].p99))
		}
	}
	slices.Sort(rs)
	return [3]float64{quantile(rs, 0.25), quantile(rs, 0.5), quantile(rs, 0.75)}
}

// cpuRatios returns the median per-round ratio of a's to b's CPU per
// request, for the gateway and the tasks service.
func cpuRatios(a, b []sample) [2]float64 {
	var out [2]float64
	for p := range out {
		var rs []float64
		for i := range min(len(a), len(b)) {
			if b[i].cpu[p] > 0 {
				rs = append(rs, float64(a[i].cpu[p])/float64(b[i].cpu[p]))
			}
		}
		slices.Sort(rs)
		out[p] = quantile(rs, 0.5)
	}
	return out
}

func fmtCPU(d time.Duration, absent bool) string {
	if absent {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

// quantile returns the q-quantile of sorted xs (nearest rank), 0 if empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}

// medianSample returns the round with the median throughput.
func medianSample(rs []sample) sample {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b sample) int { return cmp.Compare(a.rps, b.rps) })
	return s[len(s)/2]
}

// sessions is pg_stat_database.sessions of the stack's database.
func (b *bench) sessions() (int, error) {
	v, err := b.admin.queryOne("SELECT sessions FROM pg_stat_database WHERE datname = " + quoteLiteral(b.stackDB))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(v)
}

// backends is the set of backend pids of the stack's database with
// application_name app.
func (b *bench) backends(app string) map[string]bool {
	rows, _, _ := b.admin.query("SELECT pid FROM pg_stat_activity WHERE datname = "+quoteLiteral(b.stackDB)+" AND application_name = "+quoteLiteral(app), true)
	set := map[string]bool{}
	for _, r := range rows {
		set[r[0]] = true
	}
	return set
}

// capture samples pg_stat_activity, while the stack serves scenario, for
// the message the store sent for it, until one is seen or stop closes.
func (b *bench) capture(scenario, app string, stop <-chan struct{}) (string, error) {
	kind := "SELECT"
	if scenario == "create" {
		kind = "INSERT INTO tasks"
	}
	q := "SELECT query FROM pg_stat_activity WHERE datname = " + quoteLiteral(b.stackDB) +
		" AND application_name = " + quoteLiteral(app) +
		" AND query LIKE 'SET LOCAL statement_timeout%' AND strpos(query, " + quoteLiteral(kind) + ") > 0 LIMIT 1"
	for {
		// A second connection: the admin one is busy with session counts.
		rows, _, err := b.query(q)
		if err != nil {
			return "", err
		}
		if len(rows) > 0 {
			msg := rows[0][0]
			if b.querySize > 0 && len(msg) >= b.querySize-1 {
				return "", fmt.Errorf("the captured message is cut at track_activity_query_size (%d bytes); raise it", b.querySize)
			}
			return msg, nil
		}
		select {
		case <-stop:
			return "", fmt.Errorf("no %s message of the store seen in pg_stat_activity", scenario)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var captureConn struct {
	sync.Mutex
	c *pgConn
}

// query runs q on a connection of its own to the maintenance database.
func (b *bench) query(q string) ([][]string, int, error) {
	captureConn.Lock()
	defer captureConn.Unlock()
	if captureConn.c == nil {
		c, err := pgConnect(b.server, "stack-bench-admin")
		if err != nil {
			return nil, 0, err
		}
		captureConn.c = c
	}
	return captureConn.c.query(q, true)
}

// stackTarget is a gateway in front of a tasks service.
type stackTarget struct {
	name   string
	gw, ts *proc
	app    string // application_name of its tasks service's connections
	tokens []string
	conns  int
	client *fasthttp.HostClient
	reqs   map[string][]*fasthttp.Request
}

func (t *stackTarget) label() string      { return t.name }
func (t *stackTarget) pids() (gw, ts int) { return t.gw.pid(), t.ts.pid() }
func (t *stackTarget) requests(scenario string) []*fasthttp.Request {
	if t.client == nil {
		t.client = &fasthttp.HostClient{Addr: t.gw.addr, MaxConns: t.conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
		t.reqs = map[string][]*fasthttp.Request{}
	}
	if r, ok := t.reqs[scenario]; ok {
		return r
	}
	reqs := make([]*fasthttp.Request, t.conns)
	for i := range reqs {
		req := new(fasthttp.Request)
		req.Header.Set("Authorization", "Bearer "+t.tokens[i%len(t.tokens)])
		if scenario == "create" {
			req.Header.SetMethod("POST")
			req.SetRequestURI("http://" + t.gw.addr + "/api/tasks")
			req.Header.SetContentType("application/json")
			req.SetBodyString(`{"title":"bench task","priority":"high","tags":["bench"]}`)
		} else {
			req.SetRequestURI("http://" + t.gw.addr + "/api/tasks?limit=20")
		}
		reqs[i] = req
	}
	t.reqs[scenario] = reqs
	return reqs
}

func (t *stackTarget) load(scenario string, d time.Duration) ([]time.Duration, int, error) {
	want := 200
	if scenario == "create" {
		want = 201
	}
	reqs := t.requests(scenario)
	return drive(len(reqs), d, func(i int) error {
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		if err := t.client.Do(reqs[i], resp); err != nil {
			return err
		}
		if resp.StatusCode() != want {
			return fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body())
		}
		return nil
	})
}

// drive runs n workers calling do(worker) until d has passed.
func drive(n int, d time.Duration, do func(i int) error) ([]time.Duration, int, error) {
	var errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, n)
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := do(i); err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err)
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lats[i] = mine
		})
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	var err error
	if e, ok := firstErr.Load().(error); ok {
		err = e
	}
	return all, int(errs.Load()), err
}

// ceiling sends the captured message straight to Postgres, one
// connection per pool slot, each as one user.
type ceiling struct {
	conns    []*pgConn
	users    []string
	template string // the message with the user id (and task id) replaced by markers
	wantRows int
}

var uuidLiteral = regexp.MustCompile(`'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'`)

const (
	userMark = "\x00user\x00"
	idMark   = "\x00id\x00"
)

func (b *bench) newCeiling(scenario, msg string) (*ceiling, error) {
	// The captured user's id is whichever bench user the message names.
	m := regexp.MustCompile(`'bench-user-\d{4}-2f1c9a7e3b5d'`).FindString(msg)
	if m == "" {
		return nil, fmt.Errorf("no bench user id in the captured message %q", msg)
	}
	tmpl := strings.ReplaceAll(msg, m, userMark)
	c := &ceiling{wantRows: 1}
	if scenario == "create" {
		if n := len(uuidLiteral.FindAllString(tmpl, -1)); n != 1 {
			return nil, fmt.Errorf("want one task id in the captured create message, found %d: %q", n, msg)
		}
		tmpl = uuidLiteral.ReplaceAllLiteralString(tmpl, idMark)
	} else {
		c.wantRows = b.o.tasks
	}
	c.template = tmpl
	for i := range b.o.pool {
		pc, err := pgConnect(b.server.with(b.ceilingDB), ceilingApp)
		if err != nil {
			c.close()
			return nil, err
		}
		c.conns = append(c.conns, pc)
		c.users = append(c.users, userID(i%b.o.users))
	}
	return c, nil
}

func (c *ceiling) close() {
	for _, pc := range c.conns {
		pc.Close()
	}
}

func (c *ceiling) label() string      { return "ceiling (store's message)" }
func (c *ceiling) pids() (gw, ts int) { return 0, 0 }

func (c *ceiling) load(scenario string, d time.Duration) ([]time.Duration, int, error) {
	// Each worker builds its message once per request, as the store does.
	return drive(len(c.conns), d, func(i int) error {
		q := strings.ReplaceAll(c.template, userMark, quoteLiteral(c.users[i]))
		if scenario == "create" {
			q = strings.Replace(q, idMark, quoteLiteral(newUUID()), 1)
		}
		rows, err := c.conns[i].exec(q)
		if err != nil {
			return err
		}
		if scenario == "create" && rows != 1 || scenario == "list" && rows < c.wantRows {
			return fmt.Errorf("%d rows", rows)
		}
		return nil
	})
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(strings.Count(string(b), "processor\t:"), 1)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
