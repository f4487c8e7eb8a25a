#!/bin/bash
# run-unit.sh BUILD [BIN...] - run the cmocka unit test binaries (default:
# every BUILD/t/test_*), sum their counts, end with "unit: N passed, N failed".
# Exit status 1 when any test failed or a binary crashed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
	set -- "$build"/t/test_*
	[ -e "$1" ] || set --
fi
export CMOCKA_MESSAGE_OUTPUT=stdout
passed=0 failed=0 skipped=0 status=0
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
for bin in "$@"; do
	if [ ! -x "$bin" ]; then
		echo "unit: $bin: not found or not executable"
		failed=$((failed + 1))
		continue
	fi
	echo "# $bin"
	timeout -k 5 "${SLUICE_UNIT_TIMEOUT:-120}" "$bin" </dev/null >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s).*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# A crash, a sanitizer report or a timeout: the binary counts as one failure.
		echo "unit: $bin exited with status $rc"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		echo "unit: $bin ran no test"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done
if [ "$skipped" -gt 0 ]; then
	echo "unit: $passed passed, $failed failed, $skipped skipped"
else
	echo "unit: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] || status=1
exit $status
