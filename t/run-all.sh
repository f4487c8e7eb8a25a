#!/bin/bash
# run-all.sh BUILD - the unit tests (t/run-unit.sh), the fuzz corpus
# regression (t/run-fuzz.sh, build-fuzz/), then the integration
# tests (t/run-integration.sh); the last line is the total,
# "N passed, N failed". Exit status 1 on any failure.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
passed=0 failed=0 skipped=0 status=0
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

run() {
	local what=$1 rc line p f s
	shift
	"$@" </dev/null 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "^$what: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$what: no summary line (exit status $rc)"
		failed=$((failed + 1))
		status=1
		return
	fi
	p=$(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ]; then
		status=1
		[ "$f" -gt 0 ] || failed=$((failed + 1))
	fi
}

run unit bash t/run-unit.sh "$build"
run fuzz bash t/run-fuzz.sh build-fuzz
run integration bash t/run-integration.sh "$build"
[ "$failed" -eq 0 ] || status=1
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
exit $status
