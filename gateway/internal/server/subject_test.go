package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
)

// TestSubjectThatCannotTravelIsRefused: a validly signed token whose sub
// the X-User-ID header cannot carry verbatim (white space at an end, a
// control character) is a 401 at the gateway that says why, and nothing
// is forwarded: signed as it was, every request would fail at tasks-service,
// whose parser trims the header value before verifying.
func TestSubjectThatCannotTravelIsRefused(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	for _, sub := range []string{"alice ", " alice", "\u00a0alice", "ali\x7fce"} {
		h.tasks.reset()
		tok := testissuer.Mint(h.key, h.iss.Claims(sub, time.Now()))
		resp := h.do(t, req("GET", "/api/tasks", "Authorization: Bearer "+tok))
		if resp.status != http.StatusUnauthorized {
			t.Fatalf("sub %q: %d %s, want 401", sub, resp.status, resp.body)
		}
		if p := resp.problem(t); p["type"] != "urn:gatehouse:problem:invalid-token" {
			t.Fatalf("sub %q: problem %v", sub, p)
		}
		if wa := resp.header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "X-User-ID header cannot carry verbatim") {
			t.Fatalf("sub %q: WWW-Authenticate %q does not say why", sub, wa)
		}
		if n := len(h.tasks.requests()); n != 0 {
			t.Fatalf("sub %q: %d requests forwarded", sub, n)
		}
	}
}
