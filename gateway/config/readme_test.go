package config

import (
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

// TestREADMEDocumentsEveryVar keeps the configuration table of README.md in
// step with Vars: a variable the binary reads but the README's
// "## Configuration" section lacks fails (a row elsewhere does not count).
func TestREADMEDocumentsEveryVar(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	missing, err := settings.READMEUndocumented(Vars, string(raw))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, name := range missing {
		t.Errorf("README.md's Configuration section has no table row for %s", name)
	}
}
