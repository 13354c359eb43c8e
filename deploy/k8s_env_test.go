package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gatewayconfig "github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	tasksconfig "github.com/gatehouse-dev/gatehouse/tasks-service/config"
	corev1 "k8s.io/api/core/v1"
)

// k8sBinary ties a container in the manifests to the binary it runs and to
// that binary's own declaration of its environment: the check reads the
// list from the binary, never a copy of it.
type k8sBinary struct {
	kind, workload, container string
	vars                      []settings.Var
	// load runs the binary's real configuration loader and returns its
	// SIGTERM drain time (0 for a binary that does not serve).
	load func(settings.Env) (shutdown time.Duration, err error)
}

var k8sBinaries = []k8sBinary{
	{"Deployment", "gateway", "gateway", gatewayconfig.Vars, func(env settings.Env) (time.Duration, error) {
		c, err := gatewayconfig.Load(env)
		return c.ShutdownTimeout, err
	}},
	{"Deployment", "tasks-service", "tasks-service", tasksconfig.Vars, func(env settings.Env) (time.Duration, error) {
		c, err := tasksconfig.Load(env)
		return c.ShutdownTimeout, err
	}},
	// `tasks-service migrate up` loads the same configuration as serve.
	{"Job", "tasks-migrate", "migrate", tasksconfig.Vars, func(env settings.Env) (time.Duration, error) {
		_, err := tasksconfig.Load(env)
		return 0, err
	}},
}

// k8sRuntimeVars are read by the Go runtime, not by our code.
var k8sRuntimeVars = []string{"GOMEMLIMIT", "GOMAXPROCS"}

// k8sPlaceholder marks a value an operator must replace.
const k8sPlaceholder = "REPLACE_ME"

// k8sFiller stands in for placeholders when a binary's loader is run on an
// overlay whose secrets are templates: 64 hex digits are valid in a URL and
// decode as 48 bytes of standard base64, so the key and URL shapes around
// the placeholder are what gets checked.
const k8sFiller = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// k8sEnvValue is one environment variable as the kubelet would set it.
type k8sEnvValue struct {
	value  string
	source string // "literal", "configMap", "secret", "field"
}

var k8sVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// resolveEnv computes a container's environment from the manifest: envFrom
// first, then env in order (later wins), expanding $(NAME) references to
// variables defined before, the way the kubelet does. Values that cannot be
// known (resourceFieldRef, fieldRef) are "field". A reference to a missing
// ConfigMap, Secret or key is a problem: the pod would not start.
func (m *k8sManifest) resolveEnv(c *corev1.Container) (map[string]k8sEnvValue, []string) {
	env := map[string]k8sEnvValue{}
	var p []string
	bad := func(format string, args ...any) {
		p = append(p, "container "+c.Name+": "+fmt.Sprintf(format, args...))
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := m.configMap(from.ConfigMapRef.Name)
			if cm == nil {
				bad("envFrom ConfigMap %q does not exist", from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = k8sEnvValue{v, "configMap"}
			}
		case from.SecretRef != nil:
			s := m.secret(from.SecretRef.Name)
			if s == nil {
				bad("envFrom Secret %q does not exist", from.SecretRef.Name)
				continue
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = k8sEnvValue{string(v), "secret"}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			// A literal that splices in a Secret's value (REDIS_URL around
			// $(REDIS_PASSWORD)) keeps the secret out of the manifest: it
			// counts as coming from the Secret.
			source := "literal"
			v := k8sVarRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
				if def, ok := env[ref[2:len(ref)-1]]; ok {
					if def.source == "secret" {
						source = "secret"
					}
					return def.value
				}
				return ref
			})
			env[e.Name] = k8sEnvValue{v, source}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := m.secret(ref.Name)
			if s == nil {
				bad("%s: Secret %q does not exist", e.Name, ref.Name)
				continue
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				bad("%s: Secret %q has no key %q", e.Name, ref.Name, ref.Key)
				continue
			}
			env[e.Name] = k8sEnvValue{string(v), "secret"}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := m.configMap(ref.Name)
			if cm == nil {
				bad("%s: ConfigMap %q does not exist", e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				bad("%s: ConfigMap %q has no key %q", e.Name, ref.Name, ref.Key)
				continue
			}
			env[e.Name] = k8sEnvValue{v, "configMap"}
		default:
			env[e.Name] = k8sEnvValue{"", "field"}
		}
	}
	return env, p
}

// workloadPod returns the pod spec of kind/name, or nil.
func (m *k8sManifest) workloadPod(kind, name string) *k8sPod {
	for _, pod := range m.pods() {
		if pod.kind == kind && pod.name == name {
			return &pod
		}
	}
	return nil
}

