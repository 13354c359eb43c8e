// Package task is the domain of the tasks service: the Task type, the rules a
// task must satisfy, the list query language and the error codes every other
// package speaks. It imports neither the database nor HTTP.
package task

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Priority is low, medium or high; the zero value is not valid.
type Priority string

// The three priorities, lowest first.
const (
	Low    Priority = "low"
	Medium Priority = "medium"
	High   Priority = "high"
)

// Rank orders priorities: low=1, medium=2, high=3, anything else 0.
func (p Priority) Rank() int16 {
	switch p {
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	}
	return 0
}

// PriorityFromRank is the inverse of Rank; it returns "" for an unknown rank.
func PriorityFromRank(r int16) Priority {
	switch r {
	case 1:
		return Low
	case 2:
		return Medium
	case 3:
		return High
	}
	return ""
}

// Task is one user's to-do item as the public API shows it.
type Task struct {
	ID          uuid.UUID  `json:"id"`
	UserID      string     `json:"user_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Completed   bool       `json:"completed"`
	CompletedAt *time.Time `json:"completed_at"`
	Priority    Priority   `json:"priority"`
	Tags        []string   `json:"tags"`
	DueAt       *time.Time `json:"due_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Version     int64      `json:"version"`
}

// Draft is a validated, normalised set of user-editable fields: what a create
// or a full replace writes. Build one with Input.Draft.
type Draft struct {
	Title       string
	Description string
	Priority    Priority
	Tags        []string
	DueAt       *time.Time
	Completed   bool
}

// Idempotency identifies a create request that a client may retry: the same
// Key with the same BodyHash must not create a second task.
type Idempotency struct {
	Key      string
	BodyHash [32]byte
}

// Page is one page of a list; NextCursor is "" on the last page.
type Page struct {
	Items      []Task
	NextCursor string
}

// Store reads and writes the tasks of exactly one user. Every method returns
// *Error values with the codes documented on it; nothing else escapes.
type Store interface {
	// List returns Malformed (field "cursor") for a cursor it did not issue for
	// the same sort and order.
	List(ctx context.Context, q ListQuery) (Page, error)
	// Get returns NotFound when the task does not exist or belongs to someone else.
	Get(ctx context.Context, id uuid.UUID) (Task, error)
	// Create returns replayed=true and the originally created task when idem
	// repeats an earlier request; IdempotencyMismatch when the key was used with
	// another body.
	Create(ctx context.Context, d Draft, idem *Idempotency) (t Task, replayed bool, err error)
	// Replace overwrites every editable field. ifMatch, when not nil, must equal
	// the current version or PreconditionFailed is returned.
	Replace(ctx context.Context, id uuid.UUID, d Draft, ifMatch *int64) (Task, error)
	// Update applies change to the current task and writes the result; the
	// read-modify-write is optimistic and retried when another writer wins and
	// ifMatch is nil.
	Update(ctx context.Context, id uuid.UUID, change func(Task) (Draft, error), ifMatch *int64) (Task, error)
	// SetCompleted toggles completion when completed is nil, else sets it, and
	// maintains completed_at.
	SetCompleted(ctx context.Context, id uuid.UUID, completed *bool, ifMatch *int64) (Task, error)
	// Delete returns NotFound or PreconditionFailed like Replace.
	Delete(ctx context.Context, id uuid.UUID, ifMatch *int64) error
}
