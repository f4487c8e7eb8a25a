#!/bin/bash
# dnsbl-isolation.sh [BUILD] - the isolation latency test of issue 9: with
# one DNSBL zone whose server never answers, the requests that do not need
# it (clients whose answers are cached in Redis) keep their latency on
# every worker. Not pass/fail: prints the numbers (bench/dnsbl-isolation.py).
# Runs in a t/lib.sh harness (its own namespace, dnsmasq, Redis, Postfix).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLUICE_BUILD=${1:-${SLUICE_BUILD:-build}}
case $SLUICE_BUILD in /*) ;; *) SLUICE_BUILD=$REPO/$SLUICE_BUILD ;; esac
export SLUICE_BUILD
. "$REPO/t/lib.sh"

HARNESS_POLICYD_EXTRA='workers = 4; greylist = { enabled = false; };
  dnsbl = { threshold = 3; budget = "2s";
    zones = ( "bl.test=127.0.0.[2..11]*3", "dead.test*1" ); };'
HARNESS_NO_MILTER=1
blackhole=
cleanup() {
	[ -n "$blackhole" ] && kill "$blackhole" 2>/dev/null && wait "$blackhole" 2>/dev/null
	harness_stop "$HARNESS_NAME"
}
trap cleanup EXIT
harness_start "sluice-bench-dnsbl-$$" || { echo "harness did not start"; exit 1; }
in_ns python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5399))
while True:
    s.recvfrom(4096)
' &
blackhole=$!
# dnsmasq refuses at once beyond dns-forward-max (150) open forwards: lift it,
# so that every slow request really waits for the dead server.
zone_add "dns-forward-max=10000" "server=/dead.test/127.0.0.1#5399" || exit 1
# The 1000 fast clients' answers, cached for an hour in both zones.
for a in 0 1 2 3; do
	for b in $(seq 1 250); do
		echo "EVAL \"local t = tonumber(redis.call('TIME')[1]) + 3600 redis.call('HSET', KEYS[1], 'bl.test', t .. ' -', 'dead.test', t .. ' -') redis.call('EXPIRE', KEYS[1], 3600)\" 1 sluice:dnsbl:{10.1.$a.$b}"
	done
done | in_ns redis-cli -s "$T_REDIS_SOCK" >/dev/null
echo "# sluice-policyd workers=4, dnsbl budget 2 s, dead.test never answers; $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
in_ns python3 "$REPO/bench/dnsbl-isolation.py" "$T_POLICYD_SOCK" ${BENCH_ARGS:-}
