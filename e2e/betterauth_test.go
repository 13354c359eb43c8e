package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBetterAuthServerRestarts checks the dev server's own start-up rules on
// one database: switching BETTER_AUTH_JWT_ALG takes effect (Better Auth alone
// would keep signing with the old key), the old key stays published, and a
// changed BETTER_AUTH_SECRET stops the server with a message naming it
// instead of failing every /token call later.
func TestBetterAuthServerRestarts(t *testing.T) {
	requireEnv(t)
	db := createDatabase(t, "gatehouse_e2e_ba_"+randomHex(t, 4))
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	secret := randomBase64(t, 32)
	envFor := func(alg, secret string) []string {
		return []string{
			"BETTER_AUTH_URL=" + base, "BETTER_AUTH_SECRET=" + secret, "AUTH_DATABASE_URL=" + db,
			"BETTER_AUTH_JWT_ALG=" + alg, "HOST=127.0.0.1", "PORT=" + port,
		}
	}
	server := filepath.Join(env.betterAuth, "server.mjs")
	start := func(alg, secret string) *proc {
		p := startProc(t, "better-auth "+alg, "node", []string{server}, envFor(alg, secret))
		waitReady(t, p, base+"/readyz")
		return p
	}

	p := start("EdDSA", secret)
	u := signUp(t, base, "Carol", false)
	edH, _ := decodeJWT(t, u.jwt(t))
	if edH.Alg != "EdDSA" {
		t.Fatalf("first token alg %s, want EdDSA", edH.Alg)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}

	p = start("RS256", secret)
	rsH, _ := decodeJWT(t, u.jwt(t)) // the session survives the restart
	if rsH.Alg != "RS256" || rsH.Kid == edH.Kid {
		t.Fatalf("after switching to RS256 the token header is %+v (before: %+v)", rsH, edH)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	expect(t, "JWKS", newClient(t, base, false).do("GET", "/api/auth/jwks", nil), http.StatusOK).json(t, &set)
	published := map[string]string{}
	for _, k := range set.Keys {
		published[k.Kid] = k.Alg
	}
	if published[edH.Kid] != "EdDSA" || published[rsH.Kid] != "RS256" {
		t.Fatalf("JWKS %v must publish the retired EdDSA key %s and the new RS256 key %s", published, edH.Kid, rsH.Kid)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}

	// Another secret cannot decrypt the stored private keys: refuse to start.
	cmd := exec.Command("node", server)
	cmd.Env = childEnv(envFor("RS256", randomBase64(t, 32)))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server with a wrong secret is still running after 30s; it should refuse to start")
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "BETTER_AUTH_SECRET: does not decrypt") {
		t.Fatalf("wrong secret: exit %d (%v), output:\n%s", code, err, out)
	}

	// And a bad setting is named before anything else happens.
	cmd = exec.Command("node", server)
	cmd.Env = childEnv(envFor("HS256", secret))
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "BETTER_AUTH_JWT_ALG: must be one of") {
		t.Fatalf("HS256: exit %d, output:\n%s", code, out)
	}
}
