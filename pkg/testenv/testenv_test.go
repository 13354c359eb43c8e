package testenv

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestInCI(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "1": true, "TRUE": true, "false": false, "": false, "yes": false} {
		t.Setenv("CI", value)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v", value, got)
		}
	}
}

// TestMissing runs a child test that calls Missing, once with CI=true and
// once without, and checks that it failed and skipped respectively.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Missing(t, "no widget at %s", "127.0.0.1:1")
		t.Fatal("Missing returned")
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{"true", true, "--- FAIL"},
		{"false", false, "--- SKIP"},
	} {
		skipLog := filepath.Join(t.TempDir(), "skips")
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+tc.ci, "TESTENV_SKIP_LOG="+skipLog)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "no widget at 127.0.0.1:1") {
			t.Errorf("CI=%s: err=%v, output:\n%s", tc.ci, err, out)
		}
		logged, _ := os.ReadFile(skipLog)
		if want := map[bool]string{true: "", false: "TestMissing: no widget at 127.0.0.1:1\n"}[tc.wantFail]; string(logged) != want {
			t.Errorf("CI=%s: TESTENV_SKIP_LOG holds %q, want %q", tc.ci, logged, want)
		}
	}
}

// TestShellReadsCILikeGo checks that testenv.sh, which the test scripts
// source, reads CI as InCI does, and that its testenv_missing skips (exit 0,
// named, logged) or fails (exit 1) as Missing does: one rule for both.
func TestShellReadsCILikeGo(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		Missing(t, "bash not found")
	}
	for _, value := range []string{"true", "1", "t", "T", "TRUE", "True", "false", "0", "", "yes", "on", "tRuE", " true"} {
		t.Setenv("CI", value)
		skipLog := filepath.Join(t.TempDir(), "skips")
		cmd := exec.Command("bash", "-c", `. ./testenv.sh; testenv_missing widget-test "no widget at 127.0.0.1:1"; echo not reached`)
		cmd.Env = append(os.Environ(), "TESTENV_SKIP_LOG="+skipLog)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != InCI() {
			t.Errorf("CI=%q: testenv_missing failed=%v, InCI()=%v; output: %s", value, failed, InCI(), out)
		}
		logged, _ := os.ReadFile(skipLog)
		switch {
		case strings.Contains(string(out), "not reached"):
			t.Errorf("CI=%q: testenv_missing returned", value)
		case failed && (cmd.ProcessState.ExitCode() != 1 || len(logged) != 0):
			t.Errorf("CI=%q: exit %d, logged %q; want exit 1, nothing logged", value, cmd.ProcessState.ExitCode(), logged)
		case !failed && (!strings.Contains(string(out), "widget-test: SKIP: no widget at 127.0.0.1:1") || string(logged) != "widget-test: no widget at 127.0.0.1:1\n"):
			t.Errorf("CI=%q: output %q, logged %q; want a named SKIP", value, out, logged)
		}
	}
}

func TestLogsRecords(t *testing.T) {
	var logs Logs
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { log.Info("request", "n", i) })
	}
	wg.Wait()
	log.Info("other")
	if got := logs.Records(t, "request"); len(got) != 50 {
		t.Fatalf("%d request records, want 50", len(got))
	}
	if got := logs.Records(t, "other"); len(got) != 1 || got[0]["level"] != "INFO" {
		t.Fatalf("other: %v", got)
	}
	if !strings.Contains(logs.String(), `"msg":"other"`) {
		t.Fatalf("String lacks a line: %s", logs.String())
	}
}
