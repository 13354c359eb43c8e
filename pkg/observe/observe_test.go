package observe

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
)

// serve runs app on a real 127.0.0.1 socket and returns its base URL.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestRequestIDAccessLogAndMetrics(t *testing.T) {
	var logs bytes.Buffer
	log := NewLogger(&logs, "test", slog.LevelInfo)
	m := NewMetrics("test")
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			p, _ := problem.FromFiber(err)
			return problem.Write(c, p)
		},
	})
	app.Use(RequestID(), m.Middleware(), AccessLog(log))
	app.Get("/metrics", m.Handler())
	app.Get("/items/:id", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/boom", func(c *fiber.Ctx) error { return errors.New("db password=secret") })
	base := serve(t, app)

	cases := []struct {
		desc, path, sentID string
		wantStatus         int
		keepID             bool
	}{
		{"valid id propagated", "/items/1", "abc-123", 200, true},
		{"no id generated", "/items/2", "", 200, false},
		{"id with CRLF replaced", "/items/3", "a\tb", 200, false},
		{"over-long id replaced", "/items/4", strings.Repeat("a", 129), 200, false},
		{"error hidden", "/boom", "", 500, false},
		{"unknown route", "/nope", "", 404, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			if tc.sentID != "" {
				req.Header.Set(HeaderRequestID, tc.sentID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			got := resp.Header.Get(HeaderRequestID)
			if tc.keepID && got != tc.sentID || !tc.keepID && (got == "" || got == tc.sentID) {
				t.Fatalf("request id = %q (sent %q)", got, tc.sentID)
			}
			if strings.Contains(string(body), "secret") {
				t.Fatalf("error detail leaked: %s", body)
			}
			if tc.wantStatus >= 400 {
				var p problem.Details
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tc.wantStatus || p.RequestID != got {
					t.Fatalf("problem body %s (err %v)", body, err)
				}
				if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
					t.Fatalf("content type %q", ct)
				}
			}
		})
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(cases), logs.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["request_id"] != "abc-123" || first["route"] != "/items/:id" || first["status"] != float64(200) {
		t.Fatalf("log line %v", first)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`http_requests_total{method="GET",route="/items/:id",service="test",status="200"} 4`,
		`http_requests_total{method="GET",route="/boom",service="test",status="500"} 1`,
		`route="unmatched",service="test",status="404"} 1`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestObserveConcurrentNewSeries counts requests of many new series from
// several goroutines at once: every series must end with every request
// counted, however the copy-on-write publication of new series interleaved.
func TestObserveConcurrentNewSeries(t *testing.T) {
	m := NewMetrics("test")
	const workers, statuses, rounds = 4, 50, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range rounds {
				for s := range statuses {
					// A method string that aliases nothing constant, as Fiber's does.
					m.Observe(string([]byte("GET")), "/r/"+strconv.Itoa(r%2), 200+s, time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series int
	for _, f := range families {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			series++
			if got, want := mt.GetCounter().GetValue(), float64(workers*rounds/2); got != want {
				t.Errorf("series %v counted %v requests, want %v", mt.GetLabel(), got, want)
			}
		}
	}
	if series != 2*statuses {
		t.Fatalf("%d series of http_requests_total, want %d", series, 2*statuses)
	}
}

// TestAssignRequestIDAllocations: generating an id for a request that came
// without one is done on every such request, so it may cost no more than
// the returned string's copy, and the id it sets is well formed and new.
func TestAssignRequestIDAllocations(t *testing.T) {
	app := fiber.New()
	var fctx fasthttp.RequestCtx
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	seen := map[string]bool{}
	allocs := testing.AllocsPerRun(100, func() {
		c.Request().Header.Del(HeaderRequestID)
		id := AssignRequestID(c)
		if len(id) != requestIDLen || !validRequestIDBytes([]byte(id)) || seen[id] {
			t.Fatalf("id %q: want %d fresh characters of [0-9a-f-]", id, requestIDLen)
		}
		seen[id] = true
	})
	if allocs > 1 {
		t.Errorf("AssignRequestID without an incoming id: %.0f allocations, want 1 (the returned string)", allocs)
	}
}
