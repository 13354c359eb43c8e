package deploy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"sigs.k8s.io/yaml"
)

// loadComposeProfile loads the compose file with profiles active.
func loadComposeProfile(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(".."), cli.WithEnvFiles(envExample), cli.WithDotEnv,
		cli.WithName("gatehouse"), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load with profiles %v: %v", profiles, err)
	}
	return p
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// collectorConfig is the part of an OpenTelemetry Collector configuration
// the test checks.
type collectorConfig struct {
	Receivers  map[string]json.RawMessage `json:"receivers"`
	Processors map[string]json.RawMessage `json:"processors"`
	Exporters  map[string]struct {
		Endpoint string `json:"endpoint"`
		TLS      struct {
			Insecure bool `json:"insecure"`
		} `json:"tls"`
	} `json:"exporters"`
	Extensions map[string]json.RawMessage `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

// TestObservabilityProfile: `docker compose --profile observability`
// adds exactly the collector, Jaeger and Prometheus, on pinned images,
// publishing only UIs on 127.0.0.1; without the profile none of them runs.
// The collector's config is wired: every pipeline component is defined,
// OTLP/HTTP listens on 4318 (the port .env.example's endpoint names) and
// traces go to the Jaeger service's OTLP port; the memory limiter comes
// first and the batch processor last, as the Collector's docs ask.
func TestObservabilityProfile(t *testing.T) {
	p := loadComposeProfile(t, "observability")
	added := []string{"grafana", "jaeger", "otel-collector", "prometheus"}
	for _, name := range added {
		s := composeService(t, p, name)
		if !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("%s: profiles %v, want [observability]", name, s.Profiles)
		}
		if !regexp.MustCompile(`^[a-z0-9./-]+:v?\d+\.\d+\.\d+$`).MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned to a release", name, s.Image)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1 only", name, port.Published, port.HostIP)
			}
		}
	}
	if def := composeMustLoad(t); slices.ContainsFunc(added, func(n string) bool { _, err := def.GetService(n); return err == nil }) {
		t.Errorf("observability services run without the profile: %v", def.ServiceNames())
	}

	var cfg collectorConfig
	readYAML(t, "observability/otel-collector.yaml", &cfg)
	traces, ok := cfg.Service.Pipelines["traces"]
	if !ok {
		t.Fatal("collector: no traces pipeline")
	}
	for kind, names := range map[string][]string{"receivers": traces.Receivers, "processors": traces.Processors, "exporters": traces.Exporters, "extensions": cfg.Service.Extensions} {
		for _, n := range names {
			var defined bool
			switch kind {
			case "receivers":
				_, defined = cfg.Receivers[n]
			case "processors":
				_, defined = cfg.Processors[n]
			case "exporters":
				_, defined = cfg.Exporters[n]
			case "extensions":
				_, defined = cfg.Extensions[n]
			}
			if !defined {
				t.Errorf("collector: %s %q is used but not defined", kind, n)
			}
		}
	}
	if len(traces.Processors) == 0 || traces.Processors[0] != "memory_limiter" || traces.Processors[len(traces.Processors)-1] != "batch" {
		t.Errorf("collector: processors %v, want memory_limiter first and batch last", traces.Processors)
	}
	var otlp struct {
		Protocols struct {
			HTTP struct {
				Endpoint string `json:"endpoint"`
			} `json:"http"`
		} `json:"protocols"`
	}
	if err := json.Unmarshal(cfg.Receivers["otlp"], &otlp); err != nil || !strings.HasSuffix(otlp.Protocols.HTTP.Endpoint, ":4318") {
		t.Errorf("collector: OTLP/HTTP receiver %q (%v), want :4318", otlp.Protocols.HTTP.Endpoint, err)
	}
	env, err := os.ReadFile(envExample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318") {
		t.Error(".env.example does not show the collector's endpoint")
	}
	for _, name := range traces.Exporters {
		e := cfg.Exporters[name]
		host, port, err := net.SplitHostPort(e.Endpoint)
		if err != nil {
			t.Errorf("collector: exporter %s endpoint %q: %v", name, e.Endpoint, err)
			continue
		}
		s := composeService(t, p, host)
		if !slices.Contains(s.Expose, port) {
			t.Errorf("collector exports to %s:%s, which the %s service does not expose (%v)", host, port, host, s.Expose)
		}
	}
	col := composeService(t, p, "otel-collector")
	if !slices.Contains(col.Expose, "4318") {
		t.Errorf("otel-collector exposes %v, want 4318", col.Expose)
	}
}

// TestPrometheusScrapesBothServices: the scrape config names each Go
// service at the port of its METRICS_ADDR in compose, so Prometheus finds
// /metrics where the service serves it; the Kubernetes pods' annotations
// name the port of their ConfigMap's METRICS_ADDR.
func TestPrometheusScrapesBothServices(t *testing.T) {
	var cfg struct {
		Global        map[string]string `json:"global"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	readYAML(t, "observability/prometheus.yml", &cfg)
	p := loadComposeProfile(t, "observability")
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Fatalf("target %q: %v", target, err)
				}
				s := composeService(t, p, host)
				_, mport, _ := net.SplitHostPort(composeEnv(s, "METRICS_ADDR"))
				if mport != port {
					t.Errorf("prometheus scrapes %s, but %s's METRICS_ADDR is %q", target, host, composeEnv(s, "METRICS_ADDR"))
				}
			}
		}
	}
	for _, want := range []string{"gateway", "tasks-service"} {
		if !jobs[want] {
			t.Errorf("no scrape job %s", want)
		}
	}
}

