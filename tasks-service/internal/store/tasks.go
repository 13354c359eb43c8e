package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

var _ task.Store = (*Tasks)(nil)

// sortColumn is the column of each sort; only these strings reach ORDER BY.
var sortColumn = map[task.Sort]string{
	task.SortCreatedAt: "created_at",
	task.SortUpdatedAt: "updated_at",
	task.SortDueAt:     "due_at",
	task.SortPriority:  "priority",
	task.SortTitle:     "title",
}

// List returns one page in keyset order; tasks without due_at come last in
// both directions of the due_at sort.
func (s *Tasks) List(ctx context.Context, q task.ListQuery) (_ task.Page, err error) {
	defer wrap(&err, "List")
	col, ok := sortColumn[q.Sort]
	if !ok {
		return task.Page{}, task.Errorf(task.Internal, "unknown sort %q", q.Sort)
	}
	sel := s.db.NewSelect().Model((*taskRow)(nil)).Where("user_id = ?", s.userID)
	switch q.Status {
	case task.StatusPending:
		sel.Where("NOT completed")
	case task.StatusCompleted:
		sel.Where("completed")
	}
	if q.Priority != "" {
		sel.Where("priority = ?", q.Priority.Rank())
	}
	if len(q.Tags) > 0 {
		sel.Where("tags @> ?", pgdialect.Array(q.Tags))
	}
	if q.Search != "" {
		pattern := "%" + likeEscaper.Replace(q.Search) + "%"
		sel.Where("(title ILIKE ? ESCAPE '!' OR description ILIKE ? ESCAPE '!')", pattern, pattern)
	}
	if q.DueBefore != nil {
		sel.Where("due_at < ?", *q.DueBefore)
	}
	if q.DueAfter != nil {
		sel.Where("due_at > ?", *q.DueAfter)
	}

	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	if q.Cursor != "" {
		c, v, err := decodeCursor(q.Cursor, q)
		if err != nil {
			return task.Page{}, err
		}
		switch {
		case q.Sort == task.SortDueAt && v == nil: // only undated tasks remain
			sel.Where("due_at IS NULL AND id "+cmp+" ?", c.ID)
		case q.Sort == task.SortDueAt:
			sel.Where("((due_at, id) "+cmp+" (?, ?) OR due_at IS NULL)", v, c.ID)
		default:
			sel.Where("(?, id) "+cmp+" (?, ?)", bun.Ident(col), v, c.ID)
		}
	}
	sel.OrderExpr("? "+dir+" NULLS LAST, id "+dir, bun.Ident(col)).Limit(int64(q.Limit) + 1)

	rows := make([]taskRow, 0, q.Limit+1) // Bun appends into the capacity instead of growing the slice row by row
	if err := s.run(ctx, &rows, sel); err != nil {
		return task.Page{}, err
	}
	page := task.Page{Items: make([]task.Task, 0, min(len(rows), q.Limit))}
	for i, r := range rows {
		if i == q.Limit {
			page.NextCursor = encodeCursor(q, rows[i-1])
			break
		}
		page.Items = append(page.Items, r.task())
	}
	return page, nil
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// Get returns NotFound for a missing task and for another user's.
func (s *Tasks) Get(ctx context.Context, id uuid.UUID) (_ task.Task, err error) {
	defer wrap(&err, "Get(%s)", id)
	var rows []taskRow
	sel := s.db.NewSelect().Model((*taskRow)(nil)).Where("id = ? AND user_id = ?", id, s.userID)
	if err := s.run(ctx, &rows, sel); err != nil {
		return task.Task{}, err
	}
	if len(rows) == 0 {
		return task.Task{}, notFound()
	}
	return rows[0].task(), nil
}

// Create inserts a task; with idem, the insert happens only when the key is
// new (or older than IdempotencyWindow, when its row is recycled in place) —
// a concurrent request with the same key waits for the first to commit and
// then finds the key taken.
func (s *Tasks) Create(ctx context.Context, d task.Draft, idem *task.Idempotency) (_ task.Task, _ bool, err error) {
	defer wrap(&err, "Create")
	id := uuid.New()
	var rows []taskRow
	if idem == nil {
		q := s.db.NewRaw(`INSERT INTO tasks (id, user_id, title, description, completed, completed_at, priority, tags, due_at)
			VALUES (?, ?, ?, ?, ?, CASE WHEN ? THEN now() END, ?, ?, ?) RETURNING *`,
			id, s.userID, d.Title, d.Description, d.Completed, d.Completed, d.Priority.Rank(), pgdialect.Array(d.Tags), d.DueAt)
		if err := s.run(ctx, &rows, q); err != nil {
			return task.Task{}, false, err
		}
		return rows[0].task(), false, nil
	}

	ctx, span := s.idempotencySpan(ctx)
	t, replayed, err := s.createOnce(ctx, id, d, idem)
	endIdempotencySpan(span, replayed, err)
	return t, replayed, err
}

// createOnce is Create with an Idempotency-Key: the insert when the key is
// new, else the replay of the first request's answer.
func (s *Tasks) createOnce(ctx context.Context, id uuid.UUID, d task.Draft, idem *task.Idempotency) (task.Task, bool, error) {
	var rows []taskRow
	q := s.db.NewRaw(`WITH k AS (
			INSERT INTO idempotency_keys AS k (user_id, key, request_hash, task_id) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, key) DO UPDATE
				SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, created_at = now()
				WHERE k.created_at < now() - make_interval(secs => ?)
			RETURNING k.task_id, k.created_at)
		INSERT INTO tasks (id, user_id, title, description, completed, completed_at, priority, tags, due_at, created_at, updated_at)
		SELECT k.task_id, ?, ?, ?, ?, CASE WHEN ? THEN k.created_at END, ?, ?, ?, k.created_at, k.created_at FROM k
		RETURNING *`,
		s.userID, idem.Key, idem.BodyHash[:], id, IdempotencyWindow.Seconds(),
		s.userID, d.Title, d.Description, d.Completed, d.Completed, d.Priority.Rank(), pgdialect.Array(d.Tags), d.DueAt)
	if err := s.run(ctx, &rows, q); err != nil {
		return task.Task{}, false, err
	}
	if len(rows) == 1 {
		return rows[0].task(), false, nil
	}
	return s.replay(ctx, d, idem)
}

// replay rebuilds the response of the request that first used idem.Key: the
// same body gives the same draft, and the key row holds the id and time.
func (s *Tasks) replay(ctx context.Context, d task.Draft, idem *task.Idempotency) (task.Task, bool, error) {
	var keys []struct {
		RequestHash []byte    `bun:"request_hash"`
		TaskID      uuid.UUID `bun:"task_id"`
		CreatedAt   timeCol   `bun:"created_at"`
	}
	q := s.db.NewRaw(`SELECT request_hash, task_id, created_at FROM idempotency_keys WHERE user_id = ? AND key = ?`,
		s.userID, idem.Key)
	if err := s.run(ctx, &keys, q); err != nil {
		return task.Task{}, false, err
	}
	if len(keys) == 0 { // the first request rolled back between our two statements
		return task.Task{}, false, task.Errorf(task.Conflict, "a concurrent request with the same Idempotency-Key failed; retry")
	}
	k := keys[0]
	if string(k.RequestHash) != string(idem.BodyHash[:]) {
		return task.Task{}, false, task.Errorf(task.IdempotencyMismatch, "this Idempotency-Key was used with a different request body")
	}
	created := k.CreatedAt.UTC()
	t := task.Task{
		ID: k.TaskID, UserID: s.userID, Title: d.Title, Description: d.Description,
		Completed: d.Completed, Priority: d.Priority, Tags: d.Tags, DueAt: d.DueAt,
		CreatedAt: created, UpdatedAt: created, Version: 1,
	}
	if d.Completed {
		t.CompletedAt = &created
	}
	return t, true, nil
}

// Replace overwrites the editable fields; completed_at is kept when the task
// stays completed, set when it becomes completed, cleared otherwise.
func (s *Tasks) Replace(ctx context.Context, id uuid.UUID, d task.Draft, ifMatch *int64) (_ task.Task, err error) {
	defer wrap(&err, "Replace(%s)", id)
	q := s.db.NewRaw(`UPDATE tasks SET title = ?, description = ?, priority = ?, tags = ?, due_at = ?,
			completed = ?, completed_at = CASE WHEN ? THEN coalesce(completed_at, now()) END,
			updated_at = now(), version = version + 1
		WHERE id = ? AND user_id = ? AND (?::bigint IS NULL OR version = ?::bigint) RETURNING *`,
		d.Title, d.Description, d.Priority.Rank(), pgdialect.Array(d.Tags), d.DueAt,
		d.Completed, d.Completed, id, s.userID, ifMatch, ifMatch)
	return s.writeOne(ctx, id, q)
}

// Update is an optimistic read-modify-write: two round trips, retried up to
// three times when another writer changes the task in between.
func (s *Tasks) Update(ctx context.Context, id uuid.UUID, change func(task.Task) (task.Draft, error), ifMatch *int64) (_ task.Task, err error) {
	defer wrap(&err, "Update(%s)", id)
	for range 3 {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return task.Task{}, err
		}
		if ifMatch != nil && *ifMatch != cur.Version {
			return task.Task{}, preconditionFailed()
		}
		d, err := change(cur)
		if err != nil {
			return task.Task{}, err
		}
		t, err := s.Replace(ctx, id, d, &cur.Version)
		if task.ErrorCode(err) == task.PreconditionFailed && ifMatch == nil {
			continue
		}
		return t, err
	}
	return task.Task{}, task.Errorf(task.Conflict, "the task kept changing; retry")
}

