package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/gofiber/fiber/v2"
)

// serveApp serves app on 127.0.0.1:0 until the test ends and returns its
// base URL.
func serveApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsOffTheAPIPortByDefault: the API port serves no /metrics unless
// asked to (ServeMetrics, METRICS_ADDR = TASKS_ADDR): it was served there
// to anyone who reached the port. MetricsApp, the METRICS_ADDR listener,
// serves the API's series and nothing else.
func TestMetricsOffTheAPIPortByDefault(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := observe.NewMetrics("tasks-service")
	base := serveApp(t, api.New(api.Config{
		Verifier: identity.NewVerifier(testKeys, identity.DefaultWindow),
		Ready:    func(context.Context) error { return nil },
		Log:      log,
		Metrics:  metrics,
	}))
	status, body := get(t, base+"/metrics")
	if status != http.StatusUnauthorized || strings.Contains(body, "http_requests_total") {
		t.Fatalf("API port /metrics: %d %.200s, want the 401 of any unsigned request", status, body)
	}
	if status, _ := get(t, base+"/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz: %d", status)
	}

	mbase := serveApp(t, api.MetricsApp(metrics, log))
	status, body = get(t, mbase+"/metrics")
	want := `http_requests_total{method="GET",route="/healthz",service="tasks-service",status="200"} 1`
	if status != http.StatusOK || !strings.Contains(body, want) {
		t.Fatalf("metrics listener: %d, want %s in %.2000s", status, want, body)
	}
	for _, path := range []string{"/api/tasks", "/healthz", "/metrics/x"} {
		if status, _ := get(t, mbase+path); status != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", path, status)
		}
	}
}
