package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAnswersOutsideHandlers: what Fiber and fasthttp answer before any
// route runs — a method Fiber does not know, a request fasthttp cannot
// read — is a problem+json with the same security headers and
// X-Request-Id as every other answer (Fiber wrote "Invalid http method" as
// text/plain, and its parse-error answers had neither), and the metrics
// count such requests without taking a client's method or path as a label.
func TestAnswersOutsideHandlers(t *testing.T) {
	h := start(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	cases := []struct {
		desc   string
		raw    string
		status int
		typ    string
	}{
		{"unknown method", req("PROPFIND", "/api/tasks", bearer), http.StatusNotImplemented, "not-implemented"},
		{"made-up method", req("XYZZY", "/healthz"), http.StatusNotImplemented, "not-implemented"},
		{"lower-case get (methods are case-sensitive)", req("get", "/healthz"), http.StatusNotImplemented, "not-implemented"},
		{"malformed Content-Length", req("POST", "/api/tasks", bearer, "Content-Length: 12abc"), http.StatusBadRequest, "bad-request"},
		{"header line without a colon", "GET /healthz HTTP/1.1\r\nHost: gw\r\nno colon here\r\n\r\n", http.StatusBadRequest, "bad-request"},
		{"headers too large", req("GET", "/healthz", "X-Big: "+strings.Repeat("a", 64<<10)), http.StatusRequestHeaderFieldsTooLarge, "headers-too-large"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			resp := h.do(t, tc.raw)
			if resp.status != tc.status {
				t.Fatalf("%d %q, want %d", resp.status, resp.body, tc.status)
			}
			if p := resp.problem(t); p["type"] != "urn:gatehouse:problem:"+tc.typ || p["request_id"] == "" {
				t.Fatalf("problem %v, want type %s with a request id", p, tc.typ)
			}
			if id := resp.header.Get("X-Request-Id"); id == "" {
				t.Error("no X-Request-Id")
			}
			for name, want := range map[string]string{
				"X-Content-Type-Options":       "nosniff",
				"X-Frame-Options":              "DENY",
				"Referrer-Policy":              "no-referrer",
				"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
				"Cross-Origin-Resource-Policy": "same-site",
			} {
				if got := resp.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
	m := doAt(t, h.metricsAddr, req("GET", "/metrics"))
	if !strings.Contains(m.body, `method="OTHER",route="unmatched",service="gateway",status="501"} 3`) {
		t.Errorf("metrics do not count unknown methods as OTHER, unmatched:\n%s", grepLines(m.body, "http_requests_total"))
	}
	for _, raw := range []string{"PROPFIND", "XYZZY", `method="get"`, "/api/tasks\",status=\"501"} {
		if strings.Contains(m.body, raw) {
			t.Errorf("a client's bytes became a metric label: %s", raw)
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
