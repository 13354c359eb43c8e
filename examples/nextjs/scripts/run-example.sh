#!/usr/bin/env bash
# make run-example: the backend as `make run` starts it (the same database
# choice, secrets and logs in .run), with this Next.js app in place of the
# Better Auth dev server, on http://localhost:${EXAMPLE_PORT:-3000}.
#   MODE=bearer   (default) the production topology: the browser gets a JWT
#                 from Better Auth in the app and calls the gateway with it;
#   MODE=session  all through the gateway: the gateway's SESSION_MODE=on.
# The app is built once (`next build`, again only when its sources change).
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$APP/../.." && pwd)

MODE=${MODE:-bearer}
case $MODE in
bearer) ;;
session) export SESSION_MODE=on ;;
*) echo "make run-example: MODE: must be bearer or session, got '$MODE' (e.g. make run-example MODE=session)" >&2; exit 1 ;;
esac
PORT=${EXAMPLE_PORT:-3000}
case $PORT in '' | *[!0-9]*) echo "make run-example: EXAMPLE_PORT: must be a port number, got '$PORT'" >&2; exit 1 ;; esac

if [ ! -d "$APP/node_modules/next" ] || [ "$APP/package-lock.json" -nt "$APP/node_modules/.package-lock.json" ]; then
	printf '\033[1m==> %s\033[0m\n' "Installing the example app's dependencies (npm ci)"
	(cd "$APP" && npm ci --no-audit --no-fund)
fi
printf '\033[1m==> %s\033[0m\n' "Building the example app (next build; skipped when up to date)"
node "$APP/scripts/build.mjs"

export EXAMPLE_APP_DIR=$APP GATEHOUSE_MODE=$MODE BETTER_AUTH_URL=http://localhost:$PORT
# The app's origin is the default CORS origin of make run when it is on 3000.
export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-http://localhost:$PORT,http://127.0.0.1:$PORT}
exec bash "$ROOT/deploy/run.sh"