// SetCompleted toggles (completed == nil) or sets completion.
func (s *Tasks) SetCompleted(ctx context.Context, id uuid.UUID, completed *bool, ifMatch *int64) (_ task.Task, err error) {
	defer wrap(&err, "SetCompleted(%s)", id)
	// On the right of SET, columns hold their old values.
	q := s.db.NewRaw(`UPDATE tasks SET
			completed = coalesce(?::boolean, NOT completed),
			completed_at = CASE WHEN coalesce(?::boolean, NOT completed) THEN coalesce(completed_at, now()) END,
			updated_at = now(), version = version + 1
		WHERE id = ? AND user_id = ? AND (?::bigint IS NULL OR version = ?::bigint) RETURNING *`,
		completed, completed, id, s.userID, ifMatch, ifMatch)
	return s.writeOne(ctx, id, q)
}

// Delete removes the task.
func (s *Tasks) Delete(ctx context.Context, id uuid.UUID, ifMatch *int64) (err error) {
	defer wrap(&err, "Delete(%s)", id)
	q := s.db.NewRaw(`DELETE FROM tasks WHERE id = ? AND user_id = ? AND (?::bigint IS NULL OR version = ?::bigint) RETURNING *`,
		id, s.userID, ifMatch, ifMatch)
	_, err = s.writeOne(ctx, id, q)
	return err
}

// writeOne runs a statement that affects at most the task id; when it
// affects none, a second look tells NotFound from PreconditionFailed.
func (s *Tasks) writeOne(ctx context.Context, id uuid.UUID, q *bun.RawQuery) (task.Task, error) {
	var rows []taskRow
	if err := s.run(ctx, &rows, q); err != nil {
		return task.Task{}, err
	}
	if len(rows) == 1 {
		return rows[0].task(), nil
	}
	if _, err := s.Get(ctx, id); err != nil {
		return task.Task{}, err
	}
	return task.Task{}, preconditionFailed()
}

func notFound() error { return task.Errorf(task.NotFound, "no such task") }

func preconditionFailed() error {
	return task.Errorf(task.PreconditionFailed, "the task has changed since the version in If-Match")
}
