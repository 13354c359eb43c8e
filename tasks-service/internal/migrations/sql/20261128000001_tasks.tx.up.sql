-- The unprivileged role every request runs as (SET LOCAL ROLE). Roles are
-- cluster-global: several databases may run this migration at once, so a role
-- that already exists, or appears while we create it, is fine.
DO $$
BEGIN
  CREATE ROLE {{.Role}} NOLOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
--bun:split
-- The login role must be allowed to SET ROLE to it (a superuser always is).
DO $$
BEGIN
  IF NOT pg_has_role(current_user, '{{.Role}}', 'MEMBER') THEN
    EXECUTE format('GRANT %I TO %I', '{{.Role}}', current_user);
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
--bun:split
CREATE TABLE tasks (
  id           uuid        PRIMARY KEY,
  user_id      text        NOT NULL CHECK (user_id <> '' AND octet_length(user_id) <= 255),
  title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
  completed    boolean     NOT NULL DEFAULT false,
  completed_at timestamptz,
  priority     smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3),
  tags         text[]      NOT NULL DEFAULT '{}',
  due_at       timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  version      bigint      NOT NULL DEFAULT 1,
  CHECK (completed = (completed_at IS NOT NULL))
);
--bun:split
CREATE INDEX tasks_user_created ON tasks (user_id, created_at, id);
--bun:split
CREATE INDEX tasks_user_updated ON tasks (user_id, updated_at, id);
--bun:split
CREATE INDEX tasks_user_due ON tasks (user_id, due_at, id);
--bun:split
CREATE INDEX tasks_user_priority ON tasks (user_id, priority, id);
--bun:split
CREATE INDEX tasks_user_title ON tasks (user_id, title, id);
--bun:split
CREATE INDEX tasks_tags ON tasks USING gin (tags);
--bun:split
-- Idempotency-Key records: a repeated create with the same key and body
-- replays the original task; rows older than 24 h may be reused.
CREATE TABLE idempotency_keys (
  user_id      text        NOT NULL CHECK (user_id <> ''),
  key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  request_hash bytea       NOT NULL,
  task_id      uuid        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
--bun:split
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
--bun:split
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
--bun:split
CREATE POLICY tasks_owner ON tasks
  USING (user_id = nullif(current_setting('app.user_id', true), ''))
  WITH CHECK (user_id = nullif(current_setting('app.user_id', true), ''));
--bun:split
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
--bun:split
CREATE POLICY idempotency_keys_owner ON idempotency_keys
  USING (user_id = nullif(current_setting('app.user_id', true), ''))
  WITH CHECK (user_id = nullif(current_setting('app.user_id', true), ''));
--bun:split
GRANT USAGE ON SCHEMA public TO {{.Role}};
--bun:split
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, idempotency_keys TO {{.Role}};
