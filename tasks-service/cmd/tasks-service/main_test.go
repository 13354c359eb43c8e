package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

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
