#!/bin/bash
# run-fuzz.sh [FUZZBUILD] - the fuzz corpus regression of `make check`:
# every libFuzzer target (FUZZBUILD/fuzz_*, default build-fuzz) runs once
# over its committed corpus t/fuzz/corpus/NAME (-runs=0: each input once,
# no mutation), with ASan, UBSan and leak detection. One TAP line per
# target, then "fuzz: N passed, N failed". A target without its binary or
# its corpus fails (tools/deps.sh installs clang; `make fuzz-build`).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 1
fb=${1:-build-fuzz}
export LSAN_OPTIONS="suppressions=$PWD/t/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0 failed=0 n=0
targets=$(ls t/fuzz/fuzz_*.c | sed 's|t/fuzz/fuzz_\(.*\)\.c|\1|')
echo "1..$(echo "$targets" | wc -l)"
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
for t in $targets; do
	n=$((n + 1))
	bin=$fb/fuzz_$t corpus=t/fuzz/corpus/$t
	if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
		echo "not ok $n - fuzz_$t: no binary or no corpus ($bin, $corpus)"
		failed=$((failed + 1))
		continue
	fi
	files=$(ls "$corpus" | wc -l)
	if timeout -k 5 120 "$bin" -runs=0 -timeout=10 -rss_limit_mb=2048 "$corpus" >"$log" 2>&1; then
		echo "ok $n - fuzz_$t: $files inputs, $(grep -aoE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)"
		passed=$((passed + 1))
	else
		echo "not ok $n - fuzz_$t: exit status $? over $corpus"
		grep -aE 'ERROR|FUZZ_ASSERT|SUMMARY|runtime error|Running:' "$log" | head -n 20 | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