// envProblems checks each binary's container against the binary's Vars and
// runs the binary's real loader on the resulting environment.
func (m *k8sManifest) envProblems() []string {
	var p []string
	for _, b := range k8sBinaries {
		p = append(p, m.binaryProblems(b)...)
	}
	p = append(p, m.databaseURLProblems()...)
	p = append(p, m.serviceURLProblems()...)
	p = append(p, m.expansionProblems()...)
	p = append(p, m.redisProblems()...)
	p = append(p, m.drainProblems()...)
	return p
}

// drainProblems checks the timeouts that make a rolling update fail no
// request (deploy/README.md, "Rolling updates that fail no request";
// e2e TestRollingRestartsFailNoRequest): a draining tasks-service leaves
// idle connections to the gateway for SHUTDOWN_IDLE_GRACE, which must
// outlast the gateway's UPSTREAM_IDLE_TIMEOUT, after which the gateway has
// retired every one of them; and the gateway's drain must outlast a
// request in flight at SIGTERM, which ends within UPSTREAM_TIMEOUT.
func (m *k8sManifest) drainProblems() []string {
	load := func(kind, workload, container string) settings.Env {
		pod := m.workloadPod(kind, workload)
		if pod == nil {
			return nil
		}
		c := k8sContainer(*pod.spec, container)
		if c == nil {
			return nil
		}
		env, _ := m.resolveEnv(c)
		values := map[string]string{}
		for name, v := range env {
			values[name] = strings.ReplaceAll(v.value, k8sPlaceholder, k8sFiller)
		}
		return settings.MapEnv(values)
	}
	genv, tenv := load("Deployment", "gateway", "gateway"), load("Deployment", "tasks-service", "tasks-service")
	if genv == nil || tenv == nil {
		return nil // reported by binaryProblems
	}
	gw, gerr := gatewayconfig.Load(genv)
	tasks, terr := tasksconfig.Load(tenv)
	if gerr != nil || terr != nil {
		return nil // reported by binaryProblems
	}
	var p []string
	if tasks.ShutdownGrace <= gw.UpstreamIdleTimeout {
		p = append(p, fmt.Sprintf("tasks-service SHUTDOWN_IDLE_GRACE %s <= gateway UPSTREAM_IDLE_TIMEOUT %s: a draining replica would close connections the gateway may still send on",
			tasks.ShutdownGrace, gw.UpstreamIdleTimeout))
	}
	if gw.ShutdownTimeout < gw.UpstreamTimeout {
		p = append(p, fmt.Sprintf("gateway SHUTDOWN_TIMEOUT %s < UPSTREAM_TIMEOUT %s: a request in flight at SIGTERM could be cut off",
			gw.ShutdownTimeout, gw.UpstreamTimeout))
	}
	return append(p, deadlineChainProblems(gw, tasks)...)
}

// deadlineChainProblems checks that a request's work ends inside every
// deadline around it (tasks-service/README.md, "Deadlines"): the
// tasks-service's REQUEST_TIMEOUT, within which its transaction commits or
// rolls back, must end a margin before the gateway's UPSTREAM_TIMEOUT, or the
// client gets a 504 while the write may still commit; and the tasks-service's
// drain must outlast a request in flight at SIGTERM.
func deadlineChainProblems(gw gatewayconfig.Config, tasks tasksconfig.Config) []string {
	var p []string
	if margin := time.Second; tasks.RequestTimeout+margin > gw.UpstreamTimeout {
		p = append(p, fmt.Sprintf("tasks-service REQUEST_TIMEOUT %s is not at least %s below the gateway's UPSTREAM_TIMEOUT %s: the gateway could answer 504 while a write still commits",
			tasks.RequestTimeout, margin, gw.UpstreamTimeout))
	}
	if tasks.ShutdownTimeout < tasks.RequestTimeout {
		p = append(p, fmt.Sprintf("tasks-service SHUTDOWN_TIMEOUT %s < REQUEST_TIMEOUT %s: a request in flight at SIGTERM could be cut off",
			tasks.ShutdownTimeout, tasks.RequestTimeout))
	}
	return p
}

// expansionProblems finds $(NAME) in commands, args and env values that
// name no variable of the container: the kubelet leaves such a reference as
// literal text, so Redis would run with the password "$(REDIS_PASSWORD)".
func (m *k8sManifest) expansionProblems() []string {
	var p []string
	for _, pod := range m.pods() {
		for _, c := range pod.spec.Containers {
			env, _ := m.resolveEnv(&c)
			texts := append(slices.Clone(c.Command), c.Args...)
			for _, e := range c.Env {
				texts = append(texts, e.Value)
			}
			for _, text := range texts {
				for _, ref := range k8sVarRef.FindAllStringSubmatch(text, -1) {
					if _, ok := env[ref[1]]; !ok {
						p = append(p, fmt.Sprintf("%s: container %s: $(%s) names no variable of the container", pod, c.Name, ref[1]))
					}
				}
			}
		}
	}
	return p
}

