// Package settings describes a binary's environment variables, so that the
// binary's help text, its parser and the deployment tests share one list.
package settings

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Var declares one environment variable of a binary.
type Var struct {
	Name     string
	Default  string // as written in the environment; "" for none
	Usage    string // one line: what it does and what a valid value looks like
	Required bool   // the binary refuses to start without it
	Secret   bool   // never logged; belongs in a Secret, not a ConfigMap
}

// Env looks a variable up, like os.LookupEnv.
type Env func(name string) (string, bool)

// MapEnv is an Env over a map, for tests.
func MapEnv(m map[string]string) Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Error names the variable that is missing or malformed and says what a
// valid value looks like.
type Error struct {
	Name    string
	Problem string
}

func (e *Error) Error() string { return e.Name + ": " + e.Problem }

// Errorf returns an *Error for name.
func Errorf(name, format string, args ...any) error {
	return &Error{Name: name, Problem: fmt.Sprintf(format, args...)}
}

// Reader reads variables declared in vars from env, remembering the first
// error so a loader can read everything and check once.
type Reader struct {
	env  Env
	vars map[string]Var
	errs []error
}

// NewReader returns a Reader over env for the declared vars.
func NewReader(env Env, vars []Var) *Reader {
	m := make(map[string]Var, len(vars))
	for _, v := range vars {
		m[v.Name] = v
	}
	return &Reader{env: env, vars: m}
}

// Err returns every problem found so far, one per line, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(r.errs))
	for i, e := range r.errs {
		msgs[i] = e.Error()
	}
	return &multi{errs: r.errs, msg: strings.Join(msgs, "\n")}
}

type multi struct {
	errs []error
	msg  string
}

func (m *multi) Error() string   { return m.msg }
func (m *multi) Unwrap() []error { return m.errs }

// Fail records a problem with name.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, Errorf(name, format, args...))
}

// String returns the value of name, or its declared default when unset or
// blank. A Required variable that is unset is recorded as an error. It
// panics if name was not declared: that is a programming error.
func (r *Reader) String(name string) string {
	v, declared := r.vars[name]
	if !declared {
		panic("settings: undeclared variable " + name)
	}
	s, _ := r.env(name)
	s = strings.TrimSpace(s)
	if s == "" {
		if v.Required {
			r.Fail(name, "required; %s", v.Usage)
		}
		return v.Default
	}
	return s
}

// Duration parses a Go duration such as "30s" or "1m30s"; it must be > 0.
func (r *Reader) Duration(name string) time.Duration {
	s := r.String(name)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.Fail(name, "%q is not a positive duration (e.g. 30s, 2m)", s)
		return 0
	}
	return d
}

// Int parses a whole number within [min, max].
func (r *Reader) Int(name string, min, max int) int {
	s := r.String(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		r.Fail(name, "%q is not a whole number from %d to %d", s, min, max)
		return 0
	}
	return n
}

// Bool parses true/false (also 1/0, yes/no).
func (r *Reader) Bool(name string) bool {
	s := strings.ToLower(r.String(name))
	switch s {
	case "", "false", "0", "no", "off":
		return false
	case "true", "1", "yes", "on":
		return true
	}
	r.Fail(name, "%q is not a boolean (true or false)", s)
	return false
}

// URL parses an absolute http or https URL.
func (r *Reader) URL(name string) *url.URL {
	s := r.String(name)
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail(name, "%q is not an absolute http(s) URL (e.g. https://auth.example.com)", s)
		return nil
	}
	return u
}

// LogLevel parses debug, info, warn or error (any case).
func (r *Reader) LogLevel(name string) slog.Level {
	s := r.String(name)
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		r.Fail(name, "%q is not debug, info, warn or error", s)
		return slog.LevelInfo
	}
	return l
}

// List splits a comma-separated value, dropping blanks.
func (r *Reader) List(name string) []string {
	s := r.String(name)
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Lookup returns the declared Var for name.
func Lookup(vars []Var, name string) (Var, bool) {
	for _, v := range vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Usage renders vars as a help table for a binary's -h output.
func Usage(vars []Var) string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "  %s", v.Name)
		switch {
		case v.Required:
			b.WriteString(" (required)")
		case v.Default != "":
			fmt.Fprintf(&b, " (default %q)", v.Default)
		}
		fmt.Fprintf(&b, "\n      %s\n", v.Usage)
	}
	return b.String()
}

// READMEUndocumented returns the names in vars that the "## Configuration"
// section of readme (a README's text) has no table row for; a row elsewhere
// in the README does not count. It fails when there is no such section.
// Each service's readme test keeps its configuration table complete with it.
func READMEUndocumented(vars []Var, readme string) ([]string, error) {
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		return nil, errors.New(`no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return Undocumented(vars, section), nil
}

// Undocumented returns the names in vars that doc (a README) has no table
// row for, i.e. no line starting "| `NAME`". Tests use it to keep
// configuration tables complete.
func Undocumented(vars []Var, doc string) []string {
	var missing []string
	for _, v := range vars {
		if !strings.Contains(doc, "| `"+v.Name+"`") {
			missing = append(missing, v.Name)
		}
	}
	return missing
}
