package api

import "github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"

// TableEntry is one row of the error table, for TestErrorTable.
type TableEntry struct {
	Status      int
	Slug, Title string
}

// ErrorTable returns the error table.
func ErrorTable() map[task.Code]TableEntry {
	out := make(map[task.Code]TableEntry, len(statusOf))
	for code, s := range statusOf {
		out[code] = TableEntry{s.status, s.slug, s.title}
	}
	return out
}

// CodeUnsupportedMedia is the API's own code.
const CodeUnsupportedMedia = codeUnsupportedMedia
