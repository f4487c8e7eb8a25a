#!/bin/bash
# merge.sh FUZZBUILD TARGET... - `make fuzz-merge`: adds to each
# committed corpus t/fuzz/corpus/NAME only those inputs of the scratch
# FUZZBUILD/new/NAME that add coverage (libFuzzer -merge=1), so the
# repository gets a minimised set, never the thousands a run makes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/../.." || exit 1
fb=$1
shift
export LSAN_OPTIONS="suppressions=$PWD/t/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
for t in "$@"; do
	[ -d "$fb/new/$t" ] || continue
	before=$(ls "t/fuzz/corpus/$t" | wc -l)
	nice -n 10 "$fb/fuzz_$t" -merge=1 -timeout=10 -rss_limit_mb=2048 \
		"t/fuzz/corpus/$t" "$fb/new/$t" >"$fb/logs/$t.merge.log" 2>&1 ||
		{ echo "$t: merge failed (see $fb/logs/$t.merge.log)"; continue; }
	echo "$t: $before -> $(ls "t/fuzz/corpus/$t" | wc -l) inputs"
done
