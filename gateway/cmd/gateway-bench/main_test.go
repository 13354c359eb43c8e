package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestShortLoadRun builds gateway-bench and runs one short round, so that
// make bench cannot rot unnoticed: the driver must start all four servers,
// get only 200s from the gateway (it fails otherwise) and print its ratios.
// A second gateway from a build passed with -b runs alongside.
func TestShortLoadRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gateway-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-rounds", "1", "-duration", "300ms", "-conns", "4", "-b", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	wants := []string{
		`(?m)^gateway \(EdDSA JWT\)\s+[1-9]\d*\s`,
		`(?m)^fiber proxy \(no auth\)\s+[1-9]\d*\s`,
		`(?m)^fiber proxy \+ edge\s+[1-9]\d*\s`,
		`(?m)^gateway / fiber proxy throughput: .*\n  median of per-round ratios \d+\.\d%, quartiles .*target`,
		`(?m)^gateway / fiber proxy \+ edge throughput: .*\n  median of per-round ratios \d+\.\d%`,
		`(?m)^fiber proxy \+ edge / fiber proxy throughput: .*\n  median of per-round ratios \d+\.\d%`,
		`(?m)^gateway / gateway B throughput: .*\n  median of per-round ratios \d+\.\d%`,
		`gateway RSS under load: peak sampled \d+\.\d MiB`,
		`(?m)^gateway, tracing 1%\s+[1-9]\d*\s`,
		`(?m)^gateway, tracing 100%\s+[1-9]\d*\s`,
		`(?m)^gateway, tracing 100% / gateway throughput: .*\n  median of per-round ratios \d+\.\d%`,
		`(?m)^OTLP sink: [1-9]\d* export requests`,
	}
	// nginx is a peer where it is installed (the bench skips it elsewhere).
	if _, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		wants = append(wants, `(?m)^nginx proxy \(no auth\)\s+[1-9]\d*\s`,
			`(?m)^gateway / nginx proxy throughput: .*\n  median of per-round ratios \d+\.\d%, quartiles .*target`)
	}
	for _, want := range wants {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
