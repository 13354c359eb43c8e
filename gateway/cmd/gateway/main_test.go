package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gofiber/fiber/v2"
)

// TestRateLimitHooks drives the hooks main installs over a real socket: the
// per-address limit guards /api/auth/* only, the per-user limit keys on the
// verified sub, and a refusal is a 429 problem with Retry-After.
func TestRateLimitHooks(t *testing.T) {
	cfg := config.Config{RateLimit: ratelimit.Config{
		IP:      ratelimit.Rate{PerSecond: 0.01, Burst: 2},
		User:    ratelimit.Rate{PerSecond: 0.01, Burst: 3},
		MaxKeys: 1000,
	}}
	store, err := ratelimit.NewStore(cfg.RateLimit, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hooks := rateLimitHooks(cfg, store)

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	api := app.Group("/api", hooks.PerIP)
	api.All("/auth/*", func(c *fiber.Ctx) error { return c.SendString("auth") })
	api.All("/tasks", func(c *fiber.Ctx) error {
		c.Locals("user_id", c.Get("X-Test-Sub"))
		return c.Next()
	}, hooks.PerUser, func(c *fiber.Ctx) error { return c.SendString("tasks") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	base := "http://" + ln.Addr().String()

	get := func(path, sub string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-Test-Sub", sub)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	steps := []struct {
		desc, path, sub string
		want            int
	}{
		{"auth 1 within burst", "/api/auth/sign-in/email", "", 200},
		{"auth 2 within burst", "/api/auth/get-session", "", 200},
		{"auth 3 refused", "/api/auth/sign-in/email", "", 429},
		{"tasks not limited per address", "/api/tasks", "alice", 200},
		{"alice 2", "/api/tasks", "alice", 200},
		{"alice 3", "/api/tasks", "alice", 200},
		{"alice 4 refused", "/api/tasks", "alice", 429},
		{"bob has his own budget", "/api/tasks", "bob", 200},
	}
	for _, s := range steps {
		resp := get(s.path, s.sub)
		if resp.StatusCode != s.want {
			t.Fatalf("%s: status %d, want %d", s.desc, resp.StatusCode, s.want)
		}
		if s.want == 429 {
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: 429 without Retry-After or problem body: %v", s.desc, resp.Header)
			}
		}
	}
}

func TestIsAuthPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/auth": true, "/api/auth/sign-in/email": true, "/api/authx": false, "/api/tasks": false, "/api/u1/tasks": false,
	} {
		if got := isAuthPath(path); got != want {
			t.Errorf("isAuthPath(%q) = %v", path, got)
		}
	}
}
