package api_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// TestIdentityIsRequired tries each way to forge or replay the gateway's
// assertion; every one is a 401 problem and a log line with the reason, and
// none reaches the data.
func TestIdentityIsRequired(t *testing.T) {
	srv := newServer(t)
	victim := srv.newUser(t)
	if r := victim.do("POST", "/api/tasks", map[string]any{"title": "victim's"}); r.status != 201 {
		t.Fatalf("setup: %d", r.status)
	}
	otherKeys, _ := identity.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	body := []byte(`{"title":"x"}`)
	sign := func(kr *identity.Keyring, method, target, user string, b []byte, at time.Time) string {
		return kr.Sign(identity.Request{Method: method, Target: target, UserID: user, BodySHA256: identity.HashBody(b)}, at)
	}
	now := time.Now()
	const taskPath = "/api/tasks/00000000-0000-4000-8000-000000000000"
	cases := []struct {
		desc      string
		method    string
		target    string
		body      []byte
		userID    string
		signature string
		reason    string
	}{
		{"no headers", "GET", "/api/tasks", nil, "", "", "missing"},
		{"user id without signature", "GET", "/api/tasks", nil, victim.id, "", "missing"},
		{"garbage signature", "GET", "/api/tasks", nil, victim.id, "v1,kid=k1,t=1,sig=AAAA", ""},
		{"unsupported version", "GET", "/api/tasks", nil, victim.id, strings.Replace(sign(testKeys, "GET", "/api/tasks", victim.id, nil, now), "v1", "v2", 1), ""},
		{"signed by an unknown key", "GET", "/api/tasks", nil, victim.id, sign(otherKeys, "GET", "/api/tasks", victim.id, nil, now), ""},
		{"stale", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now.Add(-time.Minute)), ""},
		{"from the future", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now.Add(time.Minute)), ""},
		{"signed for another user", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", "attacker", nil, now), ""},
		{"signed for another path", "GET", "/api/tasks?status=all", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now), ""},
		{"signed for another method", "DELETE", taskPath, nil, victim.id, sign(testKeys, "GET", taskPath, victim.id, nil, now), ""},
		{"body swapped", "POST", "/api/tasks", []byte(`{"title":"evil"}`), victim.id, sign(testKeys, "POST", "/api/tasks", victim.id, body, now), ""},
		{"openapi needs identity too", "GET", "/openapi.json", nil, "", "", "missing"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.base+c.target, bytes.NewReader(c.body))
			if c.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if c.userID != "" {
				req.Header.Set(identity.HeaderUserID, c.userID)
			}
			if c.signature != "" {
				req.Header.Set(identity.HeaderSignature, c.signature)
			}
			before := strings.Count(srv.logs.String(), "identity assertion rejected")
			r := send(t, req, c.body, true)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", r.status, r.body)
			}
			r.problem(t)
			if strings.Contains(string(r.body), "victim's") {
				t.Error("401 body leaks data")
			}
			logs := srv.logs.String()
			if strings.Count(logs, "identity assertion rejected") != before+1 {
				t.Errorf("no log line for the rejection")
			}
			if c.reason != "" && !strings.Contains(logs, `"reason":"`+c.reason) {
				t.Errorf("log lacks reason %q: %s", c.reason, logs)
			}
		})
	}
	// The victim's data is intact and the open routes stay open.
	var list struct{ Items []map[string]any }
	victim.do("GET", "/api/tasks", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("victim has %d tasks, want 1", len(list.Items))
	}
	for _, open := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.base + open)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", open, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `http_requests_total{method="GET",route="/api/tasks",service="tasks-service",status="200"}`) {
		t.Errorf("/metrics lacks the request counter of GET /api/tasks:\n%.2000s", metrics)
	}
}
