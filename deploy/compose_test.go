package deploy

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The compose file lives at the repository root; tests run in deploy/.
const (
	composeFile = "../docker-compose.yaml"
	envExample  = "../.env.example"
)

// loadCompose loads the compose file the way `docker compose` would, with the
// variables of envFile as the project's .env (no OS environment).
func loadCompose(t *testing.T, envFile string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yaml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
		cli.WithName("gatehouse"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func composeMustLoad(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, envExample)
	if err != nil {
		t.Fatalf("load %s with %s: %v", composeFile, envExample, err)
	}
	return p
}

func composeService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %q: %v", name, err)
	}
	return s
}

// env returns the value a service's environment sets for name ("" when unset).
func composeEnv(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	p := composeMustLoad(t)
	want := []string{"better-auth", "gateway", "postgres", "tasks-migrate", "tasks-service"}
	got := p.ServiceNames()
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
}

func TestComposeOnlyGatewayIsPublished(t *testing.T) {
	p := composeMustLoad(t)
	for name, s := range p.Services {
		if name == "gateway" {
			continue
		}
		if len(s.Ports) != 0 {
			t.Errorf("service %q publishes ports %+v; only the gateway may be reachable from the host", name, s.Ports)
		}
	}
	gw := composeService(t, p, "gateway")
	if len(gw.Ports) != 1 {
		t.Fatalf("gateway ports = %+v, want exactly one", gw.Ports)
	}
	port := gw.Ports[0]
	if port.Target != 8080 || port.Published != "8080" {
		t.Errorf("gateway port = %s->%d, want 8080->8080", port.Published, port.Target)
	}
	if port.HostIP != "127.0.0.1" {
		t.Errorf("gateway port bound to %q, want 127.0.0.1 (a dev stack is not for the LAN)", port.HostIP)
	}
	if addr := composeEnv(gw, "GATEWAY_ADDR"); !strings.HasSuffix(addr, ":8080") {
		t.Errorf("gateway GATEWAY_ADDR = %q, want it to listen on the published target 8080", addr)
	}
}

func TestComposeHealthChecks(t *testing.T) {
	p := composeMustLoad(t)
	for _, name := range []string{"postgres", "better-auth", "tasks-service", "gateway"} {
		s := composeService(t, p, name)
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("service %q: no usable health check: %+v", name, hc)
			continue
		}
		if hc.Interval == nil || hc.Retries == nil {
			t.Errorf("service %q: health check needs interval and retries", name)
		}
	}
	// The Go services' checks must hit their own readiness endpoint on the
	// port they listen on.
	for name, port := range map[string]string{"tasks-service": "8081", "gateway": "8080"} {
		test := strings.Join(composeService(t, p, name).HealthCheck.Test, " ")
		if !strings.Contains(test, "127.0.0.1:"+port+"/readyz") {
			t.Errorf("service %q health check %q does not probe :%s/readyz", name, test, port)
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	p := composeMustLoad(t)
	tests := []struct {
		service, dependsOn, condition string
	}{
		{"better-auth", "postgres", types.ServiceConditionHealthy},
		{"tasks-migrate", "postgres", types.ServiceConditionHealthy},
		{"tasks-service", "tasks-migrate", types.ServiceConditionCompletedSuccessfully},
		{"gateway", "tasks-service", types.ServiceConditionHealthy},
		{"gateway", "better-auth", types.ServiceConditionHealthy},
	}
	for _, tc := range tests {
		dep, ok := composeService(t, p, tc.service).DependsOn[tc.dependsOn]
		if !ok {
			t.Errorf("%s does not depend on %s", tc.service, tc.dependsOn)
			continue
		}
		if dep.Condition != tc.condition {
			t.Errorf("%s depends on %s with condition %q, want %q", tc.service, tc.dependsOn, dep.Condition, tc.condition)
		}
	}
	migrate := composeService(t, p, "tasks-migrate")
	if got := strings.Join(migrate.Command, " "); got != "migrate up" {
		t.Errorf("tasks-migrate command = %q, want %q", got, "migrate up")
	}
	if migrate.Restart != "no" {
		t.Errorf("tasks-migrate restart = %q, want \"no\" (a one-shot job)", migrate.Restart)
	}
	if got := strings.Join(composeService(t, p, "tasks-service").Command, " "); got != "serve" {
		t.Errorf("tasks-service command = %q, want serve", got)
	}
}

// TestComposeWiring checks that the URLs each service is given point at the
// service and port that actually serves them, and that both ends agree on
// the shared values.
func TestComposeWiring(t *testing.T) {
	p := composeMustLoad(t)
	gw := composeService(t, p, "gateway")
	ba := composeService(t, p, "better-auth")
	ts := composeService(t, p, "tasks-service")
	tm := composeService(t, p, "tasks-migrate")

	hostPort := func(t *testing.T, raw string) string {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			t.Fatalf("%q is not a URL", raw)
		}
		return u.Host
	}
	if got, want := hostPort(t, composeEnv(gw, "BETTER_AUTH_URL")), "better-auth:"+composeEnv(ba, "PORT"); got != want {
		t.Errorf("gateway reaches Better Auth at %q, but Better Auth listens on %q", got, want)
	}
	if got, want := hostPort(t, composeEnv(gw, "TASKS_SERVICE_URL")), "tasks-service"+composeEnv(ts, "TASKS_ADDR"); got != want {
		t.Errorf("gateway reaches tasks-service at %q, but it listens on %q", got, want)
	}
	// Better Auth signs iss/aud with its base URL; the gateway must expect exactly that.
	for _, name := range []string{"JWT_ISSUER", "JWT_AUDIENCE"} {
		if got, want := composeEnv(gw, name), composeEnv(ba, "BETTER_AUTH_URL"); got != want {
			t.Errorf("gateway %s = %q, Better Auth issues for %q", name, got, want)
		}
	}
	if hostPort(t, composeEnv(ba, "BETTER_AUTH_URL")) != "localhost:8080" {
		t.Errorf("Better Auth base URL = %q, want the gateway's public URL", composeEnv(ba, "BETTER_AUTH_URL"))
	}
	if composeEnv(gw, "IDENTITY_KEYS") == "" || composeEnv(gw, "IDENTITY_KEYS") != composeEnv(ts, "IDENTITY_KEYS") {
		t.Errorf("gateway and tasks-service IDENTITY_KEYS differ or are empty")
	}
	if composeEnv(ts, "DATABASE_URL") != composeEnv(tm, "DATABASE_URL") {
		t.Errorf("tasks-migrate migrates a different database than tasks-service uses")
	}
	for _, s := range []types.ServiceConfig{ts, tm, ba} {
		for _, name := range []string{"DATABASE_URL", "MIGRATIONS_DATABASE_URL", "AUTH_DATABASE_URL"} {
			if v := composeEnv(s, name); v != "" && hostPort(t, v) != "postgres:5432" {
				t.Errorf("%s %s points at %q, want the compose postgres", s.Name, name, hostPort(t, v))
			}
		}
	}
	if ts.Image != tm.Image || ts.Build == nil || tm.Build == nil || ts.Build.Dockerfile != tm.Build.Dockerfile {
		t.Errorf("tasks-migrate must run the same image as tasks-service")
	}
}

