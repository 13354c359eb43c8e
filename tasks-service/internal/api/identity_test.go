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
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
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
	// unknownKid signs with a kid the service does not hold; sameKid with
	// the service's kid and another secret.
	unknownKid, _ := identity.ParseKeys("k9:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	sameKid, _ := identity.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	body := []byte(`{"title":"x"}`)
	sign := func(kr *identity.Keyring, method, target, user string, b []byte, at time.Time) string {
		return kr.Sign(identity.Request{Method: method, Target: target, UserID: user, BodySHA256: identity.HashBody(b)}, at)
	}
	now := time.Now()
	long := strings.Repeat("u", identity.MaxUserIDBytes+1)
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
		{"garbage signature", "GET", "/api/tasks", nil, victim.id, "v1,kid=k1,t=1,sig=AAAA", "malformed"},
		{"unsupported version", "GET", "/api/tasks", nil, victim.id, strings.Replace(sign(testKeys, "GET", "/api/tasks", victim.id, nil, now), "v1", "v2", 1), "unsupported_version"},
		{"signed by an unknown key", "GET", "/api/tasks", nil, victim.id, sign(unknownKid, "GET", "/api/tasks", victim.id, nil, now), "unknown_key"},
		{"signed by another key under the service's kid", "GET", "/api/tasks", nil, victim.id, sign(sameKid, "GET", "/api/tasks", victim.id, nil, now), "bad_signature"},
		{"stale", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now.Add(-time.Minute)), "stale"},
		{"from the future", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now.Add(time.Minute)), "stale"},
		{"signed for another user", "GET", "/api/tasks", nil, victim.id, sign(testKeys, "GET", "/api/tasks", "attacker", nil, now), "bad_signature"},
		{"user id too long", "GET", "/api/tasks", nil, long, sign(testKeys, "GET", "/api/tasks", long, nil, now), "bad_user_id"},
		{"signed for another path", "GET", "/api/tasks?status=all", nil, victim.id, sign(testKeys, "GET", "/api/tasks", victim.id, nil, now), "bad_signature"},
		{"signed for another method", "DELETE", taskPath, nil, victim.id, sign(testKeys, "GET", taskPath, victim.id, nil, now), "bad_signature"},
		{"body swapped", "POST", "/api/tasks", []byte(`{"title":"evil"}`), victim.id, sign(testKeys, "POST", "/api/tasks", victim.id, body, now), "bad_signature"},
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
			srv.mustReject(t, req, c.body, c.reason)
		})
	}
	// Every bit of an otherwise valid signature counts: a MAC compared on
	// its first bytes only would let some of these through.
	t.Run("one signature byte altered", func(t *testing.T) {
		good := sign(testKeys, "GET", "/api/tasks", victim.id, nil, time.Now())
		a, err := identity.Parse(good)
		if err != nil {
			t.Fatal(err)
		}
		prefix := good[:strings.Index(good, "sig=")+len("sig=")]
		for i := range a.Sig {
			sig := append([]byte(nil), a.Sig...)
			sig[i] ^= 0x01
			req, _ := http.NewRequest("GET", srv.base+"/api/tasks", nil)
			req.Header.Set(identity.HeaderUserID, victim.id)
			req.Header.Set(identity.HeaderSignature, prefix+base64.RawURLEncoding.EncodeToString(sig))
			srv.mustReject(t, req, nil, "bad_signature")
		}
	})
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

// mustReject sends req and checks that it is refused as an unsigned request
// is: 401 problem+json with the identity challenge, no task data, and
// exactly one new "identity assertion rejected" log line with reason.
func (s *server) mustReject(t *testing.T, req *http.Request, raw []byte, reason string) {
	t.Helper()
	before := len(s.logs.Records(t, "identity assertion rejected"))
	r := send(t, req, raw, true)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", r.status, r.body)
	}
	if p := r.problem(t); p.Type != problem.TypePrefix+"unauthenticated" {
		t.Errorf("problem type %q", p.Type)
	}
	if ch := r.header.Get("WWW-Authenticate"); ch != `Gatehouse-Identity realm="tasks-service"` {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	if strings.Contains(string(r.body), "victim's") {
		t.Error("401 body leaks data")
	}
	recs := s.logs.Records(t, "identity assertion rejected")
	if len(recs) != before+1 {
		t.Fatalf("%d new log lines for the rejection, want 1", len(recs)-before)
	}
	if got := recs[before]["reason"]; got != reason {
		t.Errorf("logged reason %q, want %q", got, reason)
	}
}
