-- Every time the API writes must be readable back as RFC 3339 (years 1 to
-- 9999 in UTC). Before the API checked this after converting to UTC, a due
-- date like 9999-12-31T23:59:59-01:00 was stored as year 10000 and made
-- every list of its owner fail. Such values are clamped to the nearest
-- representable instant (the row's version moves on, so an old ETag no
-- longer matches), and a constraint keeps any future path from storing one.
-- The owner is subject to FORCE ROW LEVEL SECURITY (a Neon owner role is no
-- superuser): the repair needs every user's rows, so it runs with the force
-- lifted, inside this migration's transaction.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
--bun:split
UPDATE tasks
   SET due_at = CASE WHEN due_at < '0001-01-01 00:00:00+00' THEN '0001-01-01 00:00:00+00'::timestamptz
                     ELSE '9999-12-31 23:59:59.999999+00'::timestamptz END,
       version = version + 1,
       updated_at = now()
 WHERE due_at < '0001-01-01 00:00:00+00' OR due_at >= '10000-01-01 00:00:00+00';
--bun:split
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE tasks ADD CONSTRAINT tasks_due_at_range
  CHECK (due_at >= '0001-01-01 00:00:00+00' AND due_at < '10000-01-01 00:00:00+00');
