package api

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// The fuzz targets below run their seeds in every `go test` (make test);
// `make fuzz` runs each for a while. Their property: no input panics, a
// refused input is a client error naming its field, and an accepted one
// survives the trip it is about to take (to Postgres, into JSON and back).

// FuzzParseListQuery: a query string parseListQuery accepts holds only what
// Postgres and JSON can take (valid UTF-8, times in task.MinTime..MaxTime)
// and reads back as the same ListQuery from its canonical encoding.
func FuzzParseListQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"status=pending&priority=high&tag=a&tag=b&q=milk&sort=due_at&order=desc&limit=5",
		"due_before=2026-01-31T17:00:00Z&due_after=2026-01-01T00:00:00.123456789%2B01:00",
		"due_before=0000-01-01T00:00:00Z",
		"due_after=9999-12-31T23:59:59-01:00",
		"due_before=0001-01-01T00:30:00%2B01:00",
		"due_after=9999-12-31T23:59:59.999999999Z",
		"q=%FF&tag=%C3%28",
		"q=%00&tag=%0A",
		"cursor=&limit=0",
		"limit=%2B5&limit=101",
		"tag=%20MiXeD%20&tag=mixed",
		"sort=title&order=asc&cursor=eyJzIjoidGl0bGUifQ",
		"unknown=1&status=all&status=all",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return // the handler answers 400 before parsing
		}
		q, err := parseListQuery(values)
		if err != nil {
			requireFieldError(t, err, task.Malformed)
			return
		}
		if q.Limit < 1 || q.Limit > task.MaxLimit {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		for _, s := range append([]string{q.Search}, q.Tags...) {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q accepted; Postgres refuses it", s)
			}
		}
		for _, tm := range []*time.Time{q.DueBefore, q.DueAfter} {
			if tm != nil && !task.InTimeRange(*tm) {
				t.Fatalf("time %v outside the supported range accepted", tm)
			}
		}
		again, err := parseListQuery(encodeListQuery(q))
		if err != nil {
			t.Fatalf("%+v re-encoded is refused: %v", q, err)
		}
		if !reflect.DeepEqual(q, again) {
			t.Fatalf("round trip changed the query:\n%+v\n%+v", q, again)
		}
	})
}

// encodeListQuery is the canonical query string of q.
func encodeListQuery(q task.ListQuery) url.Values {
	v := url.Values{"status": {string(q.Status)}, "sort": {string(q.Sort)}, "limit": {strconv.Itoa(q.Limit)}}
	if q.Priority != "" {
		v.Set("priority", string(q.Priority))
	}
	for _, tag := range q.Tags {
		v.Add("tag", tag)
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.DueBefore != nil {
		v.Set("due_before", q.DueBefore.Format(time.RFC3339Nano))
	}
	if q.DueAfter != nil {
		v.Set("due_after", q.DueAfter.Format(time.RFC3339Nano))
	}
	if q.Desc {
		v.Set("order", "desc")
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// FuzzDecodeTask: a body the create/replace decoder accepts gives a draft
// whose task encodes as JSON and reads back unchanged, and whose fields
// validate again to the same draft (what PATCH relies on).
func FuzzDecodeTask(f *testing.F) {
	for _, seed := range []string{
		`{"title":"p","due_at":"9999-12-31T23:59:59-01:00"}`,
		`{"title":"p","due_at":"0000-12-31T23:59:59Z"}`,
		`{"title":"p","due_at":"0001-01-01T00:00:00+00:01"}`,
		`{"title":"p","due_at":"0001-01-01T00:00:00Z"}`,
		`{"title":"p","due_at":"9999-12-31T23:59:59.9999999Z"}`,
		`{"title":"p","due_at":"2026-02-30T00:00:00Z"}`,
		`{"title":" Milk ","description":"2 l\n","priority":"high","tags":["Shop"," shop ","x"],"due_at":"2026-01-31T17:00:00.5+05:30","completed":true}`,
		`{"title":"\u0000"}`,
		`{"title":"\ud800","tags":["\u00e9"]}`,
		`{"title":null,"due_at":null}`,
		`{"title":"t","tags":"a"}`,
		`{"id":"x","title":"t"}`,
		`[]`,
		`{"title":"t"`,
	} {
		f.Add([]byte(seed))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeTask(body)
		if err != nil {
			var te *task.Error
			if !errors.As(err, &te) || (te.Code != task.Malformed && te.Code != task.Invalid) {
				t.Fatalf("refused with %v, want a Malformed or Invalid task error", err)
			}
			return
		}
		if d.DueAt != nil && (!task.InTimeRange(*d.DueAt) || d.DueAt.Location() != time.UTC || d.DueAt.Nanosecond()%1000 != 0) {
			t.Fatalf("due_at %v accepted: not a UTC microsecond within the supported range", d.DueAt)
		}
		tk := task.Task{ID: uuid.New(), UserID: "u", Title: d.Title, Description: d.Description, Completed: d.Completed,
			Priority: d.Priority, Tags: d.Tags, DueAt: d.DueAt, CreatedAt: created, UpdatedAt: created, Version: 1}
		if d.Completed {
			tk.CompletedAt = &created
		}
		enc, err := json.Marshal(tk)
		if err != nil {
			t.Fatalf("the accepted task cannot be sent: %v", err)
		}
		var back task.Task
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("the accepted task cannot be read back: %v", err)
		}
		if (back.DueAt == nil) != (d.DueAt == nil) || (d.DueAt != nil && !back.DueAt.Equal(*d.DueAt)) {
			t.Fatalf("due_at %v came back as %v", d.DueAt, back.DueAt)
		}
		again, err := task.InputOf(back).Draft()
		if err != nil {
			t.Fatalf("the stored task does not validate again: %v", err)
		}
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("validation is not stable:\n%+v\n%+v", d, again)
		}
	})
}

// decodeTask is draftFromBody without the Fiber context.
func decodeTask(body []byte) (task.Draft, error) {
	obj, err := decodeObject(body, editable)
	if err != nil {
		return task.Draft{}, err
	}
	var in task.Input
	if err := overlay(&in, obj); err != nil {
		return task.Draft{}, err
	}
	return in.Draft()
}

// requireFieldError fails t unless err is a task error with code whose
// every field error names a field.
func requireFieldError(t *testing.T, err error, code task.Code) {
	t.Helper()
	var te *task.Error
	if !errors.As(err, &te) || te.Code != code || len(te.Fields) == 0 {
		t.Fatalf("refused with %v, want a %v error naming the field", err, code)
	}
	for _, fe := range te.Fields {
		if fe.Field == "" || fe.Message == "" {
			t.Fatalf("field error %+v names no field", fe)
		}
	}
}
