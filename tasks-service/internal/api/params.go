package api

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// listParams are the query parameters of GET /api/tasks; any other is an error.
var listParams = map[string]bool{
	"status": true, "priority": true, "tag": true, "q": true, "due_before": true, "due_after": true,
	"sort": true, "order": true, "limit": true, "cursor": true,
}

// parseListQuery validates the list parameters; every problem names its
// parameter, and the error is Malformed (400).
func parseListQuery(v url.Values) (task.ListQuery, error) {
	q := task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: task.DefaultLimit}
	var bad []task.FieldError
	fail := func(name, msg string) { bad = append(bad, task.FieldError{Field: name, Message: msg}) }
	one := func(name string) (string, bool) {
		vs, ok := v[name]
		if !ok {
			return "", false
		}
		if len(vs) > 1 {
			fail(name, "may be given once")
		}
		return vs[0], true
	}
	for name := range v {
		switch {
		case name == "": // "?=x" or "?&=": there is no name to point at
			fail("query", "has a parameter without a name")
		case !listParams[name]:
			fail(name, "is not a known parameter")
		}
	}
	if s, ok := one("status"); ok {
		switch st := task.Status(s); st {
		case task.StatusAll, task.StatusPending, task.StatusCompleted:
			q.Status = st
		default:
			fail("status", "must be all, pending or completed")
		}
	}
	if s, ok := one("priority"); ok {
		if p := task.Priority(s); p.Rank() > 0 {
			q.Priority = p
		} else {
			fail("priority", "must be low, medium or high")
		}
	}
	for _, tag := range v["tag"] {
		valid := utf8.ValidString(tag) // before ToLower, which would replace bad bytes
		tag = strings.ToLower(strings.TrimSpace(tag))
		if !valid || tag == "" || len(tag) > 4*task.MaxTagLength || strings.ContainsFunc(tag, unicode.IsControl) {
			fail("tag", "must be a non-empty tag of UTF-8 text without control characters")
			continue
		}
		q.Tags = append(q.Tags, tag)
	}
	if len(q.Tags) > task.MaxTags {
		fail("tag", "may be given at most 20 times")
	}
	if s, ok := one("q"); ok {
		q.Search = strings.TrimSpace(s)
		if len(q.Search) > 800 || utf8.RuneCountInString(q.Search) > 200 || !utf8.ValidString(q.Search) ||
			strings.ContainsFunc(q.Search, unicode.IsControl) {
			fail("q", "must be at most 200 characters of UTF-8 text")
		}
	}
	for name, dst := range map[string]**time.Time{"due_before": &q.DueBefore, "due_after": &q.DueAfter} {
		if s, ok := one(name); ok {
			t, err := task.ParseTime(s)
			if err != nil {
				fail(name, task.TimeProblem(err))
				continue
			}
			*dst = &t
		}
	}
	if s, ok := one("sort"); ok {
		q.Sort = ""
		for _, known := range task.Sorts {
			if task.Sort(s) == known {
				q.Sort = known
			}
		}
		if q.Sort == "" {
			fail("sort", "must be created_at, updated_at, due_at, priority or title")
		}
	}
	if s, ok := one("order"); ok {
		switch s {
		case "asc":
		case "desc":
			q.Desc = true
		default:
			fail("order", "must be asc or desc")
		}
	}
	if s, ok := one("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > task.MaxLimit {
			fail("limit", "must be a whole number from 1 to 100")
		}
		q.Limit = n
	}
	if s, ok := one("cursor"); ok {
		if s == "" {
			fail("cursor", "must not be empty")
		}
		q.Cursor = s
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return task.ListQuery{}, &task.Error{Code: task.Malformed, Message: "invalid query parameters", Fields: bad}
	}
	return q, nil
}
