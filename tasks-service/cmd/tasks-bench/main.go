// Command tasks-bench measures the tasks service over real HTTP and a real
// Postgres: "list 20 tasks" and "create" with row-level security on (the
// production path: SET LOCAL ROLE to the RLS role) and off (the same code
// without SET LOCAL ROLE, so the superuser login bypasses RLS). It prints
// requests/s, p50/p99 latency and database round trips per request, counted
// by a Bun query hook: every store call is one simple-protocol message.
//
//	tasks-bench [-db URL] [-duration 1s] [-rounds 6] [-concurrency 8]
//
// The RLS cost is given as the median, with quartiles, of each round's
// ratio of the two runs made back to back: one run of a second or two on
// a shared machine moves by more than the cost itself.
//
// It creates a scratch database on the server, migrates it, and drops it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/migrations"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/store"
	"github.com/uptrace/bun"
)

const role = "tasks_rls"

var rounds = 6

// exit is main's exit code, set before its deferred profile writers run.
var exit int

func main() {
	defer func() { os.Exit(exit) }()
	dbURL := flag.String("db", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "Postgres server URL (a scratch database is created on it)")
	duration := flag.Duration("duration", time.Second, "measured time of one run (at most 5s); each scenario has -rounds runs with RLS on and as many off")
	roundsFlag := flag.Int("rounds", 6, "runs per scenario and RLS setting, alternating which goes first (1-15)")
	concurrency := flag.Int("concurrency", 8, "concurrent clients")
	users := flag.Int("users", 50, "users, each with -tasks tasks")
	tasksPer := flag.Int("tasks", 100, "tasks per user before the run")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (service, store and load generator: one process) to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile at the end of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tasks-bench:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *duration > 5*time.Second {
		*duration = 5 * time.Second
	}
	rounds = max(1, min(*roundsFlag, 15))
	if err := run(*dbURL, *duration, *concurrency, *users, *tasksPer); err != nil {
		fmt.Fprintln(os.Stderr, "tasks-bench:", err)
		exit = 1
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// counter counts queries: with the store's one-message-per-call design,
// queries are round trips.
type counter struct{ n atomic.Int64 }

func (c *counter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (c *counter) AfterQuery(context.Context, *bun.QueryEvent)                        { c.n.Add(1) }

type result struct {
	name     string
	requests int
	errors   int
	perSec   float64
	p50, p99 time.Duration
	trips    float64
}

func run(server string, d time.Duration, conc, users, tasksPer int) error {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	admin, err := open(ctx, server, quiet)
	if err != nil {
		return err
	}
	defer admin.Close()
	name := "gatehouse_bench_" + randHex(4)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE ?", bun.Ident(name)); err != nil {
		return fmt.Errorf("create scratch database: %w", err)
	}
	defer admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS ? WITH (FORCE)", bun.Ident(name)) //nolint:errcheck
	u, _ := url.Parse(server)
	u.Path = "/" + name
	db, err := open(ctx, u.String(), quiet)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(conc * 2)
	db.SetMaxIdleConns(conc * 2)
	r, _ := migrations.New(db, role)
	if _, err := r.Up(ctx); err != nil {
		return err
	}
	ids := make([]string, users)
	for i := range ids {
		ids[i] = "bench" + randHex(12)
	}
	for _, id := range ids {
		if _, err := db.ExecContext(ctx, `INSERT INTO tasks (id, user_id, title, priority, tags, created_at)
			SELECT gen_random_uuid(), ?, 'task ' || i, 1 + i % 3, ARRAY['t' || (i % 5)], now() - i * interval '1 minute'
			FROM generate_series(1, ?) i`, id, tasksPer); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, "ANALYZE tasks"); err != nil {
		return err
	}

	hook := &counter{}
	db = db.WithQueryHook(hook)
	keys, _ := identity.ParseKeys("bench:" + base64.StdEncoding.EncodeToString([]byte(randHex(16))))
	fmt.Printf("tasks-bench: %d users x %d tasks, %d clients, %d x %s per scenario and setting, GOMAXPROCS=%d\n", users, tasksPer, conc, rounds, d, runtime.GOMAXPROCS(0))
	fmt.Printf("%-16s %9s %8s %9s %9s %12s %7s\n", "scenario", "req/s", "p50", "p99", "requests", "round trips", "errors")
	targets := map[bool]string{}
	for _, rls := range []bool{true, false} {
		var opts []store.Option
		if !rls {
			opts = append(opts, store.WithoutRLSRole())
		}
		sdb := store.New(db, role, opts...)
		app := api.New(api.Config{Verifier: identity.NewVerifier(keys, identity.DefaultWindow), Stores: sdb.For, Ready: sdb.Ready, Log: quiet})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() { _ = app.Listener(ln) }()
		defer app.Shutdown() //nolint:errcheck
		targets[rls] = "http://" + ln.Addr().String()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}}

	var costLines []string // printed after the table
	for _, scenario := range []string{"list20", "create"} {
		// Alternate the order of RLS on and off across rounds so that
		// neither profits from warming up the other's caches.
		agg := map[bool]*result{true: {name: scenario + " rls=on"}, false: {name: scenario + " rls=off"}}
		lat := map[bool][]time.Duration{}
		elapsed := map[bool]time.Duration{}
		queries := map[bool]int64{}
		var costs []float64 // per round: 1 - (RLS on req/s) / (RLS off req/s)
		for round := range rounds {
			perSec := map[bool]float64{}
			for _, rls := range []bool{round%2 == 0, round%2 != 0} {
				b := bench{client: client, base: targets[rls], keys: keys, users: ids, scenario: scenario}
				for i := range 100 { // warm up
					b.one(i)
				}
				hook.n.Store(0)
				l, errs, took := b.run(d, conc)
				lat[rls] = append(lat[rls], l...)
				agg[rls].errors += errs
				elapsed[rls] += took
				queries[rls] += hook.n.Load()
				perSec[rls] = float64(len(l)) / took.Seconds()
			}
			if perSec[false] > 0 {
				costs = append(costs, 1-perSec[true]/perSec[false])
			}
		}
		for _, rls := range []bool{true, false} {
			r, l := agg[rls], lat[rls]
			slices.Sort(l)
			r.requests = len(l)
			r.perSec = float64(len(l)) / elapsed[rls].Seconds()
			if n := len(l); n > 0 {
				r.p50, r.p99 = l[n/2], l[n*99/100]
				r.trips = float64(queries[rls]) / float64(n+r.errors)
			}
			fmt.Printf("%-16s %9.0f %8s %9s %9d %12.2f %7d\n", r.name, r.perSec,
				r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.requests, r.trips, r.errors)
		}
		slices.Sort(costs)
		costLines = append(costLines, fmt.Sprintf("%s: RLS costs %.1f%% throughput (median of %d per-round ratios, quartiles %.1f%% to %.1f%%; all runs pooled %.1f%%; target <= 15%%)",
			scenario, 100*quantile(costs, 0.5), len(costs), 100*quantile(costs, 0.25), 100*quantile(costs, 0.75), 100*(1-agg[true].perSec/agg[false].perSec)))
	}
	for _, l := range costLines {
		fmt.Println(l)
	}
	return nil
}

// quantile returns the q-quantile of sorted xs (nearest rank), 0 if empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}

// bench drives one scenario against one server.
type bench struct {
	client   *http.Client
	base     string
	keys     *identity.Keyring
	users    []string
	scenario string
}

// one sends one signed request as user i; it reports latency and success.
func (b bench) one(i int) (time.Duration, bool) {
	user := b.users[i%len(b.users)]
	method, target, body := "GET", "/api/tasks?limit=20", []byte(nil)
	if b.scenario == "create" {
		method, target, body = "POST", "/api/tasks", []byte(`{"title":"bench task","priority":"high","tags":["bench"]}`)
	}
	req, _ := http.NewRequest(method, b.base+target, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(identity.HeaderUserID, user)
	req.Header.Set(identity.HeaderSignature, b.keys.Sign(identity.Request{Method: method, Target: target, UserID: user, BodySHA256: identity.HashBody(body)}, time.Now()))
	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == 200 || resp.StatusCode == 201
}

// run keeps conc clients busy for d; the loop stops by itself.
func (b bench) run(d time.Duration, conc int) ([]time.Duration, int, time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for i := w; time.Now().Before(deadline); i += conc {
				l, ok := b.one(i)
				if !ok {
					bad++
					continue
				}
				mine = append(mine, l)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, errs, time.Since(start)
}

func open(ctx context.Context, raw string, log *slog.Logger) (*bun.DB, error) {
	cc, err := postgres.ParseDSN(raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return postgres.Connect(ctx, cc, postgres.PoolOptions{MaxOpen: 16, MaxIdle: 16}, log)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
