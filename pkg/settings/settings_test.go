package settings

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var testVars = []Var{
	{Name: "ADDR", Default: ":8080", Usage: "listen address, e.g. :8080"},
	{Name: "URL", Required: true, Usage: "base URL, e.g. https://auth.example.com"},
	{Name: "WAIT", Default: "5s", Usage: "a duration"},
	{Name: "N", Default: "3", Usage: "a count"},
	{Name: "ON", Default: "false", Usage: "a flag"},
	{Name: "LIST", Usage: "a list"},
}

func TestReader(t *testing.T) {
	r := NewReader(MapEnv(map[string]string{"URL": "https://a.example", "LIST": " a, ,b ", "N": "7"}), testVars)
	if got := r.String("ADDR"); got != ":8080" {
		t.Errorf("default = %q", got)
	}
	if u := r.URL("URL"); u == nil || u.Host != "a.example" {
		t.Errorf("URL = %v", u)
	}
	if d := r.Duration("WAIT"); d != 5*time.Second {
		t.Errorf("WAIT = %v", d)
	}
	if n := r.Int("N", 1, 10); n != 7 {
		t.Errorf("N = %d", n)
	}
	if r.Bool("ON") {
		t.Error("ON = true")
	}
	if got := r.List("LIST"); strings.Join(got, "|") != "a|b" {
		t.Errorf("LIST = %q", got)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestReaderErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		desc string
		env  map[string]string
		read func(*Reader)
		name string
	}{
		{"missing required", map[string]string{}, func(r *Reader) { r.String("URL") }, "URL"},
		{"blank required", map[string]string{"URL": "  "}, func(r *Reader) { r.String("URL") }, "URL"},
		{"relative URL", map[string]string{"URL": "/x"}, func(r *Reader) { r.URL("URL") }, "URL"},
		{"ftp URL", map[string]string{"URL": "ftp://x"}, func(r *Reader) { r.URL("URL") }, "URL"},
		{"bad duration", map[string]string{"WAIT": "5"}, func(r *Reader) { r.Duration("WAIT") }, "WAIT"},
		{"negative duration", map[string]string{"WAIT": "-1s"}, func(r *Reader) { r.Duration("WAIT") }, "WAIT"},
		{"int out of range", map[string]string{"N": "11"}, func(r *Reader) { r.Int("N", 1, 10) }, "N"},
		{"int not a number", map[string]string{"N": "x"}, func(r *Reader) { r.Int("N", 1, 10) }, "N"},
		{"bad bool", map[string]string{"ON": "maybe"}, func(r *Reader) { r.Bool("ON") }, "ON"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := NewReader(MapEnv(tc.env), testVars)
			tc.read(r)
			err := r.Err()
			var se *Error
			if !errors.As(err, &se) || se.Name != tc.name || !strings.HasPrefix(err.Error(), tc.name+": ") {
				t.Fatalf("err = %v, want one naming %s", err, tc.name)
			}
		})
	}
}

func TestUsageListsEveryVar(t *testing.T) {
	u := Usage(testVars)
	for _, v := range testVars {
		if !strings.Contains(u, v.Name) || !strings.Contains(u, v.Usage) {
			t.Errorf("usage lacks %s", v.Name)
		}
	}
	if !strings.Contains(u, "URL (required)") {
		t.Error("required not marked")
	}
}

func TestUndocumented(t *testing.T) {
	doc := "| `ADDR` | x |\n| `URL` (secret) | y |\nWAIT is mentioned but has no row\n"
	got := strings.Join(Undocumented(testVars, doc), ",")
	if got != "WAIT,N,ON,LIST" {
		t.Fatalf("Undocumented = %s", got)
	}
}

func TestREADMEUndocumented(t *testing.T) {
	readme := "# svc\n\n## Routes\n| `WAIT` | a row outside the section |\n\n## Configuration\n\n| `ADDR` | x |\n| `URL` (secret) | y |\n\n## Tests\n| `N` | not here either |\n"
	got, err := READMEUndocumented(testVars, readme)
	if err != nil || strings.Join(got, ",") != "WAIT,N,ON,LIST" {
		t.Fatalf("READMEUndocumented = %v, %v", got, err)
	}
	if _, err := READMEUndocumented(testVars, "# svc\n| `ADDR` | x |\n"); err == nil {
		t.Fatal("a README without a Configuration section passed")
	}
}

func TestLogLevel(t *testing.T) {
	vars := []Var{{Name: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error"}}
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "WARN": slog.LevelWarn, "error": slog.LevelError} {
		r := NewReader(MapEnv(map[string]string{"LOG_LEVEL": in}), vars)
		if got := r.LogLevel("LOG_LEVEL"); got != want || r.Err() != nil {
			t.Errorf("LOG_LEVEL=%q: %v, %v", in, got, r.Err())
		}
	}
	r := NewReader(MapEnv(map[string]string{"LOG_LEVEL": "loud"}), vars)
	r.LogLevel("LOG_LEVEL")
	if err := r.Err(); err == nil || !strings.HasPrefix(err.Error(), "LOG_LEVEL: ") {
		t.Fatalf("bad level error = %v", err)
	}
}
