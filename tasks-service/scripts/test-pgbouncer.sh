#!/usr/bin/env bash
# Runs the tasks-service integration suite the way Neon's -pooler endpoint
# serves it: the service connects with TLS (sslmode=require, SCRAM) to
# PgBouncer in transaction mode, which talks TLS to Postgres. Session state,
# SQL PREPARE or named prepared statements would break here (PgBouncer 1.18
# in transaction mode has no prepared-statement support), so a green run
# proves the store needs none of them.
#
#   tasks-service/scripts/test-pgbouncer.sh [go test flags...]
#
# Needs pgbouncer, openssl and psql: a named skip without them, a failure
# when CI=true (pkg/testenv/testenv.sh; .ci/run installs them). Postgres is
# scripts/with-postgres.sh's: the local one (LOCAL_PG_URL, default
# 127.0.0.1:5432, superuser postgres, trust auth), else a project-local one
# for this run. Everything else lives in a temp dir. PGBOUNCER names the
# pgbouncer binary (default: pgbouncer in PATH, else /usr/sbin/pgbouncer).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$here/../pkg/testenv/testenv.sh"

pgbouncer_bin="${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}"
[ -x "$pgbouncer_bin" ] || testenv_missing test-pgbouncer "pgbouncer not found (apt-get install pgbouncer, brew install pgbouncer)"
command -v openssl >/dev/null 2>&1 || testenv_missing test-pgbouncer "openssl not found"
command -v psql >/dev/null 2>&1 || testenv_missing test-pgbouncer "psql not found (apt-get install postgresql-client, brew install libpq)"

. "$here/../scripts/with-postgres.sh"
[ -n "${PG_TEST_SERVER:-}" ] || testenv_missing test-pgbouncer "no Postgres (see above)"
hostport="${PG_TEST_SERVER#*@}"
hostport="${hostport%%/*}"
pghost="${hostport%:*}"
pgport="${hostport##*:}"

# PgBouncer talks TLS to Postgres when the server offers it (Debian's
# default: ssl=on with the snakeoil certificate).
server_tls=prefer
if [ "$(psql "host=$pghost port=$pgport user=postgres dbname=postgres" -Atqc 'SHOW ssl')" = "on" ]; then
  server_tls=require
else
  echo "test-pgbouncer: Postgres has ssl=off; PgBouncer -> Postgres stays plaintext" >&2
fi

dir="$(mktemp -d /tmp/gatehouse-pgbouncer.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  _wp_stop # with-postgres.sh's server, if it started one
}
trap cleanup EXIT

# A free port: bind :0 and read what the kernel chose.
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

# Self-signed certificate for 127.0.0.1, made now, never stored.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1

password="pgbouncer-test-$RANDOM$RANDOM"
cat >"$dir/userlist.txt" <<USERS
"postgres" "$password"
USERS
cat >"$dir/pgbouncer.ini" <<INI
[databases]
; any database name is routed to the same server, so per-package test
; databases created over the direct URL are reachable through the pooler
* = host=$pghost port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 400
server_reset_query =
client_tls_sslmode = require
client_tls_key_file = $dir/server.key
client_tls_cert_file = $dir/server.crt
server_tls_sslmode = $server_tls
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile =
INI

# PgBouncer refuses to run as root: run it as postgres (or nobody), which
# must be able to read the temp dir.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  chown -R "$user" "$dir"
  chmod 700 "$dir"
  chmod 600 "$dir/server.key" "$dir/userlist.txt"
  run_as=(-u "$user")
fi
"$pgbouncer_bin" "${run_as[@]}" "$dir/pgbouncer.ini" >"$dir/stdout.log" 2>&1 &
pid=$!

# The URL the tests use looks like a Neon console URL. Its
# channel_binding=require makes the service verify the certificate
# (verify-full), so it names the throw-away certificate as the root, as
# Neon's is trusted through the system's roots. psql gets the URL without
# channel_binding: libpq would insist on SCRAM-SHA-256-PLUS, which PgBouncer
# 1.18 does not offer.
url="postgres://postgres:$password@127.0.0.1:$port/test?sslmode=require&channel_binding=require&sslrootcert=$dir/server.crt&application_name=gatehouse-test"
psql_url="postgres://postgres:$password@127.0.0.1:$port/test?sslmode=require"
for _ in $(seq 1 50); do
  if psql "$psql_url" -Atqc 'SELECT 1' >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "test-pgbouncer: pgbouncer exited:" >&2
    cat "$dir/stdout.log" "$dir/pgbouncer.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.1
done
ssl="$(psql "$psql_url" -Atqc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")"
echo "test-pgbouncer: PgBouncer $("$pgbouncer_bin" --version | head -1 | awk '{print $2}') on 127.0.0.1:$port, transaction mode, client TLS required, server TLS=$ssl" >&2

cd "$here"
rc=0
TEST_DATABASE_URL="$url" \
TEST_MIGRATIONS_DATABASE_URL="postgres://postgres@$pghost:$pgport/test?sslmode=$([ "$server_tls" = require ] && echo require || echo disable)" \
  go test -count=1 "$@" ./internal/store/ ./internal/api/ ./internal/migrations/ || rc=$?

# Prove the traffic really went through the pooler, over TLS.
logins="$(grep -c 'login attempt: db=gatehouse_test_.*tls=TLS' "$dir/pgbouncer.log" 2>/dev/null || true)"
echo "test-pgbouncer: $logins TLS client logins to test databases through PgBouncer" >&2
if [ "$rc" -eq 0 ] && [ "${logins:-0}" -lt 1 ]; then
  echo "test-pgbouncer: the tests did not connect through PgBouncer" >&2
  rc=1
fi
exit "$rc"