// redisProblems checks that the gateway's REDIS_URL carries the password
// the Redis server was started with.
func (m *k8sManifest) redisProblems() []string {
	gw, rd := m.deployment("gateway"), m.deployment("redis")
	if gw == nil || rd == nil {
		return nil
	}
	gwc, rdc := k8sContainer(gw.Spec.Template.Spec, "gateway"), k8sContainer(rd.Spec.Template.Spec, "redis")
	if gwc == nil || rdc == nil {
		return []string{"gateway or redis container missing"}
	}
	gwEnv, _ := m.resolveEnv(gwc)
	rdEnv, _ := m.resolveEnv(rdc)
	u, err := url.Parse(gwEnv["REDIS_URL"].value)
	if err != nil || u.User == nil {
		return []string{"Deployment/gateway: REDIS_URL is not a redis:// URL with a password"}
	}
	pw, _ := u.User.Password()
	if !slices.Contains(rdc.Args, "--requirepass") || pw == "" || pw != rdEnv["REDIS_PASSWORD"].value {
		return []string{"Deployment/gateway: REDIS_URL's password is not the one Redis requires (--requirepass $(REDIS_PASSWORD))"}
	}
	return nil
}

func (m *k8sManifest) binaryProblems(b k8sBinary) []string {
	var p []string
	where := b.kind + "/" + b.workload
	bad := func(format string, args ...any) { p = append(p, where+": "+fmt.Sprintf(format, args...)) }
	pod := m.workloadPod(b.kind, b.workload)
	if pod == nil {
		return []string{where + ": missing"}
	}
	c := k8sContainer(*pod.spec, b.container)
	if c == nil {
		return []string{where + ": no container " + b.container}
	}
	env, refProblems := m.resolveEnv(c)
	for _, rp := range refProblems {
		bad("%s", rp)
	}

	referenced := map[string]bool{}
	for _, e := range c.Env {
		for _, ref := range k8sVarRef.FindAllStringSubmatch(e.Value, -1) {
			referenced[ref[1]] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		v := env[name]
		decl, declared := settings.Lookup(b.vars, name)
		switch {
		case declared && decl.Secret && v.source != "secret":
			bad("%s is a secret of the binary but comes from a %s", name, v.source)
		case declared:
		case slices.Contains(k8sRuntimeVars, name):
		case referenced[name]:
			// Only there to be spliced into another variable, like REDIS_PASSWORD into REDIS_URL.
		default:
			bad("sets %s, which the binary does not declare (a typo, or a setting that does nothing)", name)
		}
	}
	for _, v := range b.vars {
		if !v.Required {
			continue
		}
		got, ok := env[v.Name]
		if !ok || strings.TrimSpace(got.value) == "" && got.source != "field" {
			bad("required %s is not set", v.Name)
		}
	}

	// The binary's own loader must accept the environment. Placeholders in a
	// template Secret are filled in first; everything else is as deployed.
	values := map[string]string{}
	for name, v := range env {
		values[name] = strings.ReplaceAll(v.value, k8sPlaceholder, k8sFiller)
	}
	shutdown, err := b.load(settings.MapEnv(values))
	if err != nil {
		bad("the binary's config loader rejects this environment:\n    %s", strings.ReplaceAll(err.Error(), "\n", "\n    "))
		return p
	}

	// Graceful rollout: the pod is told to stop (preStop sleeps while the
	// endpoint is removed everywhere), then the binary drains for up to its
	// SHUTDOWN_TIMEOUT; the kubelet must not SIGKILL before both are over.
	if b.kind == "Deployment" {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
			bad("no preStop sleep")
			return p
		}
		preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		grace := 30 * time.Second
		if pod.spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.spec.TerminationGracePeriodSeconds) * time.Second
		}
		if preStop < 5*time.Second {
			bad("preStop sleep %s is too short for endpoint removal to reach every node and proxy (want >= 5s)", preStop)
		}
		if shutdown <= 0 {
			bad("SHUTDOWN_TIMEOUT resolves to %s", shutdown)
		}
		if need := preStop + shutdown; grace < need {
			bad("terminationGracePeriodSeconds %s < preStop %s + SHUTDOWN_TIMEOUT %s: in-flight requests would be killed", grace, preStop, shutdown)
		}
	}
	return p
}

