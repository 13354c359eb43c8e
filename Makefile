# Gatehouse — the targets are the interface for humans and CI.
#   make run    start Better Auth + tasks-service + gateway locally
#   make test   unit, integration (real Postgres, Redis), end-to-end and browser tests
#   make run-example  the backend plus the Next.js example app (examples/nextjs)
#   make lint   gofmt, go vet, staticcheck
#   make bench  Go benchmarks and load runs (numbers go in README.md)
#   make mutate weaken each defence in turn (docs/mutations.md); its tests must fail
#   make fuzz   every fuzz target for FUZZTIME each (their seeds run in make test)

SHELL        := /bin/bash
MODULES      := pkg gateway tasks-service deploy e2e
STATICCHECK  := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GO_TEST_FLAGS ?= -count=1
BIN          := bin

.PHONY: all build run run-example test test-unit test-browser test-race test-better-auth test-pgbouncer test-postgres test-e2e lint fmt fuzz bench bench-identity bench-gateway bench-tasks bench-stack deps tidy clean mutate

all: lint test

build:
	@mkdir -p $(BIN)
	cd gateway && CGO_ENABLED=0 go build -trimpath -o ../$(BIN)/gateway ./cmd/gateway
	cd tasks-service && CGO_ENABLED=0 go build -trimpath -o ../$(BIN)/tasks-service ./cmd/tasks-service

run:
	bash deploy/run.sh

# The backend (as make run) plus the Next.js example app on
# http://localhost:3000 with Better Auth inside it; MODE=session for the
# all-through-the-gateway topology (the gateway's SESSION_MODE=on).
run-example:
	bash examples/nextjs/scripts/run-example.sh

# Node dependencies of the Better Auth server used by e2e tests and `make run`.
deps:
	@if [ ! -d deploy/better-auth/node_modules ]; then cd deploy/better-auth && npm ci --no-audit --no-fund; fi

# A machine with only Go and Node runs all of it: without a local Postgres
# the tests get a project-local one (scripts/with-postgres.sh); a missing
# Redis, PgBouncer or other prerequisite is a named skip, listed at the end,
# and a failure when CI=true. Nothing here installs system packages (.ci/run
# does, for CI).
SKIP_LOG := $(CURDIR)/.run/test-skips.txt
test:
	@mkdir -p .run && rm -f $(SKIP_LOG); rc=0; \
	TESTENV_SKIP_LOG=$(SKIP_LOG) $(MAKE) --no-print-directory test-unit test-better-auth test-pgbouncer test-postgres test-browser || rc=$$?; \
	if [ -s $(SKIP_LOG) ]; then \
		printf '\nSkipped for want of a prerequisite (each a failure when CI=true):\n'; sort -u $(SKIP_LOG) | sed 's/^/  /'; \
	fi; exit $$rc

# pkg and the gateway run under the race detector: the deadline watchdog,
# token cache, rate limiter, metrics and log buffer share state across
# requests without locks on their hot paths.
RACE_MODULES := pkg gateway

# Every module's tests, once each; e2e and deploy included, RACE_MODULES
# with -race. In CI (CI=true) a missing Postgres, Redis or Node is a
# failure, never a skip.
test-unit: deps
	@set -e; . scripts/with-postgres.sh; for m in $(MODULES); do \
		flags="$(GO_TEST_FLAGS)"; \
		case " $(RACE_MODULES) " in *" $$m "*) flags="$$flags -race";; esac; \
		echo "=== go test $$flags $$m"; \
		(cd $$m && go test $$flags ./...); \
	done

# Only the race-detector part of test-unit.
test-race:
	@set -e; for m in $(RACE_MODULES); do (cd $$m && go test -race $(GO_TEST_FLAGS) ./...); done

# The Better Auth dev server's configuration parsing (node:test).
test-better-auth: deps
	cd deploy/better-auth && npm test

# The tasks-service integration suite through PgBouncer (transaction mode)
# in front of Postgres over TLS: what Neon's pooler looks like.
test-pgbouncer: deps
	bash tasks-service/scripts/test-pgbouncer.sh

# The tasks-service suite on the Postgres majors Neon offers (16, 17 — its
# default — and 18), besides the machine's own: role membership changed in
# 16. Pinned server builds from npm, checked, cached; see the script.
PG_MAJORS ?= 16 17 18
test-postgres:
	bash tasks-service/scripts/test-postgres.sh $(PG_MAJORS)

# The Next.js example (examples/nextjs) in Debian's Chromium driven by
# playwright-core, against the gateway, tasks-service, Better Auth and Postgres,
# in both topologies: its generated API client checked against the OpenAPI
# document, its production build (rebuilt only when its sources change), the
# browser suite. No Chromium (apt-get install chromium): a named skip, a
# failure when CI=true. A failed scenario leaves screenshots and the browser
# console in examples/nextjs/test-output/.
test-browser:
	bash examples/nextjs/scripts/test-browser.sh

test-e2e: deps
	@. scripts/with-postgres.sh; cd e2e && go test $(GO_TEST_FLAGS) -v ./...

# Each fuzz target, as module/package:Target, runs for FUZZTIME; `go test`
# (make test) runs only their seed corpora. A failure leaves its input in
# the package's testdata/fuzz, where it becomes a seed: commit it with the fix.
FUZZTIME ?= 30s
FUZZ_TARGETS := pkg/identity:FuzzVerify \
	tasks-service/internal/api:FuzzParseListQuery \
	tasks-service/internal/api:FuzzDecodeTask \
	tasks-service/internal/api:FuzzJSONEncoder \
	tasks-service/internal/store:FuzzDecodeCursor

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		dir=$${t%%:*}; name=$${t##*:}; \
		echo "=== fuzz $$name in $$dir for $(FUZZTIME)"; \
		(cd $${dir%%/*} && go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$${dir#*/}); \
	done

lint:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do \
		echo "=== vet + staticcheck $$m"; \
		(cd $$m && go vet ./... && go run $(STATICCHECK) ./...); \
	done

fmt:
	gofmt -w $(MODULES)

bench: bench-identity bench-gateway bench-tasks bench-stack

bench-identity:
	cd pkg && go test -run '^$$' -bench . -benchmem ./identity/

bench-gateway:
	bash gateway/scripts/bench.sh

bench-tasks:
	cd tasks-service && go test -run '^$$' -bench ListEncoding -benchmem ./internal/api/
	bash tasks-service/scripts/bench.sh

# The whole path (gateway -> tasks-service -> Postgres) against the ceiling,
# the store's own message straight to Postgres. BENCH_STACK_ARGS go to
# gateway/cmd/stack-bench, e.g. -gateway old=/tmp/gw,new=bin/gateway for an
# A/B of two builds in one run.
bench-stack:
	bash scripts/stack-bench.sh $(BENCH_STACK_ARGS)

# Each patch in scripts/mutations weakens one defence in a scratch copy of
# the tree; the tests it names must fail (docs/mutations.md). Not part of
# make test: every mutation rebuilds a test binary.
mutate:
	bash scripts/mutate.sh

tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy); done

clean:
	rm -rf $(BIN)
