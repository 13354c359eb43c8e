package server_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/pkg/testenv"
)

// randomLoopback returns an address in 127.0.0.0/8 that no earlier run used
// (the Redis state of an address outlives a test run).
func randomLoopback() string {
	return fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 2+rand.IntN(252))
}

// doFrom sends raw from the loopback address from and reads one response.
func doFrom(t *testing.T, from, addr, raw string) response {
	t.Helper()
	c := dialFrom(t, from, addr)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s from %s: %v", requestLine(raw), from, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// TestFailedAuthenticationIsRateLimited is issue 15's "failed
// authentication is free": forged tokens from one address. Each failure
// draws from the address's budget (RATE_LIMIT_AUTH_FAILURE_BURST=5 here);
// past it the address gets 429 problem+json with Retry-After before any
// signature is checked — a valid token the gateway has not seen before is
// refused too, unverified, and so is an invitation to upload (Expect:
// 100-continue) — while a token it verified earlier keeps working, and
// another address is unaffected. With the state in memory and in Redis,
// where a second replica shares the budget.
func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			env := map[string]string{
				"RATE_LIMIT_AUTH_FAILURE_RPS":   "0.01",
				"RATE_LIMIT_AUTH_FAILURE_BURST": "5",
				"RATE_LIMIT_USER_RPS":           "1000",
				"RATE_LIMIT_USER_BURST":         "1000",
			}
			if store == "redis" {
				env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
			}
			cfg, err := config.Load(settings.MapEnv(map[string]string{
				"BETTER_AUTH_URL": "http://127.0.0.1:1", "IDENTITY_KEYS": "k1:" + randomKey(t),
				"RATE_LIMIT_AUTH_FAILURE_RPS": env["RATE_LIMIT_AUTH_FAILURE_RPS"], "RATE_LIMIT_AUTH_FAILURE_BURST": env["RATE_LIMIT_AUTH_FAILURE_BURST"],
				"RATE_LIMIT_USER_RPS": env["RATE_LIMIT_USER_RPS"], "RATE_LIMIT_USER_BURST": env["RATE_LIMIT_USER_BURST"],
				"REDIS_URL": env["REDIS_URL"],
			}))
			if err != nil {
				t.Fatal(err)
			}
			limits, err := ratelimit.NewStore(cfg.RateLimit, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer limits.Close()
			if store == "redis" && limits.Degraded() {
				testenv.Missing(t, "no Redis at 127.0.0.1:6379")
			}
			h := startWith(t, env, server.RateLimitHooks(cfg, limits), slog.New(slog.DiscardHandler))
			h.waitReady(t)
			attacker, other := randomLoopback(), randomLoopback()
			known := "Authorization: Bearer " + h.token("alice")
			// alice's token is verified once, from her own address.
			if r := doFrom(t, other, h.addr, req("GET", "/api/tasks", known)); r.status != 200 {
				t.Fatalf("valid token: %d %s", r.status, r.body)
			}

			forgedReq := req("GET", "/api/tasks", "Authorization: Bearer "+forged(h.token("mallory")))
			for i := range 5 {
				r := doFrom(t, attacker, h.addr, forgedReq)
				if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
					t.Fatalf("forged token %d: %d %q, want 401 invalid_token", i+1, r.status, r.header.Get("WWW-Authenticate"))
				}
			}
			refused := func(what, raw string) {
				t.Helper()
				r := doFrom(t, attacker, h.addr, raw)
				if r.status != 429 || r.header.Get("Retry-After") == "" {
					t.Fatalf("%s over the budget: %d Retry-After %q, want 429 with Retry-After", what, r.status, r.header.Get("Retry-After"))
				}
				if p := r.problem(t); p["type"] != problem.TypePrefix+"rate-limited" || p["status"] != float64(429) {
					t.Fatalf("%s: problem %v", what, p)
				}
				if !strings.Contains(r.header.Get("Ratelimit-Policy"), `"auth-failure"`) {
					t.Fatalf("%s: RateLimit-Policy %q", what, r.header.Get("Ratelimit-Policy"))
				}
			}
			refused("forged token", forgedReq)
			refused("a valid token never verified before", req("GET", "/api/tasks", "Authorization: Bearer "+h.token("bob")))
			refused("a malformed token", req("GET", "/api/tasks", "Authorization: Bearer x.y.z"))

			// Expect: 100-continue with a fresh valid token: no invitation.
			c := dialFrom(t, attacker, h.addr)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, req("POST", "/api/tasks", "Authorization: Bearer "+h.token("carol"), "Content-Length: 10", "Expect: 100-continue")); err != nil {
				t.Fatal(err)
			}
			if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 417") {
				t.Fatalf("Expect: 100-continue over the budget: %q, want 417", line)
			}

			// The token verified before still works from the attacker's
			// address; a request without a token is the usual 401.
			if r := doFrom(t, attacker, h.addr, req("GET", "/api/tasks", known)); r.status != 200 {
				t.Fatalf("a token verified before, from the address over its budget: %d %s", r.status, r.body)
			}
			if r := doFrom(t, attacker, h.addr, req("GET", "/api/tasks")); r.status != 401 {
				t.Fatalf("no token, from the address over its budget: %d", r.status)
			}
			// A second replica: with the state in Redis it knows the
			// attacker's failures; with its own memory it does not.
			limits2, err := ratelimit.NewStore(cfg.RateLimit, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer limits2.Close()
			h2 := startWith(t, env, server.RateLimitHooks(cfg, limits2), slog.New(slog.DiscardHandler))
			h2.waitReady(t)
			want := map[string]int{"redis": 429, "memory": 401}[store]
			if r := doFrom(t, attacker, h2.addr, forgedReq); r.status != want {
				t.Fatalf("forged token at a second replica: %d, want %d", r.status, want)
			}

			// Another address keeps its own budget.
			if r := doFrom(t, other, h.addr, forgedReq); r.status != 401 {
				t.Fatalf("forged token from another address: %d, want 401", r.status)
			}
			if r := doFrom(t, other, h.addr, req("GET", "/api/tasks", "Authorization: Bearer "+h.token("dave"))); r.status != 200 {
				t.Fatalf("new valid token from another address: %d %s", r.status, r.body)
			}
		})
	}
}
