// Package mock provides a task.Store whose behaviour each test sets, in the
// shape of WTF Dial's mock package: one function field per method. It lets
// the HTTP layer's tests (handlers, validation, the error table) run fast
// and exactly, without Postgres; the store's own tests and the end-to-end
// path keep the real database.
package mock

import (
	"context"
	"sync"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/google/uuid"
)

var _ task.Store = (*Store)(nil)

// Store is a task.Store that calls its Fn fields. A method whose field is
// nil returns an Internal error naming it, so a test that expects the store
// never to be reached sees a 500 if it is. Calls lists the methods called,
// in order.
type Store struct {
	ListFn         func(ctx context.Context, q task.ListQuery) (task.Page, error)
	GetFn          func(ctx context.Context, id uuid.UUID) (task.Task, error)
	CreateFn       func(ctx context.Context, d task.Draft, idem *task.Idempotency) (task.Task, bool, error)
	ReplaceFn      func(ctx context.Context, id uuid.UUID, d task.Draft, ifMatch *int64) (task.Task, error)
	UpdateFn       func(ctx context.Context, id uuid.UUID, change func(task.Task) (task.Draft, error), ifMatch *int64) (task.Task, error)
	SetCompletedFn func(ctx context.Context, id uuid.UUID, completed *bool, ifMatch *int64) (task.Task, error)
	DeleteFn       func(ctx context.Context, id uuid.UUID, ifMatch *int64) error

	mu    sync.Mutex
	calls []string
}

// Calls returns the names of the methods called so far.
func (s *Store) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Store) called(name string, set bool) error {
	s.mu.Lock()
	s.calls = append(s.calls, name)
	s.mu.Unlock()
	if !set {
		return task.Errorf(task.Internal, "mock: Store.%s is not set", name)
	}
	return nil
}

// List calls ListFn.
func (s *Store) List(ctx context.Context, q task.ListQuery) (task.Page, error) {
	if err := s.called("List", s.ListFn != nil); err != nil {
		return task.Page{}, err
	}
	return s.ListFn(ctx, q)
}

// Get calls GetFn.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (task.Task, error) {
	if err := s.called("Get", s.GetFn != nil); err != nil {
		return task.Task{}, err
	}
	return s.GetFn(ctx, id)
}

// Create calls CreateFn.
func (s *Store) Create(ctx context.Context, d task.Draft, idem *task.Idempotency) (task.Task, bool, error) {
	if err := s.called("Create", s.CreateFn != nil); err != nil {
		return task.Task{}, false, err
	}
	return s.CreateFn(ctx, d, idem)
}

// Replace calls ReplaceFn.
func (s *Store) Replace(ctx context.Context, id uuid.UUID, d task.Draft, ifMatch *int64) (task.Task, error) {
	if err := s.called("Replace", s.ReplaceFn != nil); err != nil {
		return task.Task{}, err
	}
	return s.ReplaceFn(ctx, id, d, ifMatch)
}

// Update calls UpdateFn.
func (s *Store) Update(ctx context.Context, id uuid.UUID, change func(task.Task) (task.Draft, error), ifMatch *int64) (task.Task, error) {
	if err := s.called("Update", s.UpdateFn != nil); err != nil {
		return task.Task{}, err
	}
	return s.UpdateFn(ctx, id, change, ifMatch)
}

// SetCompleted calls SetCompletedFn.
func (s *Store) SetCompleted(ctx context.Context, id uuid.UUID, completed *bool, ifMatch *int64) (task.Task, error) {
	if err := s.called("SetCompleted", s.SetCompletedFn != nil); err != nil {
		return task.Task{}, err
	}
	return s.SetCompletedFn(ctx, id, completed, ifMatch)
}

// Delete calls DeleteFn.
func (s *Store) Delete(ctx context.Context, id uuid.UUID, ifMatch *int64) error {
	if err := s.called("Delete", s.DeleteFn != nil); err != nil {
		return err
	}
	return s.DeleteFn(ctx, id, ifMatch)
}
