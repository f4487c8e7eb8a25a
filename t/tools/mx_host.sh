#!/bin/bash
# mx_host.sh NAME SHARED_REDIS_SOCKET CONTROL_DIR - one more MX host for a
# test of several hosts as one (t/integration/t_three_mx.sh): a harness of
# its own (namespace, DNS, Postfix, both daemons; t/lib.sh) whose daemons
# use the Redis of another harness, through its unix socket (a path
# socket is reachable from every network namespace).
# The caller exports HARNESS_POLICYD_EXTRA / HARNESS_MILTER_EXTRA /
# MX_POSTCONF (newline-separated main.cf settings) / MX_DOMAINS (the
# domains = { } line) as for its own harness. This script writes
# CONTROL_DIR/NAME.state (the state directory) and CONTROL_DIR/NAME.ready
# once up (or NAME.failed), and stops its harness when CONTROL_DIR/stop
# appears or its parent is gone.
set -u
. "$(dirname "$0")/../lib.sh"
name=$1 shared=$2 control=$3
parent=$PPID
harness_config() {
	local line
	harness_default_config | while IFS= read -r line; do
		case $line in
		"domains = "*) [ -n "${MX_DOMAINS:-}" ] && line=$MX_DOMAINS ;;
		"redis = "*) line=${line/"$T_STATE/redis.sock"/"$shared"} ;;
		esac
		printf '%s\n' "$line"
	done
}
trap 'harness_stop "$HARNESS_NAME" >/dev/null' EXIT
if ! harness_start "$name" >"$control/$name.log" 2>&1; then
	touch "$control/$name.failed"
	exit 1
fi
if [ -n "${MX_POSTCONF:-}" ]; then
	mapfile -t settings <<<"$MX_POSTCONF"
	harness_postconf "${settings[@]}" >>"$control/$name.log" 2>&1 || { touch "$control/$name.failed"; exit 1; }
fi
echo "$T_STATE" >"$control/$name.state"
touch "$control/$name.ready"
while [ ! -e "$control/stop" ] && kill -0 "$parent" 2>/dev/null; do
	sleep 0.2
done
