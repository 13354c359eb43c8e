package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// TestMakeRunServesItsCurlSession runs `make run` the way a newcomer would,
// in a terminal, on a fresh DATABASE_URL (as with a Neon branch) and a
// temporary run directory: the first line names the database, the URLs are
// localhost ones (the site of the default CORS origin), the printed curl
// session works when pasted twice (the second time it signs in as the same
// user), a token that is an error body gets a 401 saying it is not a JWT,
// and Ctrl-C stops everything without an error.
func TestMakeRunServesItsCurlSession(t *testing.T) {
	requireRunScript(t)
	db := createDatabase(t, "gatehouse_e2e_run_"+randomHex(t, 4))
	r := startRun(t, "DATABASE_URL="+db)
	out := r.waitReady()

	if first := r.firstLine(); !strings.HasPrefix(first, "==> Database: DATABASE_URL (127.0.0.1:") {
		t.Errorf("first line %q does not name the database", first)
	}
	if !strings.Contains(out, "development value from") {
		t.Errorf("run.sh did not say it generated development secrets:\n%s", out)
	}
	for _, want := range []string{
		"  gateway        http://localhost:" + r.ports["GATEWAY_PORT"],
		"  Better Auth    http://localhost:" + r.ports["BETTER_AUTH_PORT"],
		"  CORS origins   http://localhost:3000,",
		"  GW=http://localhost:" + r.ports["GATEWAY_PORT"] + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	first := r.pasteSession()
	if len(first.Items) != 1 {
		t.Fatalf("first paste listed %d tasks, want 1", len(first.Items))
	}
	second := r.pasteSession()
	if len(second.Items) != 2 || second.Items[0].UserID != first.Items[0].UserID || second.Items[1].UserID != first.Items[0].UserID {
		t.Fatalf("second paste listed %+v, want both tasks of the same user", second.Items)
	}

	// What the old session did when the sign-up failed: an error body as the token.
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+r.ports["GATEWAY_PORT"]+"/api/tasks", nil)
	req.Header.Set("Authorization", `Bearer {"code":"UNAUTHORIZED","message":"Unauthorized"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p problemBody
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if want := "The bearer token is invalid: the token is not a JWT: three base64url parts joined by dots."; resp.StatusCode != 401 || p.Detail != want {
		t.Errorf("an error body as token: %d %q, want 401 %q", resp.StatusCode, p.Detail, want)
	}

	r.ctrlC()
}

// TestMakeRunBringsItsOwnPostgres runs `make run` where no Postgres answers
// (LOCAL_PG_URL names a port where nothing listens; the shared server is
// left alone): it starts the project-local Postgres 17 with its data in the
// run directory, says so first, serves the curl session, and stops it on
// Ctrl-C. A second start reuses the data (the same user signs in and finds
// its task); RESET=1 starts from empty.
func TestMakeRunBringsItsOwnPostgres(t *testing.T) {
	requireRunScript(t)
	runDir := worldReachableTempDir(t)
	dead := "postgres://postgres@127.0.0.1:" + freePort(t) + "/postgres"
	pgPort := freePort(t)

	for i, step := range []struct {
		env   []string
		state string
		tasks int
	}{
		{nil, "new, empty", 1},
		{nil, "kept from the last run", 2},
		{[]string{"RESET=1"}, "new, empty (RESET=1: emptied)", 1},
	} {
		r := startRun(t, append([]string{"LOCAL_PG_URL=" + dead, "GATEHOUSE_RUN_DIR=" + runDir, "EMBEDDED_PG_PORT=" + pgPort}, step.env...)...)
		out := r.waitReady()
		wantFirst := "==> Database: project-local Postgres 17 on 127.0.0.1:" + pgPort + " (for development only"
		if first := r.firstLine(); !strings.HasPrefix(first, wantFirst) {
			t.Errorf("start %d: first line %q, want it to start with %q", i+1, first, wantFirst)
		}
		if want := "    data: " + filepath.Join(runDir, "postgres", "data") + ", " + step.state + ";"; !strings.Contains(out, want) {
			t.Errorf("start %d: output lacks %q:\n%s", i+1, want, out)
		}
		if got := r.pasteSession(); len(got.Items) != step.tasks {
			t.Errorf("start %d: the session listed %d tasks, want %d", i+1, len(got.Items), step.tasks)
		}
		r.ctrlC()
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+pgPort, time.Second); err == nil {
			c.Close()
			t.Fatalf("start %d: the project-local Postgres still listens after Ctrl-C", i+1)
		}
	}
}

// TestMakeRunUsesYourBetterAuth runs `make run` with BETTER_AUTH_URL naming
// a Better Auth that is already running (as inside a Next.js app): no dev
// server starts, the gateway verifies that one's tokens, and the curl
// session works against it.
func TestMakeRunUsesYourBetterAuth(t *testing.T) {
	requireRunScript(t)
	authDB := createDatabase(t, "gatehouse_e2e_runauth_"+randomHex(t, 4))
	tasksDB := createDatabase(t, "gatehouse_e2e_runtasks_"+randomHex(t, 4))
	authPort := freePort(t)
	authURL := "http://127.0.0.1:" + authPort
	ba := startProc(t, "your-better-auth", "node", []string{filepath.Join(env.betterAuth, "server.mjs")}, []string{
		"BETTER_AUTH_URL=" + authURL, "BETTER_AUTH_SECRET=" + randomBase64(t, 32), "AUTH_DATABASE_URL=" + authDB,
		"BETTER_AUTH_RATE_LIMIT=off", "HOST=127.0.0.1", "PORT=" + authPort,
	})
	waitReady(t, ba, authURL+"/readyz")

	r := startRun(t, "DATABASE_URL="+tasksDB, "BETTER_AUTH_URL="+authURL+"/")
	out := r.waitReady()
	if want := "==> Better Auth: yours at " + authURL + " (its JWKS answers); no dev server started"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(r.runDir, "logs", "better-auth.log")); err == nil {
		t.Error("a dev server was started (better-auth.log exists)")
	}
	if got := r.pasteSession(); len(got.Items) != 1 {
		t.Errorf("the session listed %d tasks, want 1", len(got.Items))
	}
	if !strings.Contains(r.output(), "Better Auth    "+authURL) {
		t.Errorf("the printed URLs do not name your Better Auth:\n%s", r.output())
	}
	r.ctrlC()
	if ba.exited() {
		t.Error("Ctrl-C stopped your Better Auth too")
	}
}

func requireRunScript(t *testing.T) {
	t.Helper()
	requireEnv(t)
	for _, tool := range []string{"curl", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not found; make run's curl session needs it", tool)
		}
	}
}

// worldReachableTempDir is a temporary directory that the postgres user can
// reach, since run.sh runs the project-local Postgres as that user when it
// runs as root.
func worldReachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/" && os.Geteuid() == 0; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run is one `make run`. On Linux it runs in a pseudo-terminal (script(1)),
// so that Ctrl-C is what a keyboard sends: the byte 0x03, which the
// terminal turns into SIGINT for make's whole foreground process group.
// Elsewhere run.sh runs directly and gets SIGINT.
type run struct {
	t        *testing.T
	cmd      *exec.Cmd
	terminal io.WriteCloser // the terminal's keyboard, or nil
	runDir   string
	ports    map[string]string
	mu       sync.Mutex
	printed  strings.Builder
	ready    chan struct{}
	exited   chan error
}

func startRun(t *testing.T, extraEnv ...string) *run {
	t.Helper()
	r := &run{t: t, ready: make(chan struct{}), exited: make(chan error, 1), runDir: worldReachableTempDir(t),
		ports: map[string]string{"GATEWAY_PORT": freePort(t), "TASKS_PORT": freePort(t), "BETTER_AUTH_PORT": freePort(t)}}
	envv := append(runScriptEnv(), "GATEHOUSE_RUN_DIR="+r.runDir)
	for k, v := range r.ports {
		envv = append(envv, k+"="+v)
	}
	envv = append(envv, extraEnv...)
	if dir := envValue(extraEnv, "GATEHOUSE_RUN_DIR"); dir != "" {
		r.runDir = dir
	}
	if _, err := exec.LookPath("script"); err == nil && runtime.GOOS == "linux" {
		r.cmd = exec.Command("script", "-qfec", "make --no-print-directory run", "/dev/null")
		w, err := r.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		r.terminal = w
	} else {
		r.cmd = exec.Command("bash", filepath.Join(env.root, "deploy", "run.sh"))
	}
	r.cmd.Dir = env.root
	r.cmd.Env = envv
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = r.cmd.Stdout
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			r.mu.Lock()
			r.printed.WriteString(line + "\n")
			r.mu.Unlock()
			if !signalled && strings.Contains(line, "Ctrl-C stops everything.") {
				signalled = true
				close(r.ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		r.exited <- r.cmd.Wait()
	}()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.exited:
			case <-time.After(30 * time.Second):
				_ = r.cmd.Process.Kill()
			}
		}
	})
	return r
}

// output is everything printed so far, without colours.
func (r *run) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.NewReplacer("\x1b[1m", "", "\x1b[0m", "", "\x1b[31m", "", "\x1b[33m", "").Replace(r.printed.String())
}

// firstLine is the first line run.sh printed, after make's and npm's.
func (r *run) firstLine() string {
	for _, line := range strings.Split(r.output(), "\n") {
		if strings.HasPrefix(line, "==> ") && !strings.HasPrefix(line, "==> Installing") {
			return line
		}
	}
	return ""
}

func (r *run) waitReady() string {
	r.t.Helper()
	select {
	case <-r.ready:
	case err := <-r.exited:
		r.t.Fatalf("make run exited before it was ready (%v):\n%s", err, r.output())
	case <-time.After(240 * time.Second):
		r.t.Fatalf("make run not ready after 240s:\n%s", r.output())
	}
	return r.output()
}

// pasteSession pastes the printed curl session into bash and returns the
// list it ends with, after checking the task it created.
func (r *run) pasteSession() taskList {
	r.t.Helper()
	var session []string
	in := false
	for _, line := range strings.Split(r.output(), "\n") {
		if strings.HasPrefix(line, "  GW=") {
			in = true
		}
		if in && strings.TrimSpace(line) == "" {
			break
		}
		if in {
			session = append(session, strings.TrimPrefix(line, "  "))
		}
	}
	if len(session) < 5 {
		r.t.Fatalf("no curl session in the output:\n%s", r.output())
	}
	paste := exec.Command("bash", "-c", strings.Join(session, "\n"))
	paste.Env = childEnv(nil)
	got, err := paste.CombinedOutput()
	if err != nil {
		r.t.Fatalf("the printed curl session failed: %v\n%s\n--- session ---\n%s", err, got, strings.Join(session, "\n"))
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 {
		r.t.Fatalf("curl session printed %d lines, want 2 (created task, list):\n%s", len(lines), got)
	}
	var created task
	var list taskList
	if err := json.Unmarshal([]byte(lines[0]), &created); err != nil || created.ID == "" || created.Title != "Try Gatehouse" {
		r.t.Fatalf("create answered %s (%v)", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &list); err != nil {
		r.t.Fatalf("list answered %s (%v)", lines[1], err)
	}
	for _, tk := range list.Items {
		if tk.ID == created.ID {
			return list
		}
	}
	r.t.Fatalf("list answered %s, without the created task %s", lines[1], created.ID)
	return list
}

// ctrlC presses Ctrl-C and checks that make run ends cleanly: no process
// reported as exited, no error from make, nothing left listening.
func (r *run) ctrlC() {
	r.t.Helper()
	var err error
	if r.terminal != nil {
		_, err = r.terminal.Write([]byte{3})
	} else {
		err = r.cmd.Process.Signal(syscall.SIGINT)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		r.t.Fatalf("make run still running 60s after Ctrl-C:\n%s", r.output())
	}
	out := r.output()
	after := out[strings.Index(out, "Ctrl-C stops everything."):]
	if !strings.Contains(after, "==> Stopping") || strings.Contains(after, "exited") || strings.Contains(after, "make: ***") {
		r.t.Errorf("Ctrl-C did not end cleanly:\n%s", after)
	}
	// The services are stopped by run.sh (SIGTERM, in order), never hit by
	// the terminal's SIGINT: they run in process groups of their own.
	if log, err := os.ReadFile(filepath.Join(r.runDir, "logs", "better-auth.log")); err == nil && r.terminal != nil &&
		(!strings.Contains(string(log), `"signal":"SIGTERM"`) || strings.Contains(string(log), `"signal":"SIGINT"`)) {
		r.t.Errorf("Better Auth was not stopped by run.sh's SIGTERM alone:\n%s", log)
	}
	if code := r.cmd.ProcessState.ExitCode(); r.terminal == nil && code != 0 {
		r.t.Errorf("run.sh exit status after Ctrl-C = %d, want 0", code)
	}
	for name, port := range r.ports {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			r.t.Errorf("after Ctrl-C something still listens on %s (%s)", port, name)
		}
	}
}

// runScriptEnv is this process's environment without anything run.sh would
// pick up as configuration, so a developer's own settings cannot leak in.
func runScriptEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasSuffix(name, "DATABASE_URL"), strings.HasPrefix(name, "BETTER_AUTH_"), strings.HasPrefix(name, "JWT_"),
			strings.HasSuffix(name, "_PORT"), name == "IDENTITY_KEYS", name == "CORS_ALLOWED_ORIGINS",
			name == "LOCAL_PG_URL", name == "GATEHOUSE_RUN_DIR", name == "RESET", strings.HasPrefix(name, "MAKE"):
			continue
		}
		out = append(out, kv)
	}
	return out
}