// databaseURLProblems checks the Neon split: tasks-service uses the pooler,
// the migration Job the direct endpoint, both verifying TLS; serving pods
// never get the migration (owner) URL.
func (m *k8sManifest) databaseURLProblems() []string {
	var p []string
	tasksPod := m.workloadPod("Deployment", "tasks-service")
	jobPod := m.workloadPod("Job", "tasks-migrate")
	if tasksPod == nil || jobPod == nil {
		return nil // reported by binaryProblems
	}
	tasksC, jobC := k8sContainer(*tasksPod.spec, "tasks-service"), k8sContainer(*jobPod.spec, "migrate")
	if tasksC == nil || jobC == nil {
		return nil
	}
	tasksEnv, _ := m.resolveEnv(tasksC)
	jobEnv, _ := m.resolveEnv(jobC)
	if _, ok := tasksEnv["MIGRATIONS_DATABASE_URL"]; ok {
		p = append(p, "Deployment/tasks-service: gets MIGRATIONS_DATABASE_URL; only the migration Job needs the owner's URL")
	}
	migrations, ok := jobEnv["MIGRATIONS_DATABASE_URL"]
	if !ok || migrations.source != "secret" {
		p = append(p, "Job/tasks-migrate: MIGRATIONS_DATABASE_URL must come from a Secret")
		return p
	}
	if db := jobEnv["DATABASE_URL"]; db.value != migrations.value {
		p = append(p, "Job/tasks-migrate: DATABASE_URL differs from MIGRATIONS_DATABASE_URL; the Job must not touch the pooler")
	}
	if m.name != "overlays/neon" {
		return p
	}
	traffic, err1 := url.Parse(tasksEnv["DATABASE_URL"].value)
	direct, err2 := url.Parse(migrations.value)
	if err1 != nil || err2 != nil {
		return append(p, "neon: database URLs do not parse")
	}
	if !strings.Contains(traffic.Hostname(), "-pooler.") {
		p = append(p, "neon: tasks-service DATABASE_URL host "+traffic.Hostname()+" is not a -pooler endpoint")
	}
	if strings.Contains(direct.Hostname(), "-pooler") {
		p = append(p, "neon: MIGRATIONS_DATABASE_URL host "+direct.Hostname()+" is the pooler; migrations need the direct endpoint")
	}
	if strings.Replace(traffic.Hostname(), "-pooler.", ".", 1) != direct.Hostname() {
		p = append(p, "neon: pooler and direct URLs name different endpoints")
	}
	for name, u := range map[string]*url.URL{"DATABASE_URL": traffic, "MIGRATIONS_DATABASE_URL": direct} {
		if got := u.Query().Get("sslmode"); got != "verify-full" {
			p = append(p, fmt.Sprintf("neon: %s has sslmode=%q, want verify-full", name, got))
		}
	}
	return p
}

// serviceURLProblems checks that URLs naming an in-cluster host (no dot)
// point at a Service and one of its ports.
func (m *k8sManifest) serviceURLProblems() []string {
	var p []string
	for _, b := range k8sBinaries {
		pod := m.workloadPod(b.kind, b.workload)
		if pod == nil {
			continue
		}
		c := k8sContainer(*pod.spec, b.container)
		if c == nil {
			continue
		}
		env, _ := m.resolveEnv(c)
		for name, v := range env {
			if !strings.HasSuffix(name, "_URL") {
				continue
			}
			u, err := url.Parse(v.value)
			if err != nil || u.Host == "" || strings.Contains(u.Hostname(), ".") || net.ParseIP(u.Hostname()) != nil {
				continue
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"http": "80", "https": "443", "redis": "6379", "postgres": "5432", "postgresql": "5432"}[u.Scheme]
			}
			if !m.serviceHasPort(u.Hostname(), port) {
				p = append(p, fmt.Sprintf("%s/%s: %s names %s:%s, which no Service offers", b.kind, b.workload, name, u.Hostname(), port))
			}
		}
	}
	return p
}

func (m *k8sManifest) serviceHasPort(name, port string) bool {
	for _, svc := range m.services {
		if svc.Name != name {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if strconv.Itoa(int(sp.Port)) == port {
				return true
			}
		}
	}
	return false
}

