package e2e

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNewKidUnderConcurrency retires Better Auth's signing keys in its
// database while it runs — what its rotationInterval does when a key
// expires — so the next tokens carry a kid the gateway has never seen, and
// sends 50 requests with such tokens at once: every one must pass (issue 16:
// 1 x 200 and 9 x 401 before), through the one JWKS refetch they share. The
// requests go to a gateway of their own whose background refresh is an hour
// away, so only that refetch can teach it the new kid.
func testNewKidUnderConcurrency(t *testing.T, s *stack, users ...*user) {
	gatewayURL := startGateway(t, s, s.tasksURL, "JWKS_REFRESH_INTERVAL=1h")
	const n = 50
	// n kept-alive connections, so that the n requests reach the gateway
	// together rather than one TCP handshake apart.
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	oldToken := users[0].jwt(t)
	if statuses, bodies := burst(client, gatewayURL+"/api/tasks", n, []string{oldToken}); statuses[0] != http.StatusOK {
		t.Fatalf("warm-up with the current kid: %d %s", statuses[0], bodies[0])
	}

	s.retireSigningKeys(t)
	var tokens []string
	for _, u := range users {
		tok := u.jwt(t)
		if kid := jwtKid(t, tok); kid == jwtKid(t, oldToken) {
			t.Fatalf("kid unchanged after the keys were retired: %s", kid)
		}
		tokens = append(tokens, tok)
	}
	statuses, bodies := burst(client, gatewayURL+"/api/tasks", n, tokens)
	failed := 0
	for i, st := range statuses {
		if st != http.StatusOK {
			failed++
			if failed <= 3 {
				t.Errorf("request %d with the new kid: %d %s", i, st, bodies[i])
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d concurrent requests with a new kid failed", failed, n)
	}
	// The stack's own gateway knows the new kid too (by its background
	// refresh or this request's refetch) before the next subtests stop
	// Better Auth.
	expect(t, "the stack's gateway with the new kid", newClient(t, s.gatewayURL, false).withBearer(tokens[0]).do("GET", "/api/tasks", nil), http.StatusOK)
}

// startGateway starts one more gateway in front of s's Better Auth and the
// tasks-service at tasksURL, with extraEnv, and returns its URL once it is
// ready.
func startGateway(t *testing.T, s *stack, tasksURL string, extraEnv ...string) string {
	t.Helper()
	port := freePort(t)
	envv := []string{
		"GATEWAY_ADDR=127.0.0.1:" + port,
		"BETTER_AUTH_URL=" + s.authURL,
		"TASKS_SERVICE_URL=" + tasksURL,
		"IDENTITY_KEYS=" + s.identityKeys,
		"RATE_LIMIT_USER_RPS=200", "RATE_LIMIT_USER_BURST=1000",
		"RATE_LIMIT_IP_RPS=200", "RATE_LIMIT_IP_BURST=1000",
	}
	if s.cfg.publicIssuer {
		envv = append(envv, "JWT_ISSUER="+s.issuer, "JWT_AUDIENCE="+s.issuer)
	}
	p := startProc(t, "gateway (JWKS refresh "+strings.Join(extraEnv, " ")+")", filepath.Join(env.binDir, "gateway"), nil, append(envv, extraEnv...))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s log (last lines) ----\n%s", p.name, p.tail(40))
		}
	})
	url := "http://127.0.0.1:" + port
	waitReady(t, p, url+"/readyz")
	return url
}

// burst sends n GET requests to url at once, with the tokens in turn, and
// returns each status and, for a failure, its body or error.
func burst(client *http.Client, url string, n int, tokens []string) (statuses []int, bodies []string) {
	statuses, bodies = make([]int, n), make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
			<-start
			resp, err := client.Do(req)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if resp.StatusCode != http.StatusOK {
				bodies[i] = string(b)
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses, bodies
}

// retireSigningKeys expires every live signing key in Better Auth's
// database, as deploy/better-auth's retireSigningKeys does at start; the
// running server mints a new key (new kid) for the next token and keeps the
// old ones in its JWKS.
func (s *stack) retireSigningKeys(t *testing.T) {
	t.Helper()
	db := s.authDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := db.ExecContext(ctx, `UPDATE "jwks" SET "expiresAt" = now() WHERE "expiresAt" IS NULL OR "expiresAt" > now()`)
	if err != nil {
		t.Fatalf("retire Better Auth's signing keys: %v", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("Better Auth had no live signing key to retire")
	}
}
