package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/tasks-service/config"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	pg = pgtest.Setup("cmd")
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

const testKey = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="

// TestRunRefusesBadConfiguration: start-up stops with exit code 2 and a
// message naming each bad variable.
func TestRunRefusesBadConfiguration(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(nil, settings.MapEnv(map[string]string{"DATABASE_URL": "postgres://u:hunter2secret@h/db?sslmode=sometimes"}), &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"DATABASE_URL: sslmode", "IDENTITY_KEYS: required"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "hunter2secret") {
		t.Error("stderr repeats the password")
	}
}

func TestRunUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, settings.MapEnv(nil), &out, &errb); code != 0 || !strings.Contains(out.String(), "DATABASE_URL") || !strings.Contains(out.String(), "migrate up|down|status") {
		t.Errorf("-h: exit %d, output %s", code, out.String())
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"bogus"}, {"serve", "extra"}} {
		if code := run(args, settings.MapEnv(nil), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestPoolKeepsItsConnections: with the default pool settings, a burst of
// three times as many concurrent queries as the pool holds, a pause and a
// second burst run on the same Postgres backends — the pool closes none of
// its connections to open another a moment later. (With 10 idle
// connections kept of 20, the full-stack bench saw 42 new sessions in 2 s
// of steady load, each a Postgres process to fork and warm.) The pool is
// opened as serve opens it, over the direct URL, so that the backends are
// the pool's own even where the tests' traffic goes through PgBouncer.
func TestPoolKeepsItsConnections(t *testing.T) {
	pg.Need(t)
	app := "pooltest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	u, err := url.Parse(pg.Direct)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	cfg, err := config.Load(settings.MapEnv(map[string]string{"DATABASE_URL": u.String(), "IDENTITY_KEYS": testKey}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := connect(ctx, cfg, cfg.Database, cfg.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin := pg.MustOpenDirect(t)

	burst := func() {
		var wg sync.WaitGroup
		for range 3 * cfg.Pool.MaxOpen {
			wg.Go(func() {
				for range 5 {
					if _, err := db.ExecContext(ctx, "SELECT pg_sleep(0.002)"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	backends := func() []int {
		var pids []int
		if err := admin.NewRaw("SELECT pid FROM pg_stat_activity WHERE application_name = ? ORDER BY pid", app).Scan(ctx, &pids); err != nil {
			t.Fatal(err)
		}
		return pids
	}
	burst()
	before := backends()
	if len(before) != cfg.Pool.MaxOpen {
		t.Errorf("after a burst of %d concurrent queries: %d backends, want the pool's %d", 3*cfg.Pool.MaxOpen, len(before), cfg.Pool.MaxOpen)
	}
	time.Sleep(200 * time.Millisecond)
	burst()
	if after := backends(); !slices.Equal(after, before) {
		t.Errorf("the second burst ran on other backends: before %v, after %v", before, after)
	}
	if st := db.Stats(); st.MaxIdleClosed+st.MaxIdleTimeClosed+st.MaxLifetimeClosed != 0 {
		t.Errorf("the pool closed connections: %+v", st)
	}
}

// TestRunFlushesItsLogOnExit: the log is batched (logbuf), and what was
// logged before run returns — here why it stopped, 50 ms before the next
// periodic flush — still reaches stderr.
func TestRunFlushesItsLogOnExit(t *testing.T) {
	var out, errb bytes.Buffer
	env := settings.MapEnv(map[string]string{
		"DATABASE_URL":       "postgres://u@127.0.0.1:1/db?sslmode=disable",
		"DB_CONNECT_TIMEOUT": "1050ms", // halfway between two of logbuf's 100 ms flushes
		"IDENTITY_KEYS":      testKey,
	})
	if code := run([]string{"migrate", "status"}, env, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), `"msg":"tasks-service stopped"`) {
		t.Fatalf("the stop reason was not flushed to stderr:\n%s", errb.String())
	}
}

// TestRunSetsTheGCDefault: without GOGC, run sets the collector's target to
// defaultGCPercent; with GOGC set (any value), it leaves the runtime's.
func TestRunSetsTheGCDefault(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, defaultGCPercent},
		{map[string]string{"GOGC": "100"}, 100},
		{map[string]string{"GOGC": "off"}, 100}, // whatever the value: the runtime read it at start
	} {
		debug.SetGCPercent(100)
		var out, errb bytes.Buffer
		if code := run(nil, settings.MapEnv(tc.env), &out, &errb); code != 2 { // no configuration: stops after the default is set
			t.Fatalf("exit %d, want 2", code)
		}
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("env %v: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
}
