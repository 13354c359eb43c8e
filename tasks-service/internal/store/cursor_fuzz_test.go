package store

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// FuzzDecodeCursor: decodeCursor never panics, refuses with a Malformed
// error naming "cursor", and what it accepts is a position Postgres can
// compare with (times within task.MinTime..MaxTime, priorities 1 to 3,
// titles without NUL) that encodeCursor writes back to the same position.
// Its seeds run in every `go test`; `make fuzz` runs it for a while.
func FuzzDecodeCursor(f *testing.F) {
	id := "0195d6b2-6f2a-7c1e-9d3b-2a4c5e6f7a8b"
	for _, seed := range []struct {
		json string
		sort uint8
		desc bool
	}{
		{`{"s":"created_at","d":false,"v":"2026-01-31T17:00:00.123456Z","id":"` + id + `"}`, 0, false},
		{`{"s":"created_at","d":false,"v":"0000-01-01T00:00:00Z","id":"` + id + `"}`, 0, false},
		{`{"s":"updated_at","d":true,"v":"9999-12-31T23:59:59-01:00","id":"` + id + `"}`, 1, true},
		{`{"s":"due_at","d":false,"v":null,"id":"` + id + `"}`, 2, false},
		{`{"s":"due_at","d":false,"v":"0001-01-01T00:00:00+01:00","id":"` + id + `"}`, 2, false},
		{`{"s":"priority","d":false,"v":2,"id":"` + id + `"}`, 3, false},
		{`{"s":"priority","d":false,"v":2.5,"id":"` + id + `"}`, 3, false},
		{`{"s":"title","d":true,"v":"milk\u0000","id":"` + id + `"}`, 4, true},
		{`{"s":"title","d":true,"v":"\ud800","id":"` + id + `"}`, 4, true},
		{`{"s":"title","d":true,"v":"x","id":"00000000-0000-0000-0000-000000000000"}`, 4, true},
		{`[]`, 0, false},
	} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(seed.json)), seed.sort, seed.desc)
	}
	f.Add("not base64!", uint8(0), false)
	f.Fuzz(func(t *testing.T, s string, sortIndex uint8, desc bool) {
		q := task.ListQuery{Sort: task.Sorts[int(sortIndex)%len(task.Sorts)], Desc: desc}
		c, v, err := decodeCursor(s, q)
		if err != nil {
			var te *task.Error
			if !errors.As(err, &te) || te.Code != task.Malformed || len(te.Fields) != 1 || te.Fields[0].Field != "cursor" {
				t.Fatalf("refused with %v, want Malformed naming cursor", err)
			}
			return
		}
		if c.ID == uuid.Nil {
			t.Fatal("nil id accepted")
		}
		row := taskRow{ID: c.ID}
		switch q.Sort {
		case task.SortCreatedAt, task.SortUpdatedAt, task.SortDueAt:
			if v == nil && q.Sort == task.SortDueAt {
				break
			}
			tm, ok := v.(time.Time)
			if !ok || !task.InTimeRange(tm) {
				t.Fatalf("%s cursor value %#v accepted", q.Sort, v)
			}
			row.CreatedAt, row.UpdatedAt, row.DueAt = tm, tm, &tm
		case task.SortPriority:
			p, ok := v.(int16)
			if !ok || p < 1 || p > 3 {
				t.Fatalf("priority cursor value %#v accepted", v)
			}
			row.Priority = p
		case task.SortTitle:
			title, ok := v.(string)
			if !ok {
				t.Fatalf("title cursor value %#v accepted", v)
			}
			row.Title = title
		}
		c2, v2, err := decodeCursor(encodeCursor(q, row), q)
		if err != nil {
			t.Fatalf("re-encoded cursor refused: %v", err)
		}
		if c2.ID != c.ID || !sameValue(v, v2) {
			t.Fatalf("round trip moved the position: %v %#v -> %v %#v", c.ID, v, c2.ID, v2)
		}
	})
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}
