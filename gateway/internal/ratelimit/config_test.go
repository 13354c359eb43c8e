package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(settings.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{User: Rate{10, 40}, IP: Rate{2, 20}, AuthFailure: Rate{1, 30}, Headers: HeadersOnRefusal, RedisTimeout: 100 * time.Millisecond, MaxKeys: 100_000}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
	// Every declared default parses: the table and the loader agree.
	for _, v := range Vars {
		if v.Default == "" {
			continue
		}
		if _, err := LoadConfig(settings.MapEnv(map[string]string{v.Name: v.Default})); err != nil {
			t.Errorf("%s default %q rejected: %v", v.Name, v.Default, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		env     map[string]string
		wantErr string // substring; "" means valid
		check   func(Config) bool
	}{
		{"fractional rate", map[string]string{"RATE_LIMIT_USER_RPS": "0.5"}, "", func(c Config) bool { return c.User.PerSecond == 0.5 }},
		{"zero disables", map[string]string{"RATE_LIMIT_IP_RPS": "0"}, "", func(c Config) bool { return !c.IP.Enabled() }},
		{"headers always", map[string]string{"RATE_LIMIT_HEADERS": "always"}, "", func(c Config) bool { return c.Headers == HeadersAlways }},
		{"headers refused", map[string]string{"RATE_LIMIT_HEADERS": " Refused "}, "", func(c Config) bool { return c.Headers == HeadersOnRefusal }},
		{"headers unknown", map[string]string{"RATE_LIMIT_HEADERS": "sometimes"}, "RATE_LIMIT_HEADERS:", nil},
		{"redis url", map[string]string{"REDIS_URL": "redis://:pw@redis:6379/0"}, "", func(c Config) bool { return c.RedisURL == "redis://:pw@redis:6379/0" }},
		{"negative rate", map[string]string{"RATE_LIMIT_USER_RPS": "-1"}, "RATE_LIMIT_USER_RPS:", nil},
		{"not a number", map[string]string{"RATE_LIMIT_IP_RPS": "lots"}, "RATE_LIMIT_IP_RPS:", nil},
		{"NaN", map[string]string{"RATE_LIMIT_IP_RPS": "NaN"}, "RATE_LIMIT_IP_RPS:", nil},
		{"burst zero", map[string]string{"RATE_LIMIT_USER_BURST": "0"}, "RATE_LIMIT_USER_BURST:", nil},
		{"failure rate", map[string]string{"RATE_LIMIT_AUTH_FAILURE_RPS": "0.2", "RATE_LIMIT_AUTH_FAILURE_BURST": "5"}, "", func(c Config) bool { return c.AuthFailure == Rate{0.2, 5} }},
		{"failure rate negative", map[string]string{"RATE_LIMIT_AUTH_FAILURE_RPS": "-1"}, "RATE_LIMIT_AUTH_FAILURE_RPS:", nil},
		{"failure burst zero", map[string]string{"RATE_LIMIT_AUTH_FAILURE_BURST": "0"}, "RATE_LIMIT_AUTH_FAILURE_BURST:", nil},
		{"burst huge", map[string]string{"RATE_LIMIT_IP_BURST": "1000001"}, "RATE_LIMIT_IP_BURST:", nil},
		{"timeout too long", map[string]string{"RATE_LIMIT_REDIS_TIMEOUT": "1m"}, "RATE_LIMIT_REDIS_TIMEOUT:", nil},
		{"timeout not a duration", map[string]string{"RATE_LIMIT_REDIS_TIMEOUT": "100"}, "RATE_LIMIT_REDIS_TIMEOUT:", nil},
		{"max keys too small", map[string]string{"RATE_LIMIT_MAX_KEYS": "10"}, "RATE_LIMIT_MAX_KEYS:", nil},
		{"not a redis url", map[string]string{"REDIS_URL": "http://:hunter2@redis:6379"}, "REDIS_URL:", nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, err := LoadConfig(settings.MapEnv(tc.env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !tc.check(c) {
					t.Fatalf("config %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error repeats the Redis password: %v", err)
			}
		})
	}
}

func TestAddressKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"}, // same /64, same key
	} {
		got, ok := addressKey(netip.MustParseAddr(tc.in))
		if !ok || got != tc.want {
			t.Errorf("addressKey(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if got, ok := addressKey(netip.Addr{}); ok {
		t.Errorf("addressKey(no address) = %q, want no key", got)
	}
}
