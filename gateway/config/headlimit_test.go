package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// TestHeadFitsTasksService: whatever Load accepts, the largest client head
// the gateway reads, plus what it adds (proxy.MaxAddedHeadBytes, measured
// by TestAddedHeadBytes) and the tasks service's host and base path, fits
// the identity.MaxHeadBytes every internal service reads. The gateway
// used to read 16 KiB + JWT_MAX_BYTES (up to 64 KiB) and forward heads the
// tasks service answered with 431.
func TestHeadFitsTasksService(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HeadLimit != 16<<10+8<<10 {
		t.Errorf("default head limit %d, want 16 KiB + the default JWT_MAX_BYTES", c.HeadLimit)
	}
	// The largest token and the longest TASKS_SERVICE_URL accepted.
	longest := func(n int) string { return "http://" + strings.Repeat("h", 10) + "/" + strings.Repeat("p", n-11) }
	fits := 0
	for n := 900; n <= 1100; n++ {
		c, err := config.Load(env(map[string]string{"JWT_MAX_BYTES": "14336", "TASKS_SERVICE_URL": longest(n)}))
		if err != nil {
			if !strings.Contains(err.Error(), "TASKS_SERVICE_URL") {
				t.Fatalf("host and path of %d bytes: %v, want an error naming TASKS_SERVICE_URL", n, err)
			}
			continue
		}
		fits = n
		if head := c.HeadLimit + proxy.MaxAddedHeadBytes + len(c.TasksURL.Host) + len(c.TasksURL.EscapedPath()); head > identity.MaxHeadBytes {
			t.Fatalf("JWT_MAX_BYTES=14336, host and path of %d bytes: the gateway may forward a %d-byte head, more than the %d the tasks service reads", n, head, identity.MaxHeadBytes)
		}
	}
	if fits == 0 {
		t.Fatal("no TASKS_SERVICE_URL of 900 to 1100 bytes accepted with the largest token")
	}
	for _, n := range []string{"14337", "65536"} {
		if _, err := config.Load(env(map[string]string{"JWT_MAX_BYTES": n})); err == nil || !strings.Contains(err.Error(), "JWT_MAX_BYTES") {
			t.Errorf("JWT_MAX_BYTES=%s: %v, want an error naming it", n, err)
		}
	}
}