// TestComposeSecretsRequired proves that a missing secret stops compose with
// a message that names it, instead of starting a stack with empty keys.
func TestComposeSecretsRequired(t *testing.T) {
	for _, name := range []string{"POSTGRES_PASSWORD", "BETTER_AUTH_SECRET", "IDENTITY_KEYS"} {
		t.Run(name, func(t *testing.T) {
			envFile := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(envFile, []byte(composeWithoutVar(t, envExample, name)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadCompose(t, envFile)
			if err == nil {
				t.Fatalf("compose loaded without %s", name)
			}
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error does not name %s: %v", name, err)
			}
		})
	}
}

// composeWithoutVar returns the env file's text with the line assigning name removed.
func composeWithoutVar(t *testing.T, path, name string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	removed := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+"=") {
			removed = true
			continue
		}
		b.WriteString(sc.Text() + "\n")
	}
	if !removed {
		t.Fatalf("%s does not set %s", path, name)
	}
	return b.String()
}

func TestComposeBuildsFromRepositoryRoot(t *testing.T) {
	p := composeMustLoad(t)
	root, _ := filepath.Abs("..")
	for _, name := range []string{"better-auth", "tasks-service", "tasks-migrate", "gateway"} {
		s := composeService(t, p, name)
		if s.Build == nil {
			t.Errorf("service %q has no build section", name)
			continue
		}
		if s.Build.Context != root {
			t.Errorf("service %q builds from %q, want the repository root (the Go workspace)", name, s.Build.Context)
		}
		if _, err := os.Stat(filepath.Join(root, s.Build.Dockerfile)); err != nil {
			t.Errorf("service %q: %v", name, err)
		}
	}
}

var dockerFromLine = regexp.MustCompile(`(?m)^FROM\s+(\S+)`)

// TestDockerfiles checks the properties the images promise: multi-stage,
// static Go binaries, a non-root user, CA certificates, a health check.
func TestDockerfiles(t *testing.T) {
	for _, name := range []string{"gateway", "tasks-service"} {
		t.Run(name, func(t *testing.T) {
			text := composeRead(t, filepath.Join("docker", name+".Dockerfile"))
			froms := dockerFromLine.FindAllStringSubmatch(text, -1)
			if len(froms) < 2 {
				t.Fatalf("%d FROM lines, want a multi-stage build", len(froms))
			}
			final := froms[len(froms)-1][1]
			// distroless/static ships CA certificates and a nonroot user.
			if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
				t.Errorf("final stage %q, want gcr.io/distroless/static...:nonroot", final)
			}
			if !strings.Contains(text, "CGO_ENABLED=0") {
				t.Error("binaries are not built with CGO_ENABLED=0")
			}
			if !regexp.MustCompile(`(?m)^USER\s+nonroot`).MatchString(text) {
				t.Error("no USER nonroot in the final stage")
			}
			if !strings.Contains(text, "COPY go.work ") {
				t.Error("build does not use the Go workspace")
			}
			if !strings.Contains(text, "HEALTHCHECK") {
				t.Error("no HEALTHCHECK")
			}
			if !strings.Contains(text, "./"+name+"/cmd/"+name) {
				t.Errorf("does not build ./%s/cmd/%s", name, name)
			}
		})
	}
	t.Run("better-auth", func(t *testing.T) {
		text := composeRead(t, filepath.Join("docker", "better-auth.Dockerfile"))
		if len(dockerFromLine.FindAllString(text, -1)) < 2 {
			t.Error("want a multi-stage build")
		}
		if !strings.Contains(text, "npm ci") {
			t.Error("dependencies not installed with npm ci from the lock file")
		}
		if !regexp.MustCompile(`(?m)^USER\s+node`).MatchString(text) {
			t.Error("no USER node")
		}
	})
}

func composeRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
