-- Pruning of expired Idempotency-Key rows (internal/janitor calls
-- store.PruneIdempotencyKeys every ~10 minutes).
--
-- idempotency_keys has FORCE ROW LEVEL SECURITY and one policy, "the row's
-- user is app.user_id", so a login that is neither superuser nor BYPASSRLS
-- (the table's owner included) reaches no row without a user and cannot
-- prune. Rather than loosen that policy, or let the login role bypass RLS,
-- the janitor gets a role of its own, {{.JanitorRole}}, and each prune runs as
-- `SET LOCAL ROLE {{.JanitorRole}}; SET LOCAL app.user_id = ''`, the way
-- requests run as {{.Role}}:
--   * its two policies admit ONLY rows past the 24 h window, for SELECT (a
--     DELETE ... WHERE must read the rows it deletes) and for DELETE; no
--     policy lets it insert or update, and with no user set the owner
--     policy admits nothing, so live keys stay out of its reach (not a
--     RESTRICTIVE policy: that would also bind every login that inherits
--     the role — the migrating owner, on Postgres < 16 — on this table);
--   * its privileges are SELECT on ctid and created_at alone (it cannot read
--     user ids, keys, request hashes or task ids) and DELETE; none on tasks;
--   * a policy applies only to the roles it names and their members: a
--     request runs as {{.Role}}, which is not a member of {{.JanitorRole}}, so
--     it still sees and deletes only its own user's keys, expired or not;
--   * since the janitor switches role, even a login that bypasses RLS (a
--     local superuser; Neon's neon_superuser) deletes nothing live: the
--     database, not the janitor's WHERE clause, keeps live keys safe;
--   * it does not depend on who logs in: the migrating role is granted the
--     role below; a separate traffic login (DATABASE_URL's user is not
--     MIGRATIONS_DATABASE_URL's) needs `GRANT {{.JanitorRole}} TO <login>`,
--     just as it needs {{.Role}}.
-- A SECURITY DEFINER function was the alternative. FORCE RLS binds its owner
-- as well, so it would need the same kind of policy, for the owner — a role
-- that can do anything else to the table — and the function body would be
-- the only thing between a bug and the live keys.
--
-- The window is store.IdempotencyWindow; TestPruneWindowMatchesPolicy fails
-- if the two disagree. Like {{.Role}}, the role is cluster-global and stays
-- after `down`.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{.JanitorRole}}') THEN
    CREATE ROLE {{.JanitorRole}} NOLOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
--bun:split
-- The login role must be allowed to SET ROLE to it. 'USAGE' rather than
-- 'MEMBER': on Postgres 16+ a CREATEROLE creator is a member with ADMIN but
-- without SET, and must grant itself the role to use it.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, '{{.JanitorRole}}', 'USAGE') THEN
    EXECUTE format('GRANT %I TO %I', '{{.JanitorRole}}', current_user);
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
--bun:split
GRANT USAGE ON SCHEMA public TO {{.JanitorRole}};
--bun:split
GRANT SELECT (ctid, created_at), DELETE ON idempotency_keys TO {{.JanitorRole}};
--bun:split
-- DELETE ... WHERE reads the rows first, so the janitor needs a SELECT policy
-- as well as a DELETE policy; both admit expired rows only.
CREATE POLICY idempotency_keys_janitor_select ON idempotency_keys
  FOR SELECT TO {{.JanitorRole}}
  USING (created_at < now() - interval '24 hours');
--bun:split
CREATE POLICY idempotency_keys_janitor_delete ON idempotency_keys
  FOR DELETE TO {{.JanitorRole}}
  USING (created_at < now() - interval '24 hours');
