package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// TestShortStackRun builds the gateway, the tasks service and stack-bench
// and runs one short round of each scenario on the local Postgres, so that
// make bench cannot rot unnoticed: the run fails on any answer other than
// 200/201, on a ceiling query that errs or returns too few rows, and it
// must print its ratios and session counts.
func TestShortStackRun(t *testing.T) {
	server := os.Getenv("PG_TEST_SERVER")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	p, err := parsePGURL(server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgConnect(p.with("postgres"), "stack-bench-test")
	if err != nil {
		testenv.Missing(t, "no Postgres at %s: %v", p.addr, err)
	}
	c.Close()
	dir := t.TempDir()
	for _, b := range []struct{ dir, pkg, out string }{
		{"../..", "./cmd/gateway", "gateway"},
		{"../../../tasks-service", "./cmd/tasks-service", "tasks-service"},
		{".", ".", "stack-bench"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "stack-bench"), "-db", p.with("postgres").String("stack-bench-test"),
		"-gateway", "a="+filepath.Join(dir, "gateway")+",b="+filepath.Join(dir, "gateway"),
		"-tasks-service", filepath.Join(dir, "tasks-service"),
		"-rounds", "1", "-duration", "300ms", "-warm-up", "300ms", "-steady", "2s", "-conns", "4", "-pool", "2", "-users", "4", "-tasks", "3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^== list .*\n.*\n^gw a\s+[1-9]\d*\s.*\n^gw b\s+[1-9]\d*\s.*\n^ceiling \(store's message\)\s+[1-9]\d*\s`,
		`(?m)^== create `,
		`(?m)^gw a / ceiling: median of per-round ratios \d+\.\d%`,
		`(?m)^gw b / gw a: throughput median of per-round ratios \d+\.\d%`,
		`(?m)^new database sessions during 2s of steady load through gw a \(after warm-up\): -?\d+ by pg_stat_database.sessions`,
		`SET LOCAL statement_timeout = \d+; SET LOCAL ROLE "tasks_rls"; SET LOCAL app.user_id = 'bench-user-\d{4}-2f1c9a7e3b5d'; SELECT `,
		`SET LOCAL app.user_id = 'bench-user-\d{4}-2f1c9a7e3b5d'; INSERT INTO tasks`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
