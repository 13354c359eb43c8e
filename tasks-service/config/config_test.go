package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gatehouse-dev/gatehouse/tasks-service/config"
)

const key = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(settings.MapEnv(map[string]string{
		"DATABASE_URL":            "postgres://app:pw@ep-x-pooler.eu.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
		"MIGRATIONS_DATABASE_URL": "postgres://app:pw@ep-x.eu.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
		"IDENTITY_KEYS":           key,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8081" || c.RLSRole != "tasks_rls" || c.IdentityMaxSkew != 30*time.Second || c.MigrateOnStart ||
		c.ConnectTimeout != time.Minute || c.Pool.MaxOpen != 20 || c.Pool.MaxIdle != 20 || c.BodyLimit != 65536 || c.RequestTimeout != 10*time.Second {
		t.Errorf("defaults %+v", c)
	}
	if c.Database.Host != "ep-x-pooler.eu.aws.neon.tech" || c.Migrations.Host != "ep-x.eu.aws.neon.tech" {
		t.Errorf("pooler %q / direct %q", c.Database.Host, c.Migrations.Host)
	}
	c, _ = config.Load(settings.MapEnv(map[string]string{"DATABASE_URL": "postgres://a@h/db", "IDENTITY_KEYS": key}))
	if c.Migrations.Host != "h" {
		t.Error("MIGRATIONS_DATABASE_URL must default to DATABASE_URL")
	}
}

// TestLoadNamesTheVariable: each malformed setting is reported by name.
func TestLoadNamesTheVariable(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://a:s3cr3tpw@h/db", "IDENTITY_KEYS": key}
	cases := []struct{ name, value string }{
		{"DATABASE_URL", ""},
		{"DATABASE_URL", "mysql://a:s3cr3tpw@h/db"},
		{"DATABASE_URL", "postgres://a:s3cr3tpw@h/db?search_path=x"},
		{"MIGRATIONS_DATABASE_URL", "postgres://h/db"},
		{"IDENTITY_KEYS", ""},
		{"IDENTITY_KEYS", "k1:c2hvcnQ="},
		{"TASKS_ADDR", "8081"},
		{"METRICS_ADDR", "9090"},
		{"MIGRATE_ON_START", "perhaps"},
		{"IDENTITY_MAX_SKEW", "1h"},
		{"DB_RLS_ROLE", "Robert'); DROP TABLE tasks;--"},
		{"DB_RLS_ROLE", strings.Repeat("r", 56)}, // <role>_janitor would exceed Postgres' 63
		{"DB_MAX_OPEN_CONNS", "0"},
		{"DB_CONNECT_TIMEOUT", "soon"},
		{"BODY_LIMIT", "10"},
		{"SHUTDOWN_IDLE_GRACE", "21s"}, // longer than SHUTDOWN_TIMEOUT
		{"REQUEST_TIMEOUT", "10ms"},
		{"REQUEST_TIMEOUT", "1h"},
		{"REQUEST_TIMEOUT", "0s"},
		{"LOG_LEVEL", "loud"},
	}
	for _, c := range cases {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		env[c.name] = c.value
		_, err := config.Load(settings.MapEnv(env))
		if err == nil || !strings.HasPrefix(err.Error(), c.name+":") {
			t.Errorf("%s=%q: error %v, want it to start with %s:", c.name, c.value, err, c.name)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3tpw") {
			t.Errorf("%s: error repeats the password: %v", c.name, err)
		}
	}
}

// TestVarsAreDocumented: every variable has usage text; secrets are marked.
func TestVarsAreDocumented(t *testing.T) {
	secret := map[string]bool{"DATABASE_URL": true, "MIGRATIONS_DATABASE_URL": true, "IDENTITY_KEYS": true, "OTEL_EXPORTER_OTLP_HEADERS": true}
	for _, v := range config.Vars {
		if v.Usage == "" {
			t.Errorf("%s has no usage", v.Name)
		}
		if v.Secret != secret[v.Name] {
			t.Errorf("%s: Secret=%v", v.Name, v.Secret)
		}
	}
}
