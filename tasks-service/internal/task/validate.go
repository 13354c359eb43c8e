package task

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on user-editable fields, counted in Unicode characters after trimming.
const (
	MaxTitle       = 200
	MaxDescription = 1000
	MaxTags        = 20
	MaxTagLength   = 50
)

// Input is the user-editable fields as they arrived, before validation. A nil
// pointer means "not given"; Input.Draft applies the defaults.
type Input struct {
	Title       *string
	Description *string
	Priority    *string
	Tags        []string
	DueAt       *string
	Completed   *bool
}

// InputOf returns the Input that reproduces t; PATCH overlays a merge patch on it.
func InputOf(t Task) Input {
	in := Input{
		Title:       &t.Title,
		Description: &t.Description,
		Tags:        append([]string(nil), t.Tags...),
		Completed:   &t.Completed,
	}
	p := string(t.Priority)
	in.Priority = &p
	if t.DueAt != nil {
		s := t.DueAt.Format(time.RFC3339Nano)
		in.DueAt = &s
	}
	return in
}

// The instants the service accepts, after conversion to UTC: years 1 to
// 9999, what both a Postgres timestamptz (which has no year 0) and an
// RFC 3339 string in JSON (four-digit years) hold, so that every time
// written can be read back and sent. A time outside is refused, never
// clamped.
var (
	MinTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// Reasons ParseTime refuses a time.
var (
	ErrTimeSyntax = errors.New("not an RFC 3339 date-time")
	ErrTimeRange  = errors.New("outside the supported range")
)

// ParseTime parses an RFC 3339 date-time and returns it in UTC, truncated
// to the microseconds Postgres keeps. It returns ErrTimeSyntax, or
// ErrTimeRange when the UTC instant lies outside MinTime..MaxTime (e.g.
// 9999-12-31T23:59:59-01:00, which is in year 10000).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrTimeSyntax
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !InTimeRange(t) {
		return time.Time{}, ErrTimeRange
	}
	return t, nil
}

// InTimeRange reports whether t lies within MinTime..MaxTime.
func InTimeRange(t time.Time) bool { return !t.Before(MinTime) && !t.After(MaxTime) }

// TimeProblem is the field message for a ParseTime error.
func TimeProblem(err error) string {
	if errors.Is(err, ErrTimeRange) {
		return "must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z once converted to UTC"
	}
	return "must be an RFC 3339 date-time such as 2026-01-31T17:00:00Z"
}

// Draft validates and normalises in. Titles and descriptions are trimmed,
// tags are trimmed, lower-cased and de-duplicated in order, due_at must be
// RFC 3339 within MinTime..MaxTime (ParseTime). The error is an Invalid
// *Error naming every bad field.
func (in Input) Draft() (Draft, error) {
	var d Draft
	var bad []FieldError
	fail := func(field, format string, args ...any) {
		bad = append(bad, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	switch {
	case in.Title == nil:
		fail("title", "is required")
	default:
		d.Title = strings.TrimSpace(*in.Title)
		n := utf8.RuneCountInString(d.Title)
		switch {
		case n == 0:
			fail("title", "must not be empty")
		case n > MaxTitle:
			fail("title", "must be at most %d characters, got %d", MaxTitle, n)
		case hasControl(d.Title, false):
			fail("title", "must not contain control characters")
		}
	}

	if in.Description != nil {
		d.Description = strings.TrimSpace(*in.Description)
		if n := utf8.RuneCountInString(d.Description); n > MaxDescription {
			fail("description", "must be at most %d characters, got %d", MaxDescription, n)
		} else if hasControl(d.Description, true) {
			fail("description", "must not contain control characters other than newline and tab")
		}
	}

	d.Priority = Medium
	if in.Priority != nil {
		p := Priority(*in.Priority)
		if p.Rank() == 0 {
			fail("priority", "must be one of low, medium, high")
		}
		d.Priority = p
	}

	tags, tagErrs := normaliseTags(in.Tags)
	d.Tags = tags
	bad = append(bad, tagErrs...)

	if in.DueAt != nil {
		t, err := ParseTime(*in.DueAt)
		if err != nil {
			fail("due_at", "%s", TimeProblem(err))
		} else {
			d.DueAt = &t
		}
	}

	if in.Completed != nil {
		d.Completed = *in.Completed
	}
	if err := FieldErrors(bad); err != nil {
		return Draft{}, err
	}
	return d, nil
}

func normaliseTags(raw []string) ([]string, []FieldError) {
	tags := make([]string, 0, len(raw))
	var bad []FieldError
	seen := make(map[string]bool, len(raw))
	for i, tag := range raw {
		tag = strings.ToLower(strings.TrimSpace(tag))
		field := fmt.Sprintf("tags[%d]", i)
		n := utf8.RuneCountInString(tag)
		switch {
		case n == 0:
			bad = append(bad, FieldError{field, "must not be empty"})
			continue
		case n > MaxTagLength:
			bad = append(bad, FieldError{field, fmt.Sprintf("must be at most %d characters", MaxTagLength)})
			continue
		case hasControl(tag, false) || strings.ContainsRune(tag, ','):
			bad = append(bad, FieldError{field, "must not contain commas or control characters"})
			continue
		}
		if !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	if len(tags) > MaxTags {
		bad = append(bad, FieldError{"tags", fmt.Sprintf("must have at most %d distinct tags, got %d", MaxTags, len(tags))})
	}
	return tags, bad
}

// hasControl reports control characters (NUL included, which Postgres text
// cannot store); newline and tab pass when multiline is set.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
