package task

import "time"

// Status filters by completion.
type Status string

// The list statuses.
const (
	StatusAll       Status = "all"
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
)

// Sort names the column a list is ordered by; ties break on id.
type Sort string

// The list sorts.
const (
	SortCreatedAt Sort = "created_at"
	SortUpdatedAt Sort = "updated_at"
	SortDueAt     Sort = "due_at"
	SortPriority  Sort = "priority"
	SortTitle     Sort = "title"
)

// Sorts lists every Sort, for parsers and tests.
var Sorts = []Sort{SortCreatedAt, SortUpdatedAt, SortDueAt, SortPriority, SortTitle}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// ListQuery is a validated list request. Tasks without due_at sort last in
// both orders.
type ListQuery struct {
	Status    Status
	Priority  Priority // "" = any
	Tags      []string // all must be present
	Search    string   // case-insensitive substring of title or description
	DueBefore *time.Time
	DueAfter  *time.Time
	Sort      Sort
	Desc      bool
	Limit     int
	Cursor    string
}
