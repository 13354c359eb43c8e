package task

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestDraftNormalises(t *testing.T) {
	d, err := Input{
		Title: ptr("  Buy milk \t"), Description: ptr(" line1\nline2 "), Priority: ptr("high"),
		Tags: []string{" Home", "home", "SHOP", "shop "}, DueAt: ptr("2026-03-01T10:00:00.1234567+02:00"), Completed: ptr(true),
	}.Draft()
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "Buy milk" || d.Description != "line1\nline2" || d.Priority != High || strings.Join(d.Tags, ",") != "home,shop" || !d.Completed {
		t.Errorf("draft %+v", d)
	}
	if want := time.Date(2026, 3, 1, 8, 0, 0, 123456000, time.UTC); !d.DueAt.Equal(want) || d.DueAt.Location() != time.UTC {
		t.Errorf("due_at %v, want %v (UTC, microseconds)", d.DueAt, want)
	}
	d, err = Input{Title: ptr("x")}.Draft()
	if err != nil || d.Priority != Medium || d.Tags == nil || len(d.Tags) != 0 || d.DueAt != nil {
		t.Errorf("defaults: %+v %v", d, err)
	}
}

func TestDraftRejects(t *testing.T) {
	cases := []struct {
		desc  string
		in    Input
		field string
	}{
		{"no title", Input{}, "title"},
		{"blank title", Input{Title: ptr(" \n ")}, "title"},
		{"201 runes", Input{Title: ptr(strings.Repeat("ж", 201))}, "title"},
		{"control char", Input{Title: ptr("a\x07")}, "title"},
		{"description 1001", Input{Title: ptr("t"), Description: ptr(strings.Repeat("a", 1001))}, "description"},
		{"description NUL", Input{Title: ptr("t"), Description: ptr("a\x00")}, "description"},
		{"priority", Input{Title: ptr("t"), Priority: ptr("HIGH")}, "priority"},
		{"21 tags", Input{Title: ptr("t"), Tags: strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u", ",")}, "tags"},
		{"long tag", Input{Title: ptr("t"), Tags: []string{strings.Repeat("a", 51)}}, "tags[0]"},
		{"comma in tag", Input{Title: ptr("t"), Tags: []string{"a,b"}}, "tags[0]"},
		{"due_at", Input{Title: ptr("t"), DueAt: ptr("2026-02-30T00:00:00Z")}, "due_at"},
	}
	for _, c := range cases {
		_, err := c.in.Draft()
		var e *Error
		if !errors.As(err, &e) || e.Code != Invalid {
			t.Errorf("%s: %v, want Invalid", c.desc, err)
			continue
		}
		if len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("%s: fields %+v, want exactly %q", c.desc, e.Fields, c.field)
		}
	}
	// Every bad field is reported at once.
	_, err := Input{Title: ptr(""), Priority: ptr("x"), DueAt: ptr("y")}.Draft()
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) != 3 {
		t.Errorf("several bad fields: %v", err)
	}
}

func TestInputOfRoundTrips(t *testing.T) {
	due := time.Date(2026, 5, 1, 12, 0, 0, 5000, time.UTC)
	orig := Task{Title: "t", Description: "d", Priority: Low, Tags: []string{"a"}, DueAt: &due, Completed: true}
	d, err := InputOf(orig).Draft()
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "t" || d.Description != "d" || d.Priority != Low || d.Tags[0] != "a" || !d.DueAt.Equal(due) || !d.Completed {
		t.Errorf("round trip %+v", d)
	}
}

func TestPriorityRank(t *testing.T) {
	for _, p := range []Priority{Low, Medium, High} {
		if PriorityFromRank(p.Rank()) != p {
			t.Errorf("%s does not round-trip", p)
		}
	}
	if Priority("x").Rank() != 0 || PriorityFromRank(9) != "" {
		t.Error("unknown priorities must not rank")
	}
}
