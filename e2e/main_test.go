package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// env is what TestMain found; every test starts with requireEnv.
var env struct {
	root        string // repository root
	binDir      string // built gateway and tasks-service
	betterAuth  string // deploy/better-auth
	adminDBURL  string // Postgres URL allowed to CREATE DATABASE
	unavailable string // why the stack cannot run here ("" when it can)
}

// requireEnv skips the test when the stack cannot run on this machine, and
// fails it in CI, where nothing may be skipped.
func requireEnv(t *testing.T) {
	t.Helper()
	if env.unavailable == "" {
		return
	}
	testenv.Missing(t, "e2e prerequisites missing: %s", env.unavailable)
}

func TestMain(m *testing.M) {
	code, cleanup := setup()
	if code != 0 {
		os.Exit(code)
	}
	code = m.Run()
	cleanup()
	os.Exit(code)
}

// setup finds node, Postgres and the Better Auth dependencies, and builds the
// two Go binaries once for every test. A missing prerequisite is recorded in
// env.unavailable; a build failure stops the run.
func setup() (int, func()) {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1, nil
	}
	env.root = root
	env.betterAuth = filepath.Join(root, "deploy", "better-auth")
	env.adminDBURL = firstNonEmpty(os.Getenv("E2E_DATABASE_URL"),
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable")

	if reason := checkNode(); reason != "" {
		env.unavailable = reason
		return 0, func() {}
	}
	if reason := checkPostgres(env.adminDBURL); reason != "" {
		env.unavailable = reason
		return 0, func() {}
	}
	if err := ensureNodeModules(env.betterAuth); err != nil {
		env.unavailable = err.Error()
		return 0, func() {}
	}

	binDir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1, nil
	}
	env.binDir = binDir
	cleanup := func() { os.RemoveAll(binDir) }
	for _, name := range []string{"gateway", "tasks-service"} {
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./"+name+"/cmd/"+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building %s failed: %v\n%s", name, err, out)
			cleanup()
			return 1, nil
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", name, time.Since(start).Round(time.Millisecond))
	}
	return 0, cleanup
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

func checkNode() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "node not found in PATH (install Node.js 20+)"
	}
	m := nodeVersion.FindSubmatch(out)
	if m == nil {
		return fmt.Sprintf("cannot read node version %q", out)
	}
	if major, _ := strconv.Atoi(string(m[1])); major < 20 {
		return fmt.Sprintf("node %s is too old, Better Auth needs 20+", out)
	}
	return ""
}

func checkPostgres(url string) string {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return fmt.Sprintf("bad Postgres URL: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Sprintf("Postgres unreachable at %s: %v (start Postgres or set E2E_DATABASE_URL)", redactURL(url), err)
	}
	return ""
}

// ensureNodeModules runs `npm ci` when the Better Auth server has no
// node_modules yet (the lock file pins every version).
func ensureNodeModules(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "better-auth")); err == nil {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s failed: %v\n%s", dir, err, out)
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
