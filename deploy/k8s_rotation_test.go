package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// The IDENTITY_KEYS rotation in deploy/README.md, replayed with the real
// signer and verifier: during each step's rollout, old and new gateway pods
// talk to old and new tasks-service pods in every combination, and every
// request must verify. Collapsing steps 1 and 2 must not.
func TestK8sIdentityKeyRotationProcedure(t *testing.T) {
	key := func() string {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	old, fresh := "k1:"+key(), "k2:"+key()
	steps := []string{
		old,               // 0: now
		old + "," + fresh, // 1: add the new key second
		fresh + "," + old, // 2: move it first
		fresh,             // 3: remove the old key
	}

	req := identity.Request{Method: "GET", Target: "/api/tasks?limit=5", UserID: "u_8d7b1f0c2a", BodySHA256: identity.HashBody(nil)}
	now := time.Unix(1_800_000_000, 0)
	// verifies reports whether a gateway with gatewayKeys reaches a
	// tasks-service with tasksKeys.
	verifies := func(gatewayKeys, tasksKeys string) error {
		gw, err := identity.ParseKeys(gatewayKeys)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := identity.ParseKeys(tasksKeys)
		if err != nil {
			t.Fatal(err)
		}
		return identity.NewVerifier(ts, 30*time.Second).Verify(gw.Sign(req, now), req, now)
	}

	for i := 1; i < len(steps); i++ {
		before, after := steps[i-1], steps[i]
		for _, gw := range []string{before, after} {
			for _, ts := range []string{before, after} {
				if err := verifies(gw, ts); err != nil {
					t.Errorf("step %d rollout: gateway keys %s -> tasks-service keys %s: %s", i, keyIDs(gw), keyIDs(ts), identity.Reason(err))
				}
			}
		}
	}

	// The shortcut the README warns about: step 0 straight to step 2. A new
	// gateway signing with k2 meets an old tasks-service that only knows k1.
	err := verifies(steps[2], steps[0])
	if !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("new gateway -> old tasks-service after skipping step 1: err = %v, want ErrUnknownKey", err)
	}
}

// keyIDs names the keys of an IDENTITY_KEYS value, never the secrets.
func keyIDs(s string) string {
	kr, err := identity.ParseKeys(s)
	if err != nil {
		return "?"
	}
	return strings.Join(kr.IDs(), ",")
}
