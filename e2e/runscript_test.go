package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// TestMakeRunServesItsCurlSession runs deploy/run.sh (what `make run` calls)
// the way a newcomer would, pastes the curl session it prints into bash, and
// checks the task it creates comes back in the list; then presses Ctrl-C
// (SIGINT) and checks that every process is gone. It uses the DATABASE_URL
// path (as with a Neon branch) on a fresh database, and a temporary run
// directory, so generated secrets land there.
func TestMakeRunServesItsCurlSession(t *testing.T) {
	requireEnv(t)
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl not found; run.sh's curl session needs it")
	}
	db := createDatabase(t, "gatehouse_e2e_run_"+randomHex(t, 4))
	ports := map[string]string{"GATEWAY_PORT": freePort(t), "TASKS_PORT": freePort(t), "BETTER_AUTH_PORT": freePort(t)}

	cmd := exec.Command("bash", filepath.Join(env.root, "deploy", "run.sh"))
	cmd.Dir = env.root
	cmd.Env = append(runScriptEnv(), "DATABASE_URL="+db, "GATEHOUSE_RUN_DIR="+t.TempDir())
	for k, v := range ports {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var printed strings.Builder
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	})

	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("run.sh exited before it was ready (%v):\n%s", err, printed.String())
	case <-time.After(150 * time.Second):
		t.Fatalf("run.sh not ready after 150s:\n%s", printed.String())
	}
	out := printed.String()
	if !strings.Contains(out, "development value from") {
		t.Errorf("run.sh did not say it generated development secrets:\n%s", out)
	}

	// The session: the indented lines from "GW=" up to the blank line after the last curl.
	var session []string
	in := false
	for _, line := range strings.Split(out, "\n") {
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
		t.Fatalf("no curl session in the output:\n%s", out)
	}
	paste := exec.Command("bash", "-c", strings.Join(session, "\n"))
	paste.Env = childEnv(nil)
	got, err := paste.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed curl session failed: %v\n%s\n--- session ---\n%s", err, got, strings.Join(session, "\n"))
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 {
		t.Fatalf("curl session printed %d lines, want 2 (created task, list):\n%s", len(lines), got)
	}
	var created task
	var list taskList
	if err := json.Unmarshal([]byte(lines[0]), &created); err != nil || created.ID == "" || created.Title != "Try Gatehouse" {
		t.Fatalf("create answered %s (%v)", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &list); err != nil || len(list.Items) != 1 || list.Items[0].ID != created.ID {
		t.Fatalf("list answered %s (%v), want exactly the created task", lines[1], err)
	}

	// Ctrl-C: run.sh stops all three processes and exits.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("run.sh exit status after Ctrl-C = %d (%v), want 130", code, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run.sh still running 20s after SIGINT")
	}
	for name, port := range ports {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			t.Errorf("after Ctrl-C something still listens on %s (%s)", port, name)
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
		case strings.HasSuffix(name, "DATABASE_URL"), strings.HasPrefix(name, "BETTER_AUTH_"),
			strings.HasSuffix(name, "_PORT"), name == "IDENTITY_KEYS", name == "CORS_ALLOWED_ORIGINS",
			name == "LOCAL_PG_URL", name == "GATEHOUSE_RUN_DIR":
			continue
		}
		out = append(out, kv)
	}
	return out
}
