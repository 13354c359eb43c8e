package config

import (
	"os"
	"strings"
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
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no \"## Configuration\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, name := range settings.Undocumented(Vars, section) {
		t.Errorf("README.md's Configuration section has no table row for %s", name)
	}
}
