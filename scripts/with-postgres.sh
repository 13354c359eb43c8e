#!/usr/bin/env bash
# Gives the tests a Postgres, so that a machine with only Go and Node runs
# the whole suite:
#
#   scripts/with-postgres.sh CMD [ARGS...]    run CMD with it, then stop it
#   . scripts/with-postgres.sh                the same for the rest of a shell (stopped at its exit)
#
# The server is the local one at LOCAL_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres: user postgres without a
# password) when it answers; else a project-local Postgres 17 from
# scripts/embedded-postgres.mjs, in a temporary directory, for this run only,
# with the database test that the tests' default URLs name.
# PG_TEST_SERVER is exported as its URL. When it is not the default local
# server, TEST_DATABASE_URL (tasks-service), E2E_DATABASE_URL (e2e) and
# BENCH_DATABASE_URL (tasks-bench) are exported as it too, unless already
# set (a Neon branch in TEST_DATABASE_URL stays what the tasks-service tests
# use). Where neither can run, nothing is exported and the tests that need
# Postgres skip, or fail when CI=true (pkg/testenv).
# Compatible with bash 3.2 (macOS).

_wp_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_wp_default=postgres://postgres@127.0.0.1:5432/postgres
_wp_local=${LOCAL_PG_URL:-$_wp_default}
_wp_dir=""

_wp_stop() {
	if [ -n "$_wp_dir" ]; then
		node "$_wp_root/scripts/embedded-postgres.mjs" stop "$_wp_dir" || true
		rm -rf "$_wp_dir"
		_wp_dir=""
	fi
}

_wp_export() {
	export PG_TEST_SERVER=$1
	if [ "$1" != "$_wp_default" ]; then
		export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$1}
		export E2E_DATABASE_URL=${E2E_DATABASE_URL:-$1}
		export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-$1}
	fi
}

if [ ! -d "$_wp_root/deploy/better-auth/node_modules/pg" ]; then
	(cd "$_wp_root/deploy/better-auth" && npm ci --no-audit --no-fund >/dev/null) ||
		echo "with-postgres: npm ci in deploy/better-auth failed" >&2
fi
if node "$_wp_root/deploy/better-auth/dbsetup.mjs" "$_wp_local" 2>/dev/null; then
	_wp_export "$_wp_local"
else
	_wp_dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test-postgres.XXXXXX")
	chmod 755 "$_wp_dir" # as root the server runs as the postgres user
	trap _wp_stop EXIT
	echo "with-postgres: no Postgres answers at ${_wp_local%%\?*}; starting a project-local Postgres 17 for the tests" >&2
	if _wp_url=$(node "$_wp_root/scripts/embedded-postgres.mjs" start "$_wp_dir/pg" --fast) &&
		# the database the tests' default URLs name, as on the local server
		_wp_url=${_wp_url%/postgres?*}/test?sslmode=disable &&
		node "$_wp_root/deploy/better-auth/dbsetup.mjs" "${_wp_url%/test?*}/postgres" test 2>/dev/null; then
		echo "with-postgres: tests use $_wp_url (data in $_wp_dir, removed at the end)" >&2
		_wp_export "$_wp_url"
	else
		echo "with-postgres: no Postgres for the tests (see above); those that need one skip, or fail when CI=true" >&2
		_wp_stop
	fi
fi

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	rc=0
	"$@" || rc=$?
	_wp_stop
	exit "$rc"
fi
