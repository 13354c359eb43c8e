#!/usr/bin/env bash
# Gateway performance: Go benchmarks of token verification (cached and
# uncached, per algorithm) and a bounded load run (gateway-bench) on
# 127.0.0.1. Extra arguments go to gateway-bench, e.g. -conns 64 -rounds 60.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo
echo "== go test -bench: token verification (internal/authn)"
go test -run '^$' -bench 'BenchmarkVerify' -benchtime 300ms -benchmem ./internal/authn/
echo
echo "== go test -bench: one request through the handler (no client socket) vs Fiber's proxy"
go test -run '^$' -bench 'BenchmarkHandler' -benchtime 2s -benchmem ./internal/server/
echo
echo "== load run: upstream direct vs unauthenticated Fiber proxy vs gateway (tracing off, and on at 1 % and 100 % sampling)"
go build -o "${TMPDIR:-/tmp}/gateway-bench.$$" ./cmd/gateway-bench
trap 'rm -f "${TMPDIR:-/tmp}/gateway-bench.$$"' EXIT
"${TMPDIR:-/tmp}/gateway-bench.$$" "$@"
