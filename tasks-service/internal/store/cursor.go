package store

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

// cursor is the keyset position after the last item of a page. It is opaque
// to clients (base64url JSON) and only ever compared against the caller's
// own rows, so a forged cursor can skip rows but never reveal any.
type cursor struct {
	Sort  task.Sort `json:"s"`
	Desc  bool      `json:"d"`
	Value any       `json:"v"` // string (time RFC 3339 / title), number (priority) or null (due_at)
	ID    uuid.UUID `json:"id"`
}

func encodeCursor(q task.ListQuery, last taskRow) string {
	c := cursor{Sort: q.Sort, Desc: q.Desc, ID: last.ID}
	switch q.Sort {
	case task.SortCreatedAt:
		c.Value = last.CreatedAt.UTC().Format(time.RFC3339Nano)
	case task.SortUpdatedAt:
		c.Value = last.UpdatedAt.UTC().Format(time.RFC3339Nano)
	case task.SortDueAt:
		if last.DueAt != nil {
			c.Value = last.DueAt.UTC().Format(time.RFC3339Nano)
		}
	case task.SortPriority:
		c.Value = last.Priority
	case task.SortTitle:
		c.Value = last.Title
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the position and the typed value to compare with
// (nil for a due_at cursor on a task without due date).
func decodeCursor(s string, q task.ListQuery) (cursor, any, error) {
	bad := &task.Error{Code: task.Malformed, Message: "invalid query parameters",
		Fields: []task.FieldError{{Field: "cursor", Message: "is not a cursor this list issued with the same sort and order"}}}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 2048 {
		return cursor{}, nil, bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != q.Sort || c.Desc != q.Desc || c.ID == uuid.Nil {
		return cursor{}, nil, bad
	}
	switch q.Sort {
	case task.SortCreatedAt, task.SortUpdatedAt, task.SortDueAt:
		if c.Value == nil && q.Sort == task.SortDueAt {
			return c, nil, nil
		}
		s, ok := c.Value.(string)
		if !ok {
			return cursor{}, nil, bad
		}
		t, err := task.ParseTime(s)
		if err != nil {
			return cursor{}, nil, bad
		}
		return c, t, nil
	case task.SortPriority:
		f, ok := c.Value.(float64)
		if !ok || f < 1 || f > 3 || f != float64(int16(f)) {
			return cursor{}, nil, bad
		}
		return c, int16(f), nil
	case task.SortTitle:
		s, ok := c.Value.(string)
		if !ok || strings.ContainsRune(s, 0) || len(s) > 4*task.MaxTitle {
			return cursor{}, nil, bad
		}
		return c, s, nil
	}
	return cursor{}, nil, bad
}
