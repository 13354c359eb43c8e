# testenv.sh — the shell side of pkg/testenv, for the test scripts:
#   . pkg/testenv/testenv.sh
#   testenv_missing test-pgbouncer "pgbouncer not found (apt-get install pgbouncer, brew install pgbouncer)"
#
# A missing prerequisite (a service, a tool, a platform) skips locally and
# fails in CI, exactly as testenv.Missing does for Go tests; CI is read as
# Go's strconv.ParseBool reads it (testenv.InCI), which TestShellReadsCILikeGo
# checks. Compatible with bash 3.2 (macOS).

# testenv_in_ci succeeds when CI is a true value: 1, t, T, TRUE, true or True.
testenv_in_ci() {
	case "${CI:-}" in
	1 | t | T | TRUE | true | True) return 0 ;;
	*) return 1 ;;
	esac
}

# testenv_missing WHO MESSAGE...: ends the script: exit 1 in CI, else a
# named SKIP and exit 0. Like testenv.Missing, it also appends the message
# to TESTENV_SKIP_LOG when that is set, so `make test` can list every skip
# at its end.
testenv_missing() {
	local who=$1
	shift
	if testenv_in_ci; then
		echo "$who: CI=$CI, so a missing prerequisite fails: $*" >&2
		exit 1
	fi
	echo "$who: SKIP: $* (a failure when CI=true)" >&2
	if [ -n "${TESTENV_SKIP_LOG:-}" ]; then
		echo "$who: $*" >>"$TESTENV_SKIP_LOG"
	fi
	exit 0
}
