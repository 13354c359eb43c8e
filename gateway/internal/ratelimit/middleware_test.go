package ratelimit

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"

	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gofiber/fiber/v2"
)

// testUserHeader stands in for authentication, which is tested in its own
// package: the app stores its value where the verified sub would be.
const testUserHeader = "X-Test-User"

// serve runs handlers in a Fiber app on a real 127.0.0.1 socket and returns
// its base URL. The app answers 200 "ok" after the handlers.
// writeProblem is the test apps' error handler: the gateway's writes
// problems the same way.
func writeProblem(c *fiber.Ctx, err error) error {
	p, ok := err.(*problem.Details)
	if !ok {
		p, _ = problem.FromFiber(err)
	}
	return problem.Write(c, p)
}

func serve(t *testing.T, handlers ...fiber.Handler) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: writeProblem})
	app.Use(func(c *fiber.Ctx) error {
		if u := c.Get(testUserHeader); u != "" {
			c.Locals("user_id", u)
		}
		return c.Next()
	})
	for _, h := range handlers {
		app.Use(h)
	}
	app.Get("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return "http://" + ln.Addr().String()
}

type result struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

var client = &http.Client{Timeout: 5 * time.Second}

// get sends GET base+path with the given header pairs.
func get(t *testing.T, base, path string, headers ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, body, time.Since(start)}
}

func mustMemoryStore(t *testing.T) *Store {
	t.Helper()
	s, err := NewStore(Config{MaxKeys: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMiddlewareLimitsEachUser(t *testing.T) {
	lim := New("user", Rate{PerSecond: 0.1, Burst: 3}, mustMemoryStore(t))
	base := serve(t, lim.Middleware(Local("user_id"), HeadersAlways))

	for i, wantRemaining := range []int{2, 1, 0} {
		r := get(t, base, "/api/tasks", testUserHeader, "alice")
		if r.status != http.StatusOK {
			t.Fatalf("request %d of the burst: status %d", i+1, r.status)
		}
		if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"user";r=%d;t=`, wantRemaining); !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit %q, want prefix %q", i+1, got, want)
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"user";q=3;w=30` {
			t.Errorf("RateLimit-Policy %q", got)
		}
	}

	r := get(t, base, "/api/tasks", testUserHeader, "alice")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: status %d, want 429", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	if got := r.header.Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After %q, want 10 (one request per 10 s)", got)
	}
	if got := r.header.Get("RateLimit"); got != `"user";r=0;t=10` {
		t.Errorf("RateLimit %q", got)
	}
	var p problem.Details
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if p.Type != problem.TypePrefix+"rate-limited" || p.Status != 429 || p.Title != "Too Many Requests" || !strings.Contains(p.Detail, "10 s") {
		t.Errorf("problem %+v", p)
	}
	if strings.Contains(string(r.body), "alice") {
		t.Errorf("429 body repeats the key: %s", r.body)
	}

	// Another user has a bucket of their own.
	if r := get(t, base, "/api/tasks", testUserHeader, "bob"); r.status != http.StatusOK {
		t.Fatalf("bob after alice was limited: status %d", r.status)
	}
	// No key: not this limiter's business (authentication refuses those).
	for range 5 {
		r := get(t, base, "/api/tasks")
		if r.status != http.StatusOK || r.header.Get("RateLimit") != "" {
			t.Fatalf("anonymous request: status %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
		}
	}
}

func TestMiddlewareHeadersOnlyOnRefusal(t *testing.T) {
	// The default: allowed responses carry no RateLimit headers, the 429
	// carries both with Retry-After.
	lim := New("user", Rate{PerSecond: 0.1, Burst: 2}, mustMemoryStore(t))
	base := serve(t, lim.Middleware(Local("user_id"), HeadersOnRefusal))
	for i := range 2 {
		r := get(t, base, "/api/tasks", testUserHeader, "alice")
		if r.status != http.StatusOK {
			t.Fatalf("request %d of the burst: status %d", i+1, r.status)
		}
		if r.header.Get("RateLimit") != "" || r.header.Get("RateLimit-Policy") != "" {
			t.Fatalf("allowed request %d: RateLimit %q, RateLimit-Policy %q, want none", i+1, r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"))
		}
	}
	r := get(t, base, "/api/tasks", testUserHeader, "alice")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: status %d, want 429", r.status)
	}
	if got := r.header.Get("RateLimit"); got != `"user";r=0;t=10` {
		t.Errorf("RateLimit %q", got)
	}
	if got := r.header.Get("RateLimit-Policy"); got != `"user";q=2;w=20` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := r.header.Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After %q", got)
	}
}

func TestMiddlewareRefills(t *testing.T) {
	lim := New("user", Rate{PerSecond: 20, Burst: 1}, mustMemoryStore(t))
	base := serve(t, lim.Middleware(Local("user_id"), HeadersAlways))
	if r := get(t, base, "/", testUserHeader, "u"); r.status != http.StatusOK {
		t.Fatalf("first: %d", r.status)
	}
	if r := get(t, base, "/", testUserHeader, "u"); r.status != http.StatusTooManyRequests {
		t.Fatalf("second at once: %d, want 429", r.status)
	} else if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q: a wait under a second is still announced as 1", r.header.Get("Retry-After"))
	}
	time.Sleep(60 * time.Millisecond) // > 1/20 s
	if r := get(t, base, "/", testUserHeader, "u"); r.status != http.StatusOK {
		t.Fatalf("after one interval: %d, want 200", r.status)
	}
}

