#!/usr/bin/env bash
# make test-browser: the example app's own checks, then the browser suite
# (tests/browser) against the real stack built from this repository.
#   1. npm ci when node_modules is missing or older than package-lock.json;
#   2. the generated API client is not stale (tests/unit; needs no browser);
#   3. Chromium: CHROMIUM or Debian's /usr/bin/chromium (apt-get install
#      chromium) — never a browser download. Missing: a named skip, a failure
#      when CI=true (pkg/testenv/testenv.sh);
#   4. the production build (scripts/build.mjs: rebuilt only when the
#      sources changed), a Postgres (scripts/with-postgres.sh), the suite.
# Compatible with bash 3.2 (macOS).
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$APP/../.." && pwd)
. "$ROOT/pkg/testenv/testenv.sh"

command -v node >/dev/null 2>&1 || testenv_missing test-browser "node not found (install Node.js 20.9 or newer)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=9)?0:1)' ||
	testenv_missing test-browser "Node.js $(node --version) is too old; Next.js 16 needs 20.9 or newer"

cd "$APP"
if [ ! -d node_modules/next ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund
fi

echo "=== examples/nextjs: generated client up to date"
npm test --silent

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	testenv_missing test-browser "no Chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM)"
fi
export CHROMIUM

echo "=== examples/nextjs: production build"
node scripts/build.mjs

echo "=== examples/nextjs: browser suite (Chromium $("$CHROMIUM" --version 2>/dev/null | sed -n 's/^Chromium \([0-9.]*\).*/\1/p'))"
. "$ROOT/scripts/with-postgres.sh"
began=$(date +%s)
rc=0
node --test --test-reporter=spec --test-concurrency=1 tests/browser/suite.test.mjs || rc=$?
echo "browser suite: $(($(date +%s) - began)) s, exit $rc"
exit "$rc"
