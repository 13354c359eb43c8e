package config

import (
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

// TestREADMEDocumentsEveryVar keeps the configuration table of README.md in
// step with Vars: a variable the binary reads but the README lacks fails.
func TestREADMEDocumentsEveryVar(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range settings.Undocumented(Vars, string(raw)) {
		t.Errorf("README.md has no table row for %s", name)
	}
}
