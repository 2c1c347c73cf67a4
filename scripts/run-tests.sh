#!/usr/bin/env bash
# The whole suite as two pytest processes at once, one per core: the multi-process and
# browser tiers (tests/web, tests/engine, tests/faults, tests/authoring) beside the rest.
# Each part's output is printed whole (the slow tiers' after the rest); the exit status is
# the first failing part's. With arguments (make test PYTEST_ARGS=...), one pytest with them.
set -u
PYTEST=${PYTEST:-.venv/bin/pytest}
if [ $# -gt 0 ]; then exec "$PYTEST" "$@"; fi

SLOW=(tests/web tests/engine tests/faults tests/authoring)
ignores=()
for dir in "${SLOW[@]}"; do ignores+=("--ignore=$dir"); done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$PYTEST" "${SLOW[@]}" >"$log" 2>&1 &
slow=$!
"$PYTEST" "${ignores[@]}"
rest=$?
wait "$slow"
slow_rc=$?
echo "=== slow tiers: ${SLOW[*]} ==="
cat "$log"
if [ "$rest" -ne 0 ]; then exit "$rest"; fi
exit "$slow_rc"
