-- The role stays: it is cluster-global and other databases may use it.
DROP TABLE IF EXISTS idempotency_keys;
--bun:split
DROP TABLE IF EXISTS tasks;
--bun:split
REVOKE USAGE ON SCHEMA public FROM {{.Role}};