func TestMiddlewareDisabledRate(t *testing.T) {
	lim := New("user", Rate{PerSecond: 0, Burst: 5}, mustMemoryStore(t))
	base := serve(t, lim.Middleware(Local("user_id"), HeadersAlways))
	for i := range 20 {
		r := get(t, base, "/", testUserHeader, "u")
		if r.status != http.StatusOK || r.header.Get("RateLimit-Policy") != "" {
			t.Fatalf("request %d with the limit off: status %d, RateLimit-Policy %q", i, r.status, r.header.Get("RateLimit-Policy"))
		}
	}
}

func TestPerAddressLimitIgnoresSpoofedForwardedFor(t *testing.T) {
	// The attack: a brute-forcer on /api/auth/* writes a new
	// X-Forwarded-For per request, hoping each one gets a fresh limit.
	spoofed := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256) }
	rate := Rate{PerSecond: 0.1, Burst: 3}

	t.Run("direct, the address ignores the header", func(t *testing.T) {
		lim := New("ip", rate, mustMemoryStore(t))
		base := serve(t, lim.Middleware(Address(clientip.Resolver{}), HeadersOnRefusal))
		allowed := 0
		for i := range 10 {
			if get(t, base, "/api/auth/sign-in/email", "X-Forwarded-For", spoofed(i)).status == http.StatusOK {
				allowed++
			}
		}
		if allowed != 3 {
			t.Fatalf("%d of 10 spoofed requests allowed, want the burst of 3", allowed)
		}
	})

	t.Run("behind one proxy, Address takes the address it appended", func(t *testing.T) {
		lim := New("ip", rate, mustMemoryStore(t))
		base := serve(t, lim.Middleware(Address(clientip.Resolver{Hops: 1}), HeadersOnRefusal))
		allowed := 0
		for i := range 10 {
			// The proxy appends the address it saw after the client's lie.
			if get(t, base, "/api/auth/sign-in/email", "X-Forwarded-For", spoofed(i)+", 198.51.100.7").status == http.StatusOK {
				allowed++
			}
		}
		if allowed != 3 {
			t.Fatalf("%d of 10 spoofed requests allowed, want the burst of 3", allowed)
		}
		// The same lie in a second header line changes nothing either.
		r := get(t, base, "/api/auth/sign-in/email", "X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "198.51.100.7")
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("split header: status %d, want 429", r.status)
		}
		// Another real client is not affected.
		if r := get(t, base, "/api/auth/sign-in/email", "X-Forwarded-For", "198.51.100.8"); r.status != http.StatusOK {
			t.Fatalf("other client: status %d", r.status)
		}
	})

	t.Run("Address without the header falls back to the peer", func(t *testing.T) {
		lim := New("ip", rate, mustMemoryStore(t))
		base := serve(t, lim.Middleware(Address(clientip.Resolver{Hops: 2}), HeadersOnRefusal))
		statuses := []int{}
		for range 4 {
			statuses = append(statuses, get(t, base, "/", "X-Forwarded-For", "203.0.113.1").status)
		}
		if fmt.Sprint(statuses) != "[200 200 200 429]" {
			t.Fatalf("statuses %v: one entry for two hops must key on the peer, 127.0.0.1", statuses)
		}
	})
}
