package store

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// taskRow is a row of the tasks table.
type taskRow struct {
	bun.BaseModel `bun:"table:tasks"`

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID      string     `bun:"user_id"`
	Title       string     `bun:"title"`
	Description string     `bun:"description"`
	Completed   bool       `bun:"completed"`
	CompletedAt *time.Time `bun:"completed_at"`
	Priority    int16      `bun:"priority"`
	Tags        []string   `bun:"tags,array"`
	DueAt       *time.Time `bun:"due_at"`
	CreatedAt   time.Time  `bun:"created_at"`
	UpdatedAt   time.Time  `bun:"updated_at"`
	Version     int64      `bun:"version"`
}

func (r taskRow) task() task.Task {
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return task.Task{
		ID:          r.ID,
		UserID:      r.UserID,
		Title:       r.Title,
		Description: r.Description,
		Completed:   r.Completed,
		CompletedAt: utcPtr(r.CompletedAt),
		Priority:    task.PriorityFromRank(r.Priority),
		Tags:        tags,
		DueAt:       utcPtr(r.DueAt),
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
		Version:     r.Version,
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeCol scans a timestamptz.
type timeCol = time.Time
