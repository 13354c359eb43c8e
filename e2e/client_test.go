package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/gatehouse-dev/gatehouse/pkg/problem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d response %q: %v", r.status, truncate(r.body), err)
	}
}

func (r response) String() string {
	return http.StatusText(r.status) + " " + truncate(r.body)
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// client is a frontend: it talks to one base URL, optionally with a cookie
// jar (browser-like) and a bearer token.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	bearer string
}

func newClient(t *testing.T, base string, withCookies bool) *client {
	t.Helper()
	hc := &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if withCookies {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		hc.Jar = jar
	}
	return &client{t: t, base: base, http: hc}
}

// withBearer returns a copy of c that sends Authorization: Bearer token.
func (c *client) withBearer(token string) *client {
	cp := *c
	cp.bearer = token
	return &cp
}

// do sends a request; body is JSON-encoded unless it is nil, a string or []byte.
func (c *client) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// expect fails the test unless r has the wanted status.
func expect(t *testing.T, what string, r response, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.status, want, truncate(r.body))
	}
	return r
}

// expectProblem checks an RFC 9457 problem+json answer with the wanted status.
func expectProblem(t *testing.T, what string, r response, want int) problemBody {
	t.Helper()
	expect(t, what, r, want)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p problemBody
	r.json(t, &p)
	if p.Status != want || p.Title == "" || p.Type == "" {
		t.Fatalf("%s: incomplete problem %+v", what, p)
	}
	return p
}

// problemBody is the RFC 9457 body both services write.
type problemBody = problem.Details

// user is a person signed up through the gateway.
type user struct {
	email, password, name string
	id                    string
	session               *client // authenticated to /api/auth/* (cookie or bearer session token)
}

// signUp creates a user through the gateway's /api/auth/* pass-through.
// withCookies makes it behave like a browser; otherwise it uses the bearer
// session token from the set-auth-token header, like a mobile client.
func signUp(t *testing.T, gatewayURL, name string, withCookies bool) *user {
	t.Helper()
	u := &user{
		email:    strings.ToLower(name) + "-" + randomHex(t, 4) + "@example.com",
		password: "correct-horse-" + randomHex(t, 4),
		name:     name,
	}
	c := newClient(t, gatewayURL, withCookies)
	r := expect(t, "sign up "+name, c.do("POST", "/api/auth/sign-up/email",
		map[string]string{"email": u.email, "password": u.password, "name": u.name}), http.StatusOK)
	var body struct {
		User struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"user"`
	}
	r.json(t, &body)
	if body.User.ID == "" || body.User.Email != u.email {
		t.Fatalf("sign up %s: unexpected body %s", name, r)
	}
	u.id = body.User.ID
	if withCookies {
		u.session = c
	} else {
		token := r.header.Get("Set-Auth-Token")
		if token == "" {
			t.Fatalf("sign up %s: no set-auth-token header (bearer plugin)", name)
		}
		u.session = c.withBearer(token)
	}
	return u
}

// jwt fetches a JWT for u from /api/auth/token, through the gateway.
func (u *user) jwt(t *testing.T) string {
	t.Helper()
	r := expect(t, "GET /api/auth/token for "+u.name, u.session.do("GET", "/api/auth/token", nil), http.StatusOK)
	var body struct {
		Token string `json:"token"`
	}
	r.json(t, &body)
	if strings.Count(body.Token, ".") != 2 {
		t.Fatalf("GET /api/auth/token: %q is not a JWS compact token", body.Token)
	}
	return body.Token
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type jwtClaims struct {
	Sub   string `json:"sub"`
	Iss   string `json:"iss"`
	Aud   any    `json:"aud"` // string or array
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
	Email string `json:"email"`
}

// decodeJWT reads header and claims without verifying: the gateway verifies.
func decodeJWT(t *testing.T, token string) (jwtHeader, jwtClaims) {
	t.Helper()
	parts := strings.Split(token, ".")
	var h jwtHeader
	var c jwtClaims
	for i, v := range []any{&h, &c} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return h, c
}

func stdB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
