-- The login that runs the migrations must be able to SET ROLE to both roles:
-- every request runs as {{.Role}}, every prune as {{.JanitorRole}}.
-- Migration 1 granted {{.Role}} only when the login was not already a MEMBER
-- of it. On Postgres 16 and later a CREATEROLE login that creates a role is
-- made a member WITH ADMIN OPTION but, unless createrole_self_grant says
-- otherwise, without SET — Neon's owner roles are such logins — so that check
-- passed while SET ROLE would be refused on every request. Rather than
-- interpret membership options per version, this tries the SET ROLE itself
-- and grants the role when it is refused. A login that can neither SET ROLE
-- nor grant the role fails here, with Postgres' own message, instead of on
-- the first request.
DO $$
BEGIN
  BEGIN
    SET LOCAL ROLE {{.Role}};
  EXCEPTION WHEN insufficient_privilege THEN
    EXECUTE format('GRANT %I TO %I', '{{.Role}}', current_user);
  END;
  RESET ROLE;
END
$$;
--bun:split
DO $$
BEGIN
  BEGIN
    SET LOCAL ROLE {{.JanitorRole}};
  EXCEPTION WHEN insufficient_privilege THEN
    EXECUTE format('GRANT %I TO %I', '{{.JanitorRole}}', current_user);
  END;
  RESET ROLE;
END
$$;
