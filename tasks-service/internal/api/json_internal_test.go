package api

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
)

// hostileStrings are what a user may put in a title, a description or a
// tag, chosen for every escaping rule of encoding/json: HTML characters,
// the JavaScript line separators, control bytes, invalid and truncated
// UTF-8, quotes and backslashes, and long runs either side of the 8- and
// 16-byte blocks encoders scan at once.
var hostileStrings = []string{
	"",
	"plain title",
	`<script>alert("x")</script> & more`,
	"line\u2028separator\u2029paragraph",
	"\x00\x01\x1f\x7f tab\t newline\n return\r",
	"\xff\xfe invalid \xc3 truncated \xe2\x82",
	`quote " backslash \ slash /`,
	"émoji 🧪 and 中文",
	strings.Repeat("a", 15) + "<" + strings.Repeat("b", 16) + "\u2028",
	strings.Repeat("x\"", 200),
}

func sampleTasks(strs []string) []task.Task {
	at := func(i int) string { return strs[i%len(strs)] }
	zones := []*time.Location{time.UTC, time.FixedZone("", -(9*3600 + 30*60)), time.FixedZone("CEST", 2*3600)}
	var out []task.Task
	for i := range strs {
		created := time.Date(2026, 12, 4, 10, 11, 12, i*123456789%1e9, zones[i%len(zones)])
		t := task.Task{
			ID:          uuid.New(),
			UserID:      at(i + 1),
			Title:       at(i),
			Description: at(i + 2),
			Priority:    task.Priority(at(i + 3)),
			CreatedAt:   created,
			UpdatedAt:   created.Add(time.Duration(i) * time.Nanosecond),
			Version:     int64(i),
		}
		switch i % 4 {
		case 0:
			t.Tags = nil // null
		case 1:
			t.Tags = []string{} // []
		default:
			t.Tags = []string{at(i), at(i + 4)}
		}
		if i%2 == 0 {
			done := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			due := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
			t.Completed, t.CompletedAt, t.DueAt = true, &done, &due
		}
		if i == 3 {
			t.Version = math.MaxInt64
		}
		out = append(out, t)
	}
	return out
}

// assertSameJSON fails unless jsonEncoder writes v exactly as
// encoding/json does.
func assertSameJSON(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := jsonEncoder(v)
	if err != nil {
		t.Fatalf("jsonEncoder: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("jsonEncoder differs from encoding/json\n got: %s\nwant: %s", got, want)
	}
}

// TestJSONEncoderAgreesWithEncodingJSON: every body the service writes
// through c.JSON — a page (with and without a next cursor, empty), one
// task, the health answers — is byte for byte what encoding/json writes.
func TestJSONEncoderAgreesWithEncodingJSON(t *testing.T) {
	tasks := sampleTasks(hostileStrings)
	cursor := hostileStrings[2]
	for _, v := range []any{
		listResponse{Items: tasks},
		listResponse{Items: tasks, NextCursor: &cursor},
		listResponse{Items: []task.Task{}},
		listResponse{},
		tasks[0], &tasks[1],
		fiber.Map{"status": "ok", "b": 1, "a": hostileStrings[3]},
	} {
		assertSameJSON(t, v)
	}
}

// FuzzJSONEncoder: for any strings in a task's text fields and any
// instant in the years a task may carry, jsonEncoder writes what
// encoding/json writes.
func FuzzJSONEncoder(f *testing.F) {
	for i, s := range hostileStrings {
		f.Add(s, hostileStrings[(i+1)%len(hostileStrings)], int64(i)*1e15, int32(i*3600))
	}
	f.Fuzz(func(t *testing.T, title, tag string, unixNano int64, offset int32) {
		when := time.Unix(0, unixNano).In(time.FixedZone("", int(offset%(18*3600))))
		tk := sampleTasks([]string{title, tag})[0]
		tk.Tags = []string{tag, title}
		tk.CreatedAt, tk.DueAt = when, &when
		assertSameJSON(t, listResponse{Items: []task.Task{tk}, NextCursor: &tag})
	})
}

// BenchmarkListEncoding is a page of 20 tasks through jsonEncoder and
// through encoding/json.
func BenchmarkListEncoding(b *testing.B) {
	strs := []string{"Buy milk", "a description of about sixty characters, as a user writes one", "home", "errand", "medium"}
	tasks := sampleTasks(strs)
	for len(tasks) < 20 {
		tasks = append(tasks, tasks...)
	}
	page := listResponse{Items: tasks[:20]}
	for _, e := range []struct {
		name string
		enc  func(any) ([]byte, error)
	}{{"goccy", jsonEncoder}, {"encoding-json", json.Marshal}} {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.enc(page); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
