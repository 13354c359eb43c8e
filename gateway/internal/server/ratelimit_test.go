package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// TestRateLimitHooks runs the gateway with the hooks cmd/gateway installs, over
// real sockets: the per-address limit guards /api/auth/* only, the per-user
// limit keys on the verified sub (not on anything the client writes), and a
// refusal is a 429 problem with Retry-After.
func TestRateLimitHooks(t *testing.T) {
	key := testissuer.NewKey(jwa.EdDSA, "k1")
	iss := testissuer.Start(key)
	defer iss.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "{}")
	}))
	defer ok.Close()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg, err := config.Load(settings.MapEnv(map[string]string{
		"BETTER_AUTH_URL":       iss.URL,
		"TASKS_SERVICE_URL":     ok.URL,
		"AUTH_UPSTREAM_URL":     ok.URL,
		"IDENTITY_KEYS":         "k:" + base64.StdEncoding.EncodeToString(secret),
		"RATE_LIMIT_IP_RPS":     "0.01",
		"RATE_LIMIT_IP_BURST":   "2",
		"RATE_LIMIT_USER_RPS":   "0.01",
		"RATE_LIMIT_USER_BURST": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := ratelimit.NewStore(cfg.RateLimit, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	g, err := server.New(cfg, log, server.RateLimitHooks(cfg, store))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	tokens := map[string]string{
		"alice": testissuer.Mint(key, iss.Claims("alice", time.Now())),
		"bob":   testissuer.Mint(key, iss.Claims("bob", time.Now())),
	}

	get := func(path, user string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if user != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[user])
		}
		// Neither a claimed identity nor a forwarded address may buy a
		// fresh budget.
		req.Header.Set("X-User-ID", "mallory-"+path)
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('0'+len(path)%10)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for !g.Keys.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	steps := []struct {
		desc, path, user string
		want             int
	}{
		{"auth 1 within burst", "/api/auth/sign-in/email", "", 200},
		{"auth 2 within burst", "/api/auth/get-session", "", 200},
		{"auth 3 refused", "/api/auth/sign-in/email", "", 429},
		{"tasks not limited per address", "/api/tasks", "alice", 200},
		{"alice 2", "/api/tasks/1", "alice", 200},
		{"alice 3", "/api/alice/tasks", "alice", 200},
		{"alice 4 refused", "/api/tasks", "alice", 429},
		{"bob has his own budget", "/api/tasks", "bob", 200},
		{"no token: 401 before any budget is spent", "/api/tasks", "", 401},
	}
	for _, s := range steps {
		resp := get(s.path, s.user)
		if resp.StatusCode != s.want {
			t.Fatalf("%s: status %d, want %d", s.desc, resp.StatusCode, s.want)
		}
		// RATE_LIMIT_HEADERS defaults to refused: only a 429 says RateLimit.
		switch limited := resp.Header.Get("RateLimit") != ""; {
		case s.want == 429:
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" || !limited {
				t.Fatalf("%s: 429 without Retry-After, RateLimit or problem body: %v", s.desc, resp.Header)
			}
		case limited:
			t.Fatalf("%s: %d with RateLimit %q", s.desc, resp.StatusCode, resp.Header.Get("RateLimit"))
		}
	}
}
