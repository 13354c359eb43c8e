package deploy

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	gatewayconfig "github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
	tasksconfig "github.com/gatehouse-dev/gatehouse/tasks-service/config"
)

// composeEnvMap returns a service's resolved environment.
func composeEnvMap(s types.ServiceConfig) map[string]string {
	m := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}

// TestComposeGoBinariesEnvironment checks each Go service's compose
// environment against the binary's own declaration (config.Vars) and its own
// validation (config.Load): every required variable is set, nothing unknown
// (a typo) is set, and the binary would start with it.
func TestComposeGoBinariesEnvironment(t *testing.T) {
	p := composeMustLoad(t)
	binaries := []struct {
		service string
		vars    []settings.Var
		load    func(settings.Env) error
	}{
		{"gateway", gatewayconfig.Vars, func(e settings.Env) error { _, err := gatewayconfig.Load(e); return err }},
		{"tasks-service", tasksconfig.Vars, func(e settings.Env) error { _, err := tasksconfig.Load(e); return err }},
		{"tasks-migrate", tasksconfig.Vars, func(e settings.Env) error { _, err := tasksconfig.Load(e); return err }},
	}
	for _, b := range binaries {
		t.Run(b.service, func(t *testing.T) {
			env := composeEnvMap(composeService(t, p, b.service))
			declared := make(map[string]bool, len(b.vars))
			for _, v := range b.vars {
				declared[v.Name] = true
				if v.Required && strings.TrimSpace(env[v.Name]) == "" {
					t.Errorf("required %s is not set", v.Name)
				}
			}
			for name := range env {
				if !declared[name] {
					t.Errorf("sets %s, which the binary does not read (typo?)", name)
				}
			}
			if err := b.load(settings.MapEnv(env)); err != nil {
				t.Errorf("the binary would refuse this environment:\n%v", err)
			}
		})
	}
}

// TestComposeDeadlineChain: in the compose setup too, the tasks-service's
// REQUEST_TIMEOUT ends before the gateway's UPSTREAM_TIMEOUT
// (deadlineChainProblems).
func TestComposeDeadlineChain(t *testing.T) {
	p := composeMustLoad(t)
	gw, err := gatewayconfig.Load(settings.MapEnv(composeEnvMap(composeService(t, p, "gateway"))))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tasksconfig.Load(settings.MapEnv(composeEnvMap(composeService(t, p, "tasks-service"))))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range deadlineChainProblems(gw, tasks) {
		t.Error(problem)
	}
}

// TestComposeBetterAuthEnvironment checks the Better Auth service against the
// server's declaration in deploy/better-auth/config.mjs and, when node is
// available, against the server's own loader.
func TestComposeBetterAuthEnvironment(t *testing.T) {
	p := composeMustLoad(t)
	env := composeEnvMap(composeService(t, p, "better-auth"))
	all, required := betterAuthVars(t)
	for _, name := range required {
		if strings.TrimSpace(env[name]) == "" {
			t.Errorf("required %s is not set", name)
		}
	}
	for name := range env {
		if !slices.Contains(all, name) {
			t.Errorf("sets %s, which the server does not declare", name)
		}
	}
	if env["HOST"] != "0.0.0.0" {
		t.Errorf("HOST = %q; in a container it must listen on 0.0.0.0", env["HOST"])
	}

	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node not found; it runs the Better Auth server's own config loader")
	}
	in, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "--input-type=module", "-e",
		`import { load } from "./better-auth/config.mjs"; load(JSON.parse(process.argv[1]));`, string(in))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the Better Auth server would refuse this environment: %v\n%s", err, out)
	}
}
