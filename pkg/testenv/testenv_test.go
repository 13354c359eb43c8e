package testenv

import (
	"log/slog"
	"os"
	"os/exec"
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
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "no widget at 127.0.0.1:1") {
			t.Errorf("CI=%s: err=%v, output:\n%s", tc.ci, err, out)
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
