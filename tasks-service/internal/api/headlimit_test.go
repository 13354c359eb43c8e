package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// TestHeadLimit: the service reads every request head up to
// identity.MaxHeadBytes, the most the gateway forwards (it used to stop at
// fasthttp's default 4 KiB and answer 431 to requests the gateway had
// authenticated); a larger head is 431.
func TestHeadLimit(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	padded := func(size int) string {
		head := signedHead(u, "/api/tasks?limit=1", "/api/tasks?limit=1") + "\r\nX-Pad: "
		return head + strings.Repeat("p", size-len(head)-len("\r\n\r\n"))
	}
	if r := sendRaw(t, srv, padded(identity.MaxHeadBytes)); r.status != http.StatusOK {
		t.Errorf("a head of identity.MaxHeadBytes (%d): %d %.200s, want 200", identity.MaxHeadBytes, r.status, r.body)
	}
	if r := sendRaw(t, srv, padded(identity.MaxHeadBytes+1)); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a head one byte larger: %d %.200s, want 431", r.status, r.body)
	}
}
