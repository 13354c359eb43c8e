package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryVar keeps the configuration table of README.md in
// step with Vars: a variable the binary reads but the README does not name
// fails here.
func TestREADMEDocumentsEveryVar(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, v := range Vars {
		if !strings.Contains(readme, "| `"+v.Name+"`") {
			t.Errorf("README.md has no table row for %s", v.Name)
		}
	}
}
