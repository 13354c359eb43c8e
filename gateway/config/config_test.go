package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

const key = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func env(over map[string]string) settings.Env {
	m := map[string]string{"BETTER_AUTH_URL": "https://auth.example.com/", "IDENTITY_KEYS": key}
	for k, v := range over {
		m[k] = v
	}
	return settings.MapEnv(m)
}

func TestDefaultsDeriveFromBetterAuthURL(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKSURL != "https://auth.example.com/api/auth/jwks" || c.Issuer != "https://auth.example.com" || c.Audience != c.Issuer {
		t.Fatalf("derived %q %q %q", c.JWKSURL, c.Issuer, c.Audience)
	}
	if c.AuthURL.String() != "https://auth.example.com/" || c.TasksURL.String() != "http://127.0.0.1:8081" || c.Addr != ":8080" {
		t.Fatalf("upstreams %s %s addr %s", c.AuthURL, c.TasksURL, c.Addr)
	}
	if c.Leeway != 30*time.Second || c.JWKSMinRefresh != 10*time.Second || len(c.Algorithms) != 5 || c.SharedSecret != nil {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEveryVariableIsDeclaredWithUsage(t *testing.T) {
	for _, v := range config.Vars {
		if v.Usage == "" {
			t.Errorf("%s has no usage text", v.Name)
		}
	}
	for _, name := range []string{"GATEWAY_ADDR", "BETTER_AUTH_URL", "JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "TASKS_SERVICE_URL", "AUTH_UPSTREAM_URL", "IDENTITY_KEYS", "CORS_ALLOWED_ORIGINS"} {
		if _, ok := settings.Lookup(config.Vars, name); !ok {
			t.Errorf("%s (docs/configuration-contract.md) is not declared", name)
		}
	}
}

func TestMalformedValuesNameTheVariable(t *testing.T) {
	cases := []struct{ name, value string }{
		{"BETTER_AUTH_URL", "auth.example.com"},
		{"IDENTITY_KEYS", "k1:short"},
		{"IDENTITY_KEYS", "no-colon"},
		{"GATEWAY_ADDR", "8080"},
		{"METRICS_ADDR", "9090"},
		{"JWKS_URL", "ftp://x"},
		{"TASKS_SERVICE_URL", "http://tasks:8081/?q=1"},
		{"JWT_ALGORITHMS", "EdDSA,HS256"},
		{"JWT_ALGORITHMS", "none"},
		{"JWT_LEEWAY", "ten seconds"},
		{"JWT_LEEWAY", "1h"},
		{"JWT_MAX_BYTES", "10"},
		{"JWT_COOKIE_NAME", "a b"},
		{"JWT_SHARED_SECRET", "c2hvcnQ="},
		{"JWT_SHARED_SECRET", "not base64!"},
		{"CORS_ALLOWED_ORIGINS", "*"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com/path"},
		{"CORS_ALLOWED_HEADERS", "*"},
		{"CORS_ALLOWED_HEADERS", "X Requested"},
		{"CORS_ALLOWED_HEADERS", "X-Trace:1"},
		{"SESSION_MODE", "maybe"},
		{"SESSION_COOKIE_NAMES", "better-auth.session_token,a b"},
		{"SESSION_CACHE_TTL", "1h"},
		{"SESSION_CACHE_TTL", "100ms"},
		{"SESSION_CACHE_SIZE", "0"},
		{"SESSION_EXCHANGE_RPS", "0"},
		{"SESSION_EXCHANGE_CONCURRENCY", "0"},
		{"BODY_LIMIT", "-1"},
		{"CLIENT_MAX_CONNS", "0"},
		{"CLIENT_MAX_CONNS", "many"},
		{"CLIENT_MAX_CONNS_PER_ADDR", "-1"},
		{"CLIENT_MAX_CONNS_PER_ADDR", "5000"}, // more than CLIENT_MAX_CONNS
		{"UPSTREAM_TIMEOUT", "0s"},
		{"UPSTREAM_IDLE_TIMEOUT", "0"},
		{"SHUTDOWN_IDLE_GRACE", "21s"}, // longer than SHUTDOWN_TIMEOUT
		{"LOG_LEVEL", "loud"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tc.name: tc.value}))
			var se *settings.Error
			if !errors.As(err, &se) || se.Name != tc.name {
				t.Fatalf("error %v does not name %s", err, tc.name)
			}
			if strings.Contains(err.Error(), "MDEyMzQ1") {
				t.Fatal("error leaks key material")
			}
		})
	}
	_, err := config.Load(settings.MapEnv(nil))
	if err == nil || !strings.Contains(err.Error(), "BETTER_AUTH_URL") || !strings.Contains(err.Error(), "IDENTITY_KEYS") {
		t.Fatalf("empty environment: %v", err)
	}
}
