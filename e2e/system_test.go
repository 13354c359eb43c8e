package e2e

import (
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// TestSystem runs the whole suite once per Better Auth configuration: the
// default Ed25519 keys with issuer = Better Auth URL, and RS256 keys with the
// gateway's public URL as issuer (the compose layout).
func TestSystem(t *testing.T) {
	for _, cfg := range []stackConfig{
		{alg: "EdDSA"},
		{alg: "RS256", publicIssuer: true},
	} {
		t.Run(cfg.alg, func(t *testing.T) { runSuite(t, cfg) })
	}
}

var opaqueID = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

type task struct {
	ID          string   `json:"id"`
	UserID      string   `json:"user_id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Completed   bool     `json:"completed"`
	CompletedAt *string  `json:"completed_at"`
	Priority    string   `json:"priority"`
	Tags        []string `json:"tags"`
	DueAt       *string  `json:"due_at"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	Version     int64    `json:"version"`
}

type taskList struct {
	Items      []task  `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func ids(tasks []task) []string {
	out := make([]string, len(tasks))
	for i, tk := range tasks {
		out[i] = tk.ID
	}
	return out
}

func runSuite(t *testing.T, cfg stackConfig) {
	s := startStack(t, cfg)
	alice := signUp(t, s.gatewayURL, "Alice", true) // browser: cookies
	bob := signUp(t, s.gatewayURL, "Bob", false)    // API client: bearer session token
	aliceJWT, bobJWT := alice.jwt(t), bob.jwt(t)
	aliceAPI := newClient(t, s.gatewayURL, false).withBearer(aliceJWT)
	bobAPI := newClient(t, s.gatewayURL, false).withBearer(bobJWT)

	t.Run("Better Auth issues the JWT the design describes", func(t *testing.T) {
		h, c := decodeJWT(t, aliceJWT)
		if h.Alg != cfg.alg {
			t.Errorf("alg = %q, want %q", h.Alg, cfg.alg)
		}
		// docs/token-contract.md: {"alg":...,"kid":"<32 chars>"} without typ, and
		// user ids are 32 opaque alphanumerics (not UUIDs).
		if len(h.Kid) != 32 {
			t.Errorf("kid %q has %d characters, want 32", h.Kid, len(h.Kid))
		}
		if h.Typ != "" {
			t.Errorf("typ = %q, want none", h.Typ)
		}
		if !opaqueID.MatchString(alice.id) {
			t.Errorf("user id %q is not 32 alphanumerics", alice.id)
		}
		if c.Sub != alice.id {
			t.Errorf("sub = %q, want the user id %q", c.Sub, alice.id)
		}
		if c.Iss != s.issuer {
			t.Errorf("iss = %q, want %q", c.Iss, s.issuer)
		}
		if c.Aud != s.issuer {
			t.Errorf("aud = %v, want %q", c.Aud, s.issuer)
		}
		if c.Exp-c.Iat != 15*60 {
			t.Errorf("exp - iat = %ds, want 900s", c.Exp-c.Iat)
		}
		jwks := expect(t, "JWKS through the gateway", newClient(t, s.gatewayURL, false).do("GET", "/api/auth/jwks", nil), http.StatusOK)
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				Alg string `json:"alg"`
				D   string `json:"d"`
				P   string `json:"p"`
			} `json:"keys"`
		}
		jwks.json(t, &set)
		found := false
		for _, k := range set.Keys {
			if k.D != "" || k.P != "" {
				t.Errorf("JWKS publishes private key material for kid %s", k.Kid)
			}
			found = found || (k.Kid == h.Kid && k.Alg == cfg.alg)
		}
		if !found {
			t.Errorf("kid %s with alg %s not in the JWKS %s", h.Kid, cfg.alg, jwks)
		}
	})

	t.Run("task API on canonical routes", func(t *testing.T) {
		testTaskAPI(t, aliceAPI, "/api/tasks", alice.id)
	})

	t.Run("task API on /api/{user_id}/tasks routes", func(t *testing.T) {
		testTaskAPI(t, bobAPI, "/api/"+url.PathEscape(bob.id)+"/tasks", bob.id)
	})

	t.Run("users never see each other's tasks", func(t *testing.T) {
		secret := createTask(t, aliceAPI, "/api/tasks", map[string]any{"title": "alice private " + randomHex(t, 3)})
		bobs := createTask(t, bobAPI, "/api/tasks", map[string]any{"title": "bob private " + randomHex(t, 3)})

		for _, base := range []string{"/api/tasks", "/api/" + url.PathEscape(bob.id) + "/tasks"} {
			var list taskList
			expect(t, "bob lists "+base, bobAPI.do("GET", base+"?limit=100", nil), http.StatusOK).json(t, &list)
			if slices.Contains(ids(list.Items), secret.ID) {
				t.Fatalf("bob's list at %s contains alice's task", base)
			}
			for _, tk := range list.Items {
				if tk.UserID != bob.id {
					t.Fatalf("bob's list at %s has a task of user %q", base, tk.UserID)
				}
			}
			if !slices.Contains(ids(list.Items), bobs.ID) {
				t.Fatalf("bob's list at %s misses his own task (the check above would prove nothing)", base)
			}
		}
		// Another user's task is indistinguishable from a missing one.
		other := "/api/tasks/" + secret.ID
		expectProblem(t, "bob reads alice's task", bobAPI.do("GET", other, nil), http.StatusNotFound)
		expectProblem(t, "bob patches alice's task", bobAPI.do("PATCH", other, map[string]any{"title": "pwned"}), http.StatusNotFound)
		expectProblem(t, "bob replaces alice's task", bobAPI.do("PUT", other, map[string]any{"title": "pwned", "priority": "low"}), http.StatusNotFound)
		expectProblem(t, "bob completes alice's task", bobAPI.do("PATCH", other+"/complete", nil), http.StatusNotFound)
		expectProblem(t, "bob deletes alice's task", bobAPI.do("DELETE", other, nil), http.StatusNotFound)
		missing := "/api/tasks/00000000-0000-4000-8000-000000000000"
		expectProblem(t, "bob reads a task that does not exist", bobAPI.do("GET", missing, nil), http.StatusNotFound)

		// Alice's path with Bob's token: 403, whatever the method.
		alicePath := "/api/" + url.PathEscape(alice.id) + "/tasks"
		expectProblem(t, "bob lists alice's path", bobAPI.do("GET", alicePath, nil), http.StatusForbidden)
		expectProblem(t, "bob creates on alice's path", bobAPI.do("POST", alicePath, map[string]any{"title": "planted"}), http.StatusForbidden)
		expectProblem(t, "bob reads via alice's path", bobAPI.do("GET", alicePath+"/"+secret.ID, nil), http.StatusForbidden)
		expectProblem(t, "bob deletes via alice's path", bobAPI.do("DELETE", alicePath+"/"+secret.ID, nil), http.StatusForbidden)

		// Nothing Bob did changed Alice's task.
		var after task
		expect(t, "alice reads her task", aliceAPI.do("GET", "/api/tasks/"+secret.ID, nil), http.StatusOK).json(t, &after)
		if after.Title != secret.Title || after.Version != secret.Version {
			t.Fatalf("alice's task changed: %+v -> %+v", secret, after)
		}
		var list taskList
		expect(t, "alice lists", aliceAPI.do("GET", "/api/tasks?limit=100", nil), http.StatusOK).json(t, &list)
		for _, tk := range list.Items {
			if strings.HasPrefix(tk.Title, "planted") || tk.UserID != alice.id {
				t.Fatalf("alice's list has %+v", tk)
			}
		}
	})

	t.Run("gateway rejects requests without a valid token", func(t *testing.T) {
		anon := newClient(t, s.gatewayURL, false)
		r := anon.do("GET", "/api/tasks", nil)
		expectProblem(t, "no token", r, http.StatusUnauthorized)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token: WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
		// A flipped signature byte.
		parts := strings.Split(aliceJWT, ".")
		sig := []byte(parts[2])
		if sig[5] == 'A' { // another valid base64url character: the bytes change, the format does not
			sig[5] = 'B'
		} else {
			sig[5] = 'A'
		}
		tampered := parts[0] + "." + parts[1] + "." + string(sig)
		cases := []struct {
			desc string
			r    response
		}{
			{"tampered signature", anon.withBearer(tampered).do("GET", "/api/tasks", nil)},
			{"claims of another user under alice's signature", anon.withBearer(parts[0]+"."+strings.Split(bobJWT, ".")[1]+"."+parts[2]).do("GET", "/api/tasks", nil)},
			{"alg none", anon.withBearer(b64json(`{"alg":"none","kid":"`+jwtKid(t, aliceJWT)+`"}`)+"."+parts[1]+".").do("GET", "/api/tasks", nil)},
			{"token in the query string", anon.do("GET", "/api/tasks?access_token="+url.QueryEscape(aliceJWT), nil)},
			{"session token instead of a JWT", anon.withBearer(bob.session.bearer).do("GET", "/api/tasks", nil)},
		}
		for _, tc := range cases {
			expectProblem(t, tc.desc, tc.r, http.StatusUnauthorized)
			if !strings.HasPrefix(tc.r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", tc.desc, tc.r.header.Get("WWW-Authenticate"))
			}
		}
		// The positive control: the untouched token works.
		expect(t, "valid token", anon.withBearer(aliceJWT).do("GET", "/api/tasks", nil), http.StatusOK)
	})

	t.Run("gateway strips client-supplied identity headers", func(t *testing.T) {
		bobs := createTask(t, bobAPI, "/api/tasks", map[string]any{"title": "bob only " + randomHex(t, 3)})
		kr, err := identity.ParseKeys(s.identityKeys)
		if err != nil {
			t.Fatal(err)
		}
		// Even a correctly signed assertion for Bob, sent by Alice, must be
		// replaced by the gateway with Alice's identity.
		forged := kr.Sign(identity.Request{Method: "GET", Target: "/api/tasks?limit=100", UserID: bob.id, BodySHA256: identity.HashBody(nil)}, time.Now())
		var list taskList
		expect(t, "alice with bob's identity headers", aliceAPI.do("GET", "/api/tasks?limit=100", nil,
			"X-User-ID", bob.id, "X_User_ID", bob.id, "X-Identity-Signature", forged,
			"Connection", "X-Forwarded-User"), http.StatusOK).json(t, &list)
		if slices.Contains(ids(list.Items), bobs.ID) {
			t.Fatal("spoofed X-User-ID reached tasks-service: alice sees bob's task")
		}
		for _, tk := range list.Items {
			if tk.UserID != alice.id {
				t.Fatalf("alice's list has a task of %q", tk.UserID)
			}
		}
	})

	t.Run("tasks-service rejects forged or missing identity", func(t *testing.T) {
		testDirectTasksService(t, s, alice.id)
	})

	t.Run("odd request-targets are verified as sent", func(t *testing.T) { testRawTargets(t, s, aliceJWT) })
	t.Run("the tasks service reads every head the gateway forwards", func(t *testing.T) { testHeadLimits(t, s, aliceJWT) })

	t.Run("one request is one trace from the client's traceparent into the SQL, with nothing secret", func(t *testing.T) {
		testOneTrace(t, s, alice, aliceJWT, cfg.alg)
	})

	t.Run("CORS and origins", func(t *testing.T) {
		anon := newClient(t, s.gatewayURL, false)
		r := anon.do("OPTIONS", "/api/tasks", nil, "Origin", trustedOrigin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
		if r.status >= 300 || r.header.Get("Access-Control-Allow-Origin") != trustedOrigin {
			t.Errorf("preflight from %s: %d, Access-Control-Allow-Origin %q", trustedOrigin, r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		evil := "https://evil.example"
		r = anon.do("OPTIONS", "/api/tasks", nil, "Origin", evil, "Access-Control-Request-Method", "POST")
		if got := r.header.Get("Access-Control-Allow-Origin"); got == evil || got == "*" {
			t.Errorf("preflight from %s allowed: Access-Control-Allow-Origin %q", evil, got)
		}
		// Better Auth itself refuses a sign-up posted from an untrusted origin.
		r = anon.do("POST", "/api/auth/sign-up/email",
			map[string]string{"email": "mallory-" + randomHex(t, 4) + "@example.com", "password": "correct-horse-battery", "name": "M"},
			"Origin", evil)
		if r.status != http.StatusForbidden {
			t.Errorf("sign-up from %s: status %d, want 403; %s", evil, r.status, r)
		}
	})

	t.Run("50 concurrent requests with a freshly rotated kid all pass", func(t *testing.T) {
		testNewKidUnderConcurrency(t, s, alice, bob)
	})

	t.Run("a database stall longer than the gateway's timeout: a clean 503, nothing written", func(t *testing.T) {
		testDatabaseStallThroughTheGateway(t, s, bob)
	})

	t.Run("a valid token keeps working while Better Auth is down", func(t *testing.T) {
		unused := alice.jwt(t) // never shown to the gateway: no verified-token cache can help
		s.stopBetterAuth()
		// Let background JWKS refreshes (every 1 s here) fail a few times.
		time.Sleep(2500 * time.Millisecond)
		expect(t, "a token the gateway has not seen, Better Auth down", newClient(t, s.gatewayURL, false).withBearer(unused).do("GET", "/api/tasks", nil), http.StatusOK)
		expect(t, "alice lists with Better Auth down", aliceAPI.do("GET", "/api/tasks", nil), http.StatusOK)
		created := createTask(t, bobAPI, "/api/tasks", map[string]any{"title": "written while auth is down"})
		if created.UserID != bob.id {
			t.Fatalf("created task belongs to %q", created.UserID)
		}
		r := newClient(t, s.gatewayURL, false).do("GET", "/api/auth/jwks", nil)
		if r.status < 500 {
			t.Errorf("/api/auth/jwks with Better Auth down: status %d, want a 5xx from the gateway", r.status)
		}
	})

	t.Run("after key rotation the new kid is accepted", func(t *testing.T) {
		s.startBetterAuth(true)
		fresh := alice.jwt(t) // the session survives the restart
		oldH, _ := decodeJWT(t, aliceJWT)
		newH, newC := decodeJWT(t, fresh)
		if newH.Kid == oldH.Kid {
			t.Fatalf("kid unchanged after rotation: %s", newH.Kid)
		}
		if newH.Alg != cfg.alg || newC.Sub != alice.id {
			t.Fatalf("rotated token: alg %s sub %s", newH.Alg, newC.Sub)
		}
		// The gateway has never seen this kid: it must refetch the JWKS.
		// Its refetch is rate limited (by default once per 10 s), so allow
		// for one interval.
		fresher := newClient(t, s.gatewayURL, false).withBearer(fresh)
		deadline := time.Now().Add(15 * time.Second)
		var r response
		for {
			r = fresher.do("GET", "/api/tasks", nil)
			if r.status == http.StatusOK || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		expect(t, "token with the new kid", r, http.StatusOK)
		// Tokens signed by the retired key stay valid for their lifetime.
		expect(t, "token with the old kid", aliceAPI.do("GET", "/api/tasks", nil), http.StatusOK)
	})
}

// createTask posts body to base and checks the 201 answer.
func createTask(t *testing.T, c *client, base string, body map[string]any) task {
	t.Helper()
	r := expect(t, "create task", c.do("POST", base, body), http.StatusCreated)
	var tk task
	r.json(t, &tk)
	if tk.ID == "" || tk.Title != body["title"] {
		t.Fatalf("create task: unexpected body %s", r)
	}
	return tk
}

// testTaskAPI exercises every operation of docs/api-contract.md under base
// ("/api/tasks" or "/api/{user_id}/tasks") as the user owner.
func testTaskAPI(t *testing.T, c *client, base, owner string) {
	tag := "e2e-" + randomHex(t, 3)
	due := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)

	// Create: 201, Location, ETag, the fields as sent.
	r := expect(t, "create", c.do("POST", base, map[string]any{
		"title": "Buy milk", "description": "2 litres", "priority": "high", "tags": []string{tag, "home"}, "due_at": due,
	}), http.StatusCreated)
	var milk task
	r.json(t, &milk)
	if milk.UserID != owner || milk.Title != "Buy milk" || milk.Description != "2 litres" || milk.Priority != "high" ||
		milk.Completed || !slices.Contains(milk.Tags, tag) || milk.DueAt == nil {
		t.Fatalf("created task %+v", milk)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/"+milk.ID) {
		t.Errorf("Location = %q, want it to end in /%s", loc, milk.ID)
	}
	if r.header.Get("ETag") == "" {
		t.Error("create: no ETag")
	}

	// Validation: problem+json naming the field.
	bad := c.do("POST", base, map[string]any{"title": ""})
	if bad.status != http.StatusBadRequest && bad.status != http.StatusUnprocessableEntity {
		t.Fatalf("empty title: status %d, want 400 or 422; %s", bad.status, bad)
	}
	p := expectProblem(t, "empty title", bad, bad.status)
	if !slices.ContainsFunc(p.Errors, func(e problem.FieldError) bool {
		return e.Field == "title"
	}) {
		t.Errorf("empty title: errors %+v do not name the field title", p.Errors)
	}
	long := c.do("POST", base, map[string]any{"title": strings.Repeat("x", 201)})
	if long.status != http.StatusBadRequest && long.status != http.StatusUnprocessableEntity {
		t.Errorf("201-char title: status %d, want 400 or 422", long.status)
	}
	malformed := c.do("POST", base, `{"title":`)
	if malformed.status != http.StatusBadRequest && malformed.status != http.StatusUnprocessableEntity {
		t.Errorf("malformed JSON: status %d, want 400", malformed.status)
	}
	if strings.Contains(strings.ToLower(string(malformed.body)), "sql") || strings.Contains(string(malformed.body), "goroutine") {
		t.Errorf("error body leaks internals: %s", malformed)
	}

	// Idempotency-Key: a retried create returns the same task, once.
	key := "idem-" + randomHex(t, 8)
	first := expect(t, "idempotent create", c.do("POST", base, map[string]any{"title": "Once", "tags": []string{tag}}, "Idempotency-Key", key), http.StatusCreated)
	second := c.do("POST", base, map[string]any{"title": "Once", "tags": []string{tag}}, "Idempotency-Key", key)
	if second.status != http.StatusCreated && second.status != http.StatusOK {
		t.Fatalf("idempotent retry: status %d; %s", second.status, second)
	}
	var once1, once2 task
	first.json(t, &once1)
	second.json(t, &once2)
	if once1.ID != once2.ID {
		t.Fatalf("idempotent retry created a second task: %s and %s", once1.ID, once2.ID)
	}

	// Read one: ETag, If-None-Match -> 304.
	r = expect(t, "get", c.do("GET", base+"/"+milk.ID, nil), http.StatusOK)
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("get: no ETag")
	}
	expect(t, "get If-None-Match", c.do("GET", base+"/"+milk.ID, nil, "If-None-Match", etag), http.StatusNotModified)

	// Partial update with If-Match; the old ETag is then stale -> 412.
	r = expect(t, "patch", c.do("PATCH", base+"/"+milk.ID, map[string]any{"title": "Buy oat milk"}, "If-Match", etag), http.StatusOK)
	var patched task
	r.json(t, &patched)
	if patched.Title != "Buy oat milk" || patched.Description != "2 litres" || patched.Version <= milk.Version {
		t.Fatalf("patched task %+v (was %+v)", patched, milk)
	}
	expectProblem(t, "patch with a stale If-Match", c.do("PATCH", base+"/"+milk.ID, map[string]any{"title": "lost update"}, "If-Match", etag), http.StatusPreconditionFailed)

	// Replace.
	r = expect(t, "put", c.do("PUT", base+"/"+milk.ID, map[string]any{
		"title": "Buy bread", "description": "", "priority": "low", "tags": []string{tag}, "completed": false,
	}), http.StatusOK)
	var replaced task
	r.json(t, &replaced)
	if replaced.Title != "Buy bread" || replaced.Priority != "low" || replaced.Description != "" {
		t.Fatalf("replaced task %+v", replaced)
	}

	// Complete: toggle, toggle back, then set explicitly.
	var done task
	expect(t, "complete", c.do("PATCH", base+"/"+milk.ID+"/complete", nil), http.StatusOK).json(t, &done)
	if !done.Completed || done.CompletedAt == nil {
		t.Fatalf("after toggle: %+v", done)
	}
	expect(t, "toggle back", c.do("PATCH", base+"/"+milk.ID+"/complete", nil), http.StatusOK).json(t, &done)
	if done.Completed {
		t.Fatalf("after second toggle: %+v", done)
	}
	expect(t, "complete explicitly", c.do("PATCH", base+"/"+milk.ID+"/complete", map[string]any{"completed": true}), http.StatusOK).json(t, &done)
	if !done.Completed {
		t.Fatalf("after {completed:true}: %+v", done)
	}

	// List with filters, search and keyset pagination.
	createTask(t, c, base, map[string]any{"title": "Walk the dog", "priority": "high", "tags": []string{tag}})
	list := func(query string) taskList {
		t.Helper()
		var l taskList
		expect(t, "list "+query, c.do("GET", base+"?"+query, nil), http.StatusOK).json(t, &l)
		for _, tk := range l.Items {
			if tk.UserID != owner {
				t.Fatalf("list %s: task of another user %q", query, tk.UserID)
			}
		}
		return l
	}
	tagQ := "tag=" + url.QueryEscape(tag)
	all := list(tagQ + "&limit=100")
	if len(all.Items) != 3 || all.NextCursor != nil {
		t.Fatalf("list by tag: %d items (want 3: bread, once, dog), next_cursor %v", len(all.Items), all.NextCursor)
	}
	if got := list(tagQ + "&status=completed").Items; len(got) != 1 || got[0].ID != milk.ID {
		t.Errorf("status=completed: %v, want [%s]", ids(got), milk.ID)
	}
	if got := list(tagQ + "&status=pending").Items; len(got) != 2 || slices.Contains(ids(got), milk.ID) {
		t.Errorf("status=pending: %v", ids(got))
	}
	if got := list(tagQ + "&priority=high").Items; len(got) != 1 || got[0].Title != "Walk the dog" {
		t.Errorf("priority=high: %+v", got)
	}
	if got := list(tagQ + "&q=dog").Items; len(got) != 1 || got[0].Title != "Walk the dog" {
		t.Errorf("q=dog: %+v", got)
	}
	if got := list(tagQ + "&sort=title&order=asc").Items; len(got) != 3 || got[0].Title != "Buy bread" || got[2].Title != "Walk the dog" {
		t.Errorf("sort=title: %v", got)
	}
	page1 := list(tagQ + "&limit=2&sort=created_at&order=asc")
	if len(page1.Items) != 2 || page1.NextCursor == nil {
		t.Fatalf("page 1: %d items, cursor %v", len(page1.Items), page1.NextCursor)
	}
	page2 := list(tagQ + "&limit=2&sort=created_at&order=asc&cursor=" + url.QueryEscape(*page1.NextCursor))
	if len(page2.Items) != 1 || page2.NextCursor != nil || slices.Contains(ids(page1.Items), page2.Items[0].ID) {
		t.Fatalf("page 2: %v, cursor %v (page 1 was %v)", ids(page2.Items), page2.NextCursor, ids(page1.Items))
	}
	if r := c.do("GET", base+"?limit=0", nil); r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
		t.Errorf("limit=0: status %d, want 400", r.status)
	}

	// Delete: 204, then gone.
	expect(t, "delete", c.do("DELETE", base+"/"+milk.ID, nil), http.StatusNoContent)
	expectProblem(t, "get deleted", c.do("GET", base+"/"+milk.ID, nil), http.StatusNotFound)
	expectProblem(t, "get malformed id", c.do("GET", base+"/not-a-uuid", nil), http.StatusNotFound)
}

// testDirectTasksService attacks tasks-service past the gateway: missing,
// forged, replayed and stale assertions are 401; the one correctly signed
// request (positive control) is 200.
func testDirectTasksService(t *testing.T, s *stack, victim string) {
	direct := newClient(t, s.tasksURL, false)
	const target = "/api/tasks"
	real, err := identity.ParseKeys(s.identityKeys)
	if err != nil {
		t.Fatal(err)
	}
	forgedKeys, err := identity.ParseKeys(strings.SplitN(s.identityKeys, ":", 2)[0] + ":" + randomBase64(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	get := func(userID string) identity.Request {
		return identity.Request{Method: "GET", Target: target, UserID: userID, BodySHA256: identity.HashBody(nil)}
	}
	now := time.Now()
	cases := []struct {
		desc    string
		headers []string
	}{
		{"no identity at all", nil},
		{"X-User-ID without a signature", []string{"X-User-ID", victim}},
		{"signature by a key the service does not hold", []string{"X-User-ID", victim, "X-Identity-Signature", forgedKeys.Sign(get(victim), now)}},
		{"valid signature replayed for another user", []string{"X-User-ID", victim, "X-Identity-Signature", real.Sign(get("someone-else"), now)}},
		{"valid signature for another path", []string{"X-User-ID", victim, "X-Identity-Signature", real.Sign(identity.Request{Method: "GET", Target: "/api/tasks?limit=1", UserID: victim, BodySHA256: identity.HashBody(nil)}, now)}},
		{"stale signature", []string{"X-User-ID", victim, "X-Identity-Signature", real.Sign(get(victim), now.Add(-2*time.Minute))}},
		{"garbage signature", []string{"X-User-ID", victim, "X-Identity-Signature", "v1,kid=e2e1,t=1,sig=AAAA"}},
		{"bearer JWT instead of an assertion", []string{"Authorization", "Bearer " + "eyJhbGciOiJub25lIn0.e30."}},
	}
	for _, tc := range cases {
		expectProblem(t, tc.desc, direct.do("GET", target, nil, tc.headers...), http.StatusUnauthorized)
	}
	// Positive control: the same request, correctly signed, is served.
	expect(t, "correctly signed request", direct.do("GET", target, nil,
		"X-User-ID", victim, "X-Identity-Signature", real.Sign(get(victim), time.Now())), http.StatusOK)
}

func b64json(s string) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(s)), "=")
}

func jwtKid(t *testing.T, token string) string {
	h, _ := decodeJWT(t, token)
	return h.Kid
}
