#!/bin/bash
# rcptval-isolation.sh - issue 9's isolation target for recipient
# validation: with one internal server that accepts the connection and
# says nothing, requests that do not need it keep p99 <= 5 ms.
#
#   bash bench/rcptval-isolation.sh [BUILD_DIR]     (as root; or make bench-rcptval)
#
# Uses the test harness (t/lib.sh: a namespace with Redis, sluice-policyd
# and a Postfix that this bench does not use) with validate = "smtp",
# timeout 2 s, and two relay domains: dead.test, whose next hop is
# t/tools/smtp_internal.py --silent, and live.test. Then
# bench/rcptval_isolation.py runs FG connections of requests that need no
# internal server (a sluice mailbox; a recipient cached in Redis) next to
# BG connections of requests for new recipients of dead.test, for
# DURATION seconds, ROUNDS times, each round after a baseline run of the
# foreground alone (the Python client's own share of the latency; with 20
# client threads, the GIL is most of it). Each round prints the foreground's
# p50/p99/max overall and per connection (connections are spread over the
# policyd's 4 workers, so the worst connection's p99 bounds every worker's).
#
# Environment: ROUNDS [3] DURATION [12] FG [4] BG [16] KEEP=1 (keep logs).
# Exit status: 0 target met in the median round, 1 not met, 2 invalid run.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SLUICE_BUILD=${1:-${SLUICE_BUILD:-$REPO/build}}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-12}
FG=${FG:-4}
BG=${BG:-16}
[ "${KEEP:-0}" = 1 ] && export SLUICE_T_KEEP=1
. "$REPO/t/lib.sh"

harness_config() {
	harness_default_config | sed \
		-e 's/relay = \[ "relay.test" \];/relay = [ "dead.test|127.0.0.1:2601", "live.test|127.0.0.1:2602" ];/'
}
HARNESS_POLICYD_EXTRA='greylist = { enabled = false; }; recipients = { validate = "smtp"; timeout = "2s"; };'
HARNESS_NO_MILTER=1
trap '[ -f "${T_STATE:-/nonexistent}/run/silent.pid" ] && kill "$(cat "$T_STATE/run/silent.pid")"; harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-b-rcptval-$$" || { echo "harness did not start" >&2; exit 2; }
(exec setsid ip netns exec "$HARNESS_NAME" "$T_PY" "$REPO/t/tools/smtp_internal.py" 2601 \
	"$T_STATE/silent.log" --silent </dev/null >/dev/null 2>&1) &
echo $! >"$T_STATE/run/silent.pid"
wait_for 5 grep -q listening "$T_STATE/silent.log" || { echo "silent server did not start" >&2; exit 2; }
redis_cli SADD sluice:mailboxes known@example.test >/dev/null
redis_cli SET 'sluice:rcpt:{cached@live.test}' 1 EX 3600 >/dev/null
sleep 1.5

p99s=()
base99s=()
run() {	# run BG: one run, prints the output; sets RES
	local out
	out=$(in_ns "$T_PY" "$REPO/bench/rcptval_isolation.py" "$T_POLICYD_SOCK" "$DURATION" "$FG" "$1") ||
		{ echo "$out"; echo "load failed" >&2; exit 2; }
	echo "$out"
	RES=$(printf '%s\n' "$out" | grep '^RESULT')
	case $RES in *" bad=0") ;; *) echo "foreground requests not answered DUNNO" >&2; exit 2 ;; esac
}
worst() { printf '%s\n' "$1" | sed 's/.*worst_conn_p99_ms=\([0-9.]*\).*/\1/'; }
for r in $(seq 1 "$ROUNDS"); do
	echo "--- round $r, baseline: $FG foreground connections alone, $DURATION s"
	run 0
	base99s+=("$(worst "$RES")")
	echo "--- round $r: $FG foreground, $BG background connections (dead.test), $DURATION s"
	run "$BG"
	p99s+=("$(worst "$RES")")
done
bmed=$(printf '%s\n' "${base99s[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
echo "baseline worst-connection p99 per round: ${base99s[*]} ms; median $bmed ms"
med=$(printf '%s\n' "${p99s[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
echo "with the dead server: worst-connection p99 per round: ${p99s[*]} ms; median $med ms (target <= 5 ms)"
echo "probes to the dead server (connections it saw): $(grep -c '^connect' "$T_STATE/silent.log")"
[ "$(echo "$med <= 5" | bc)" = 1 ]
