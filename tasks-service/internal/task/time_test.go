package task

import (
	"errors"
	"testing"
	"time"
)

// TestParseTimeRange: the range is checked on the UTC instant, so an
// offset cannot carry a time past year 9999 or before year 1 (which
// Postgres would store and JSON could not send, or the reverse).
func TestParseTimeRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time // zero: refused
		err  error
	}{
		{"0001-01-01T00:00:00Z", MinTime, nil},
		{"9999-12-31T23:59:59.999999Z", MaxTime, nil},
		{"9999-12-31T23:59:59.9999999Z", MaxTime, nil}, // truncated to microseconds
		{"9999-12-31T23:59:59+01:00", time.Date(9999, 12, 31, 22, 59, 59, 0, time.UTC), nil},
		{"0001-01-01T00:30:00-01:00", time.Date(1, 1, 1, 1, 30, 0, 0, time.UTC), nil},
		{"9999-12-31T23:59:59-01:00", time.Time{}, ErrTimeRange}, // year 10000 in UTC
		{"0001-01-01T00:30:00+01:00", time.Time{}, ErrTimeRange}, // year 0 in UTC
		{"0000-01-01T00:00:00Z", time.Time{}, ErrTimeRange},
		{"0000-12-31T23:59:59Z", time.Time{}, ErrTimeRange},
		{"10000-01-01T00:00:00Z", time.Time{}, ErrTimeSyntax},
		{"2026-02-30T00:00:00Z", time.Time{}, ErrTimeSyntax},
	} {
		got, err := ParseTime(c.in)
		if !errors.Is(err, c.err) || !got.Equal(c.want) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.err)
		}
	}
	_, err := Input{Title: ptr("p"), DueAt: ptr("9999-12-31T23:59:59-01:00")}.Draft()
	var te *Error
	if !errors.As(err, &te) || te.Code != Invalid || len(te.Fields) != 1 || te.Fields[0].Field != "due_at" {
		t.Errorf("draft with a year-10000 due_at: %v, want Invalid naming due_at", err)
	}
}
