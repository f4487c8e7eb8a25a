#!/bin/bash
# run.sh FUZZBUILD TARGET... - `make fuzz`: fuzz each target for
# FUZZ_SECONDS (default 60), FUZZ_JOBS targets at a time (default 1),
# under `nice -n 10` (the machine is shared). Seeds are read from
# t/fuzz/corpus/NAME (never written); new inputs go to FUZZBUILD/new/NAME
# (scratch: `make fuzz-merge` keeps the few that add coverage), crashes,
# leaks, timeouts and OOMs to FUZZBUILD/artifacts/NAME-*, the log to
# FUZZBUILD/logs/NAME.log. -timeout=10: an input slower than 10 s is a
# finding (a timeout artifact), as is one over FUZZ_RSS_MB (2048) of RSS.
# t/fuzz/NAME.dict, where there is one, gives the mutator the format's
# words (attribute names, config keys, DKIM tags).
# Prints one line per target (CPU seconds, executions, cov, ft, corpus,
# findings) and writes it to FUZZBUILD/summary.txt; exit status 1 on any
# finding.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/../.." || exit 1
fb=$1
shift
secs=${FUZZ_SECONDS:-60} jobs=${FUZZ_JOBS:-1} rss=${FUZZ_RSS_MB:-2048}
mkdir -p "$fb/logs" "$fb/artifacts"
export LSAN_OPTIONS="suppressions=$PWD/t/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

one() {
	local t=$1 log=$fb/logs/$1.log
	local dict=
	mkdir -p "$fb/new/$t"
	rm -f "$fb/artifacts/$t-"*
	[ -f "t/fuzz/$t.dict" ] && dict=-dict=t/fuzz/$t.dict
	nice -n 10 "$fb/fuzz_$t" -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=10 $dict \
		-print_final_stats=1 -artifact_prefix="$fb/artifacts/$t-" \
		"$fb/new/$t" "t/fuzz/corpus/$t" >"$log" 2>&1
	local rc=$? execs cov found cpu
	# The fuzzer's CPU seconds (user+system of this shell's children):
	# on a shared machine the wall time says little about the work done.
	# `times` runs in this shell, not in a $(...) child (whose counts are 0).
	times >"$log.times"
	cpu=$(sed -n 2p "$log.times" | awk '{ n = 0; for (i = 1; i <= 2; i++) {
		split($i, p, /[ms]/); n += p[1] * 60 + p[2] } printf "%.0f", n }')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
	found=$(ls "$fb/artifacts/$t-"* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
	printf '%-12s %4ss cpu=%ss execs=%s %s exit=%s findings=%s\n' "$t" "$secs" "$cpu" \
		"${execs:-?}" "${cov:-cov: ?}" "$rc" "${found:-none}"
}
export -f one
export fb secs rss
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'one "$@"' _ {} | tee "$fb/summary.txt"
! grep -q 'findings=[^n]' "$fb/summary.txt" && ! grep -qE 'exit=[1-9]' "$fb/summary.txt"
