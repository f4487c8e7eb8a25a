#!/bin/bash
# run-integration.sh BUILD - run every t/integration/t_*.sh in order (as
# root: they create network namespaces), sum their "N passed, N failed"
# lines, end with "integration: N passed, N failed". A test that ends
# without that line, with a non-zero status, or that leaves its namespace
# behind counts as a failure. SLUICE_T_TIMEOUT bounds one file (300 s).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
case $build in
/*) ;;
*) build=$PWD/$build ;;
esac
export SLUICE_BUILD=$build

tests=(t/integration/t_*.sh)
[ -e "${tests[0]}" ] || tests=()
if [ "$(id -u)" -ne 0 ]; then
	echo "integration: skipped: the integration tests need root (network namespaces, Postfix)"
	echo "integration: 0 passed, 0 failed, ${#tests[@]} skipped"
	exit 0
fi
for d in sluice-policyd sluice-milter; do
	if [ ! -x "$build/$d" ]; then
		echo "integration: $build/$d missing: run make first"
		echo "integration: 0 passed, 1 failed"
		exit 1
	fi
done

# shellcheck source=t/lib.sh
. t/lib.sh
passed=0 failed=0
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
for t in "${tests[@]}"; do
	echo "# $t"
	start=$SECONDS
	timeout -k 30 "${SLUICE_T_TIMEOUT:-300}" bash "$t" </dev/null >"$log" 2>&1 &
	pid=$!
	# Follow the output until the test ends (even if something it left
	# behind still holds the file open).
	tail -s 0.2 --pid="$pid" -n +1 -f "$log"
	wait "$pid"
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $t ended without a summary line (exit status $rc)"
		failed=$((failed + 1))
	else
		p=${line%% passed*}
		f=${line#* passed, }
		f=${f%% failed*}
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "not ok - $t exited with status $rc"
			failed=$((failed + 1))
		fi
	fi
	# Nothing of a finished test may survive it.
	left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^sluice-t-[0-9]+$' |
		while read -r ns; do _pid_alive "${ns#sluice-t-}" || echo "$ns"; done)
	if [ -n "$left" ]; then
		echo "not ok - $t left namespaces behind: $left"
		failed=$((failed + 1))
		_harness_reap_stale
	fi
	echo "# $t: $((SECONDS - start)) s"
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
