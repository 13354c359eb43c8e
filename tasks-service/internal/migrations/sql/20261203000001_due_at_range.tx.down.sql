-- The clamped values stay clamped: they were unreadable before.
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_due_at_range;
