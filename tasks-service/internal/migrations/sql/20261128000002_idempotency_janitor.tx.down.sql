-- The role stays: it is cluster-global and other databases may use it.
DROP POLICY IF EXISTS idempotency_keys_janitor_delete ON idempotency_keys;
--bun:split
DROP POLICY IF EXISTS idempotency_keys_janitor_select ON idempotency_keys;
--bun:split
-- Revoking the table privileges revokes the column privileges too.
REVOKE ALL ON idempotency_keys FROM {{.JanitorRole}};
--bun:split
REVOKE USAGE ON SCHEMA public FROM {{.JanitorRole}};
