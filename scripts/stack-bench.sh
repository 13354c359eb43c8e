#!/usr/bin/env bash
# Full-stack load run: the gateway in front of tasks-service on a scratch
# Postgres database, against the ceiling (the store's own message straight to
# Postgres at the pool's size). Builds both binaries from this checkout unless
# given; extra arguments go to gateway/cmd/stack-bench, e.g.
#
#   scripts/stack-bench.sh -rounds 12
#   scripts/stack-bench.sh -gateway old=/tmp/gateway-main,new=bin/gateway   # A/B of two builds, one run
#
# BENCH_DATABASE_URL (or -db) names the server (default: the local one, trust).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=("$@")
given() { # is flag -$1 among the arguments (-x v, -x=v, --x v, --x=v)?
	local a
	for a in "${args[@]}"; do
		case $a in -"$1" | -"$1"=* | --"$1" | --"$1"=*) return 0 ;; esac
	done
	return 1
}
if ! given gateway; then
	(cd gateway && CGO_ENABLED=0 go build -trimpath -o "$tmp/gateway" ./cmd/gateway)
	args+=(-gateway "$tmp/gateway")
fi
if ! given tasks-service; then
	(cd tasks-service && CGO_ENABLED=0 go build -trimpath -o "$tmp/tasks-service" ./cmd/tasks-service)
	args+=(-tasks-service "$tmp/tasks-service")
fi
(cd gateway && go build -o "$tmp/stack-bench" ./cmd/stack-bench)
"$tmp/stack-bench" "${args[@]}"