// betterAuthVars reads the Better Auth dev server's own variable list
// (deploy/better-auth/config.mjs), so the local overlay is checked against
// the server's declaration rather than a copy.
func betterAuthVars(t *testing.T) (all, required []string) {
	t.Helper()
	b, err := os.ReadFile("better-auth/config.mjs")
	if err != nil {
		t.Fatalf("better-auth/config.mjs: %v", err)
	}
	decl := regexp.MustCompile(`\{\s*name:\s*"([A-Z0-9_]+)"([^}]*)\}`)
	for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
		all = append(all, m[1])
		if regexp.MustCompile(`required:\s*true`).MatchString(m[2]) {
			required = append(required, m[1])
		}
	}
	if len(all) == 0 || len(required) == 0 {
		t.Fatal("better-auth/config.mjs: found no variable declarations; has its shape changed?")
	}
	return all, required
}

func TestK8sLocalBetterAuthEnvironment(t *testing.T) {
	all, required := betterAuthVars(t)
	m := k8sBuild(t, "overlays/local")
	pod := m.workloadPod("Deployment", "better-auth")
	if pod == nil {
		t.Fatal("overlays/local: no Deployment better-auth")
	}
	c := k8sContainer(*pod.spec, "better-auth")
	if c == nil {
		t.Fatal("better-auth: no container better-auth")
	}
	env, problems := m.resolveEnv(c)
	k8sReport(t, "overlays/local", problems)
	for _, name := range required {
		if strings.TrimSpace(env[name].value) == "" {
			t.Errorf("better-auth: required %s is not set", name)
		}
	}
	for name := range env {
		if !slices.Contains(all, name) {
			t.Errorf("better-auth: sets %s, which the server does not declare", name)
		}
	}
	if env["HOST"].value != "0.0.0.0" {
		t.Errorf("better-auth: HOST=%q; in a pod it must listen on 0.0.0.0", env["HOST"].value)
	}
	if s := env["BETTER_AUTH_SECRET"]; s.source != "secret" || len(s.value) < 32 {
		t.Errorf("better-auth: BETTER_AUTH_SECRET must come from a Secret and have >= 32 characters")
	}
	// The gateway must expect the issuer and audience this server puts in
	// its tokens (config.mjs: both default to BETTER_AUTH_URL), or every
	// token fails verification. The gateway's side comes from its loader.
	gw := k8sContainer(m.deployment("gateway").Spec.Template.Spec, "gateway")
	gwEnv, _ := m.resolveEnv(gw)
	values := map[string]string{}
	for k, v := range gwEnv {
		values[k] = v.value
	}
	gwConfig, err := gatewayconfig.Load(settings.MapEnv(values))
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	issuer, audience := env["BETTER_AUTH_URL"].value, env["BETTER_AUTH_URL"].value
	if v := env["BETTER_AUTH_JWT_ISSUER"].value; v != "" {
		issuer = v
	}
	if v := env["BETTER_AUTH_JWT_AUDIENCE"].value; v != "" {
		audience = v
	}
	if gwConfig.Issuer != issuer || gwConfig.Audience != audience {
		t.Errorf("gateway expects iss %q aud %q, Better Auth issues iss %q aud %q", gwConfig.Issuer, gwConfig.Audience, issuer, audience)
	}
	// The JWKS and /api/auth/* go to the in-cluster Service.
	for what, u := range map[string]string{"JWKS": gwConfig.JWKSURL, "auth upstream": gwConfig.AuthURL.String()} {
		parsed, err := url.Parse(u)
		if err != nil || !m.serviceHasPort(parsed.Hostname(), parsed.Port()) {
			t.Errorf("gateway %s URL %q is not an in-cluster Service", what, u)
		}
	}
}

func TestK8sSecretTemplatesHoldPlaceholdersOnly(t *testing.T) {
	// base and the neon example are templates: a real credential committed
	// there would be a leak. (overlays/local's dev-secrets.env is public on
	// purpose and says so.)
	for _, dir := range []string{"base", "overlays/neon"} {
		m := k8sBuild(t, dir)
		s := m.secretNamed(t, "gatehouse-secrets")
		if len(s.Data) < 4 {
			t.Errorf("%s: gatehouse-secrets has %d keys, want the 4 the workloads read", dir, len(s.Data))
		}
		for k, v := range s.Data {
			if !strings.Contains(string(v), k8sPlaceholder) {
				t.Errorf("%s: gatehouse-secrets %s holds a value without %s", dir, k, k8sPlaceholder)
			}
		}
	}
}

// secretNamed returns the generated Secret whose name (before kustomize's
// hash suffix) is prefix.
func (m *k8sManifest) secretNamed(t *testing.T, prefix string) *corev1.Secret {
	t.Helper()
	for _, s := range m.secrets {
		if s.Name == prefix || strings.HasPrefix(s.Name, prefix+"-") {
			return s
		}
	}
	t.Fatalf("%s: no Secret %s", m.name, prefix)
	return nil
}
