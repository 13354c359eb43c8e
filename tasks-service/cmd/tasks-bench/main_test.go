package main

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
)

// TestShortLoadRun builds tasks-bench and runs one short round against the
// local Postgres (or BENCH_DATABASE_URL), so that make bench cannot rot
// unnoticed: it must create and migrate its scratch database, answer every
// request and print both scenarios with their RLS cost.
func TestShortLoadRun(t *testing.T) {
	server := envOr("BENCH_DATABASE_URL", pgtest.LocalURL)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("BENCH_DATABASE_URL: %v", err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
		testenv.Missing(t, "no Postgres at %s (set BENCH_DATABASE_URL to a server where the login may create databases): %v", u.Host, err)
	} else {
		c.Close()
	}
	bin := filepath.Join(t.TempDir(), "tasks-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", server, "-rounds", "1", "-duration", "200ms", "-users", "3", "-tasks", "5", "-concurrency", "2")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^list20 rls=on\s+[1-9]\d*\s.*\s1\.00\s+0$`,
		`(?m)^list20 rls=off\s+[1-9]\d*\s.*\s1\.00\s+0$`,
		`(?m)^create rls=on\s+[1-9]\d*\s.*\s1\.00\s+0$`,
		`(?m)^create rls=off\s+[1-9]\d*\s.*\s1\.00\s+0$`,
		`(?m)^list20: RLS costs -?\d+\.\d% throughput \(median of 1 per-round ratios`,
		`(?m)^create: RLS costs -?\d+\.\d% throughput \(median of 1 per-round ratios`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
