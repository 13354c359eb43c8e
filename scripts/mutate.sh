#!/usr/bin/env bash
# Applies each deliberate weakening of a defence (scripts/mutations/*.patch)
# to a scratch copy of the tree and runs the tests its header names: every
# one of them must FAIL on the weakened code. A mutation that survives, a
# test that passes, or a patch that no longer applies is reported and makes
# the script exit 1. The working tree is never touched.
#
#   scripts/mutate.sh                      every mutation
#   scripts/mutate.sh identity-mac-prefix  the named ones (file names without .patch)
#
# A patch starts with header lines, then a unified diff against the tree:
#   Mutation: <what is weakened>
#   Test: <module dir> <package> <go test -run regexp>     (one or more)
# docs/mutations.md lists them; add a line there with each new patch.
# Needs what the named tests need (Postgres for tasks-service's store and api).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/scripts/mutations"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for p in "$dir"/*.patch; do names+=("$(basename "$p" .patch)"); done
fi

scratch="$(mktemp -d /tmp/gatehouse-mutate.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

failed=0
for name in "${names[@]}"; do
  patch="$dir/$name.patch"
  if [ ! -f "$patch" ]; then
    echo "mutate: no such mutation $name" >&2
    failed=1
    continue
  fi
  echo "=== $name: $(sed -n 's/^Mutation: //p' "$patch")"
  tree="$scratch/$name"
  mkdir -p "$tree"
  # The tracked files as they are now (uncommitted edits included).
  (cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$tree"
  if ! (cd "$tree" && git apply --whitespace=nowarn "$patch"); then
    echo "--- STALE $name: the patch no longer applies; update it to the code" >&2
    failed=1
    continue
  fi
  while read -r module pkg run; do
    out="$scratch/$name.out"
    if (cd "$tree/$module" && go test -count=1 -run "$run" "$pkg") >"$out" 2>&1; then
      echo "--- SURVIVED $name: go test -run '$run' $pkg in $module passes on the weakened code" >&2
      failed=1
    elif grep -q -- '--- FAIL' "$out"; then
      echo "    caught by $module $pkg $run:"
      grep -A1 -- '--- FAIL' "$out" | grep -v '^--$' | head -6 | sed 's/^/      /'
    else
      echo "--- BROKEN $name: $module $pkg did not build or run:" >&2
      tail -20 "$out" >&2
      failed=1
    fi
  done < <(sed -n 's/^Test: //p' "$patch")
  rm -rf "$tree"
done
exit $failed