// TestGrafanaProvisioning: the profile's Grafana loads the dashboard and its
// datasource by itself — each provisioning file is mounted where Grafana
// reads provisioning, the dashboard into the folder the dashboard provider
// names (and as the home dashboard), and the datasource is the default, of
// the type the dashboard's datasource variable asks for, at the port the
// prometheus service listens on inside the network.
func TestGrafanaProvisioning(t *testing.T) {
	p := loadComposeProfile(t, "observability")
	g := composeService(t, p, "grafana")
	mounts := map[string]string{} // repository file -> path in the container
	for _, v := range g.Volumes {
		rel, err := filepath.Rel(p.WorkingDir, v.Source)
		if err != nil || !v.ReadOnly {
			t.Errorf("grafana volume %s -> %s: %v, read-only %v", v.Source, v.Target, err, v.ReadOnly)
			continue
		}
		if _, err := os.Stat(filepath.Join("..", rel)); err != nil {
			t.Errorf("grafana mounts %s, which is not in the repository: %v", rel, err)
		}
		mounts[filepath.ToSlash(rel)] = v.Target
	}
	const provisioning = "/etc/grafana/provisioning/"
	if dir := path.Dir(mounts["deploy/observability/grafana/datasources.yaml"]); dir != provisioning+"datasources" {
		t.Errorf("datasources.yaml mounted in %q, want %sdatasources", dir, provisioning)
	}
	if dir := path.Dir(mounts["deploy/observability/grafana/dashboards.yaml"]); dir != provisioning+"dashboards" {
		t.Errorf("dashboards.yaml mounted in %q, want %sdashboards", dir, provisioning)
	}
	dashboard := mounts["deploy/observability/grafana-dashboard.json"]
	var providers struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type string
			DisableDeletion    bool `json:"disableDeletion"`
			AllowUIUpdates     bool `json:"allowUiUpdates"`
			Options            struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	readYAML(t, "observability/grafana/dashboards.yaml", &providers)
	if providers.APIVersion != 1 || len(providers.Providers) != 1 || providers.Providers[0].Type != "file" || path.Dir(dashboard) != providers.Providers[0].Options.Path {
		t.Errorf("dashboard mounted at %q, providers %+v", dashboard, providers.Providers)
	}
	if home := composeEnv(g, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home != dashboard {
		t.Errorf("home dashboard %q, the dashboard is mounted at %q", home, dashboard)
	}

	var sources struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault                    bool `json:"isDefault"`
			Editable                     bool `json:"editable"`
		} `json:"datasources"`
	}
	readYAML(t, "observability/grafana/datasources.yaml", &sources)
	if sources.APIVersion != 1 || len(sources.Datasources) != 1 || !sources.Datasources[0].IsDefault || sources.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources %+v, want one default prometheus", sources.Datasources)
	}
	u, err := url.Parse(sources.Datasources[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	prom := composeService(t, p, u.Hostname())
	if !slices.ContainsFunc(prom.Ports, func(pc types.ServicePortConfig) bool { return strconv.Itoa(int(pc.Target)) == u.Port() }) {
		t.Errorf("grafana reads %s, but %s listens on %v", u, u.Hostname(), prom.Ports)
	}
	var d struct {
		Templating struct {
			List []struct {
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	raw, err := os.ReadFile("observability/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &d); err != nil || len(d.Templating.List) == 0 || d.Templating.List[0].Query != sources.Datasources[0].Type {
		t.Errorf("the dashboard's datasource variable %+v (%v) does not select the provisioned %s datasource", d.Templating.List, err, sources.Datasources[0].Type)
	}
}

// TestGrafanaDashboard: the dashboard is valid Grafana JSON (unique panel
// ids, a Prometheus datasource variable every query uses, panels inside the
// 24-column grid and not overlapping), it covers both services, and every
// metric its queries name is one the services export: the shared HTTP,
// Go and process families (observe.NewMetrics), the pool's go_sql_*
// (client_golang's DBStatsCollector, as tasks-service registers it) and
// the tasks service's own series (declared in its api/metrics.go).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("observability/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || len(d.Templating.List) != 1 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Fatalf("dashboard uid %q, title %q, templating %+v", d.UID, d.Title, d.Templating.List)
	}

	known := exportedMetrics(t)
	ident := regexp.MustCompile(`[a-z_][a-z0-9_]*(?:\{|\[|\))`)
	funcs := map[string]bool{"sum": true, "rate": true, "histogram_quantile": true, "increase": true, "by": true}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	services := map[string]bool{}
	for _, pn := range d.Panels {
		if ids[pn.ID] {
			t.Errorf("panel id %d twice", pn.ID)
		}
		ids[pn.ID] = true
		g := pn.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", pn.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, pn.Title, x, y)
				}
				cells[[2]int{x, y}] = pn.Title
			}
		}
		if pn.Type == "row" {
			continue
		}
		if pn.Datasource.UID != "${datasource}" || len(pn.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", pn.Title, pn.Datasource.UID, len(pn.Targets))
		}
		for _, q := range pn.Targets {
			if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") || strings.Count(q.Expr, "{") != strings.Count(q.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %s", pn.Title, q.Expr)
			}
			for _, svc := range []string{"gateway", "tasks-service"} {
				if strings.Contains(q.Expr, `"`+svc+`"`) {
					services[svc] = true
				}
			}
			// Metric names: identifiers followed by a selector, a range or
			// the end of an aggregation, less PromQL's functions and labels.
			for _, m := range ident.FindAllString(q.Expr, -1) {
				name := strings.TrimRight(m, "{[)")
				name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if funcs[name] || name == "le" || name == "route" || name == "status" || name == "instance" {
					continue
				}
				if !known[name] {
					t.Errorf("panel %q queries %s, which no service exports", pn.Title, name)
				}
			}
		}
	}
	if !services["gateway"] || !services["tasks-service"] {
		t.Errorf("dashboard covers %v, want both services", services)
	}
}

// exportedMetrics lists the metric families the services export.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := observe.NewMetrics("x")
	m.Observe("GET", "/", 200, 0)
	db := sql.OpenDB(nopConnector{})
	defer db.Close()
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "tasks"))
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	src, err := os.ReadFile("../tasks-service/internal/api/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range regexp.MustCompile(`Name:\s+"([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[mm[1]] = true
	}
	if !known["tasks_idempotency_replays_total"] || !known["go_sql_open_connections"] || !known["http_requests_total"] {
		t.Fatalf("the list of exported metrics is incomplete: %v", known)
	}
	return known
}

type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }
func (nopConnector) Driver() driver.Driver                        { return nil }
