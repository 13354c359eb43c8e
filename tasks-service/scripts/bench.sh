#!/usr/bin/env bash
# Load run of the tasks service against the local Postgres: "list 20 tasks"
# and "create", with row-level security on and off, printing requests/s,
# p50/p99 and database round trips per request. Each run lasts at most 5 s
# (default 6 runs x 1 s per scenario and setting, ~30 s in all).
#
#   tasks-service/scripts/bench.sh [-db URL] [-duration 1s] [-rounds 6] [-concurrency 8]
#
# BENCH_DATABASE_URL (or -db) names the server; a scratch database is
# created on it and dropped afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec go run ./cmd/tasks-bench "$@"
