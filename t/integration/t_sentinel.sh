#!/bin/bash
# t_sentinel.sh - Redis Sentinel failover under load. In the test namespace:
# a Redis primary (127.0.0.1:6390), a replica (6391) and three Sentinels
# (26390-26392, quorum 2, down-after 1 s); both daemons find the primary
# through the Sentinels (redis.sentinel). Under an SMTP load through
# Postfix:
#   1. the primary is killed: the Sentinels promote the replica, both
#      daemons follow without restart, no 5xx, nothing lost (counted from
#      the sender and the sink), the greylisting state written before the
#      kill is still there (replicated): a triplet deferred before the
#      failover passes after its delay;
#   2. the old primary comes back as a replica and a graceful failover
#      (SENTINEL FAILOVER) demotes the new one while the daemons hold
#      connections to it: nothing lost, the next write lands on the newly
#      promoted server. (Sentinel kills the clients of a reconfigured
#      server, so the daemons mostly see a closed link here; a READONLY
#      reply from a demoted primary is covered by t/unit/test_redis.c.)
# The time to follow (kill to the first decision written on the new
# primary) is printed as a diagnostic.
set -u
. "$(dirname "$0")/../lib.sh"

GL='greylist = { delay = 60; auto_allowlist_clients = 1; allow_networks = [ ];
    spf_bypass = false; spf_domain_triplet = false; };'
harness_config() {
	harness_default_config | sed 's|^redis = .*|redis = { timeout_ms = 100; sentinel = { master = "tmaster"; hosts = [ "127.0.0.1:26390", "127.0.0.1:26391", "127.0.0.1:26392" ]; }; };|'
}
HARNESS_POLICYD_EXTRA="test_clock = true; $GL"
trap 'harness_stop "$HARNESS_NAME"' EXIT

# The Redis servers and Sentinels must run before the daemons start (a
# daemon without its primary starts anyway, but the test wants a clean
# start): harness_start brings up the namespace first, so the daemons
# are restarted once the topology is up.
harness_start "sluice-t-sen-$$" || bail_out "harness did not start"
for d in milter policyd; do harness_stop_daemon "$d"; done

rcli() { in_ns redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
start_redis() {	# start_redis PORT [replicaof PORT]
	local port=$1
	mkdir -p "$T_STATE/r$port"
	_spawn "redis$port" "$T_STATE/redis$port.log" redis-server --port "$port" --bind 127.0.0.1 \
		--save "" --appendonly no --dir "$T_STATE/r$port" --protected-mode no \
		${2:+--replicaof 127.0.0.1 "$3"}
	wait_for 10 eval "[ \"\$(rcli $port ping 2>/dev/null)\" = PONG ]"
}
start_sentinel() {	# start_sentinel PORT
	local port=$1 conf=$T_STATE/sentinel$1.conf
	cat >"$conf" <<-EOF
	port $port
	bind 127.0.0.1
	protected-mode no
	dir $T_STATE
	sentinel monitor tmaster 127.0.0.1 6390 2
	sentinel down-after-milliseconds tmaster 1000
	sentinel failover-timeout tmaster 5000
	sentinel parallel-syncs tmaster 1
	EOF
	_spawn "sentinel$port" "$T_STATE/sentinel$port.log" redis-server "$conf" --sentinel
	wait_for 10 eval "[ \"\$(rcli $port ping 2>/dev/null)\" = PONG ]"
}
primary_port() { rcli 26390 SENTINEL get-master-addr-by-name tmaster | sed -n 2p; }

start_redis 6390 || bail_out "primary"
start_redis 6391 replicaof 6390 || bail_out "replica"
wait_for 10 eval '[ "$(rcli 6391 INFO replication | tr -d "\r" | sed -n "s/^master_link_status://p")" = up ]' ||
	bail_out "replica not in sync"
for p in 26390 26391 26392; do start_sentinel $p || bail_out "sentinel $p"; done
wait_for 15 eval '[ "$(rcli 26390 SENTINEL sentinels tmaster | grep -c "^name$")" -ge 2 ]' ||
	diag "sentinels do not see each other yet"
ok "primary 6390, replica 6391, three sentinels"
for d in policyd milter; do harness_start_daemon "$d" || bail_out "start $d"; done
policyd_pid=$(harness_pid policyd)
milter_pid=$(harness_pid milter)

clock_forward() {
	local now
	now=$(rcli "$(primary_port)" GET sluice:test:clock_offset)
	rcli "$(primary_port)" SET sluice:test:clock_offset $(( ${now:-0} + $1 )) >/dev/null
	sleep 1.5
}
send() { send_mail --local-interface "$1" --from "$2" --to user@example.test; }
queue_empty() { [ -z "$(in_ns postqueue -c "$T_PF" -j 2>/dev/null)" ]; }

# The load's client passes greylisting once.
out=$(send 127.0.0.9 warm@sender.test)
assert_match "$out" '<\*\* +450 4\.7\.1' "through Sentinel: first message greylisted"
clock_forward 120
out=$(send 127.0.0.9 warm@sender.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "through Sentinel: retry after the delay accepted"
# A triplet deferred before the failover: its state must survive it.
out=$(send 127.0.0.11 kept@sender.test)
assert_match "$out" '<\*\* +450 4\.7\.1' "a triplet deferred before the failover"
rcli 6390 WAIT 1 2000 >/dev/null

# phase NAME FAULT: the load through the fault, counted from both ends.
phase() {
	local name=$1 fault=$2 res=$T_STATE/load-$1.json summary reject
	in_ns "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 --source 127.0.0.9 \
		--count 1000000 --stop-file "$T_STATE/load-$name.stop" --sessions 4 \
		--from 'load{n}@sender.test' --senders 1 --to user@example.test \
		--tag "$name" --out "$res" >"$T_STATE/load-$name.out" 2>&1 &
	local load_pid=$!
	sleep 0.5
	"$fault"
	sleep 1
	touch "$T_STATE/load-$name.stop"
	wait "$load_pid"
	summary=$(cat "$T_STATE/load-$name.out")
	diag "$name: sending side: $summary"
	wait_for 60 queue_empty || diag "$name: queue not empty after 60 s"
	reject=$(sed -n 's/.*reject=\([0-9]*\).*/\1/p' <<<"$summary")
	if [ "${reject:-1}" = 0 ]; then ok "$name: no 5xx"; else
		not_ok "$name: no 5xx" "$("$T_PY" -c 'import json,sys; print(list(json.load(open(sys.argv[1]))["reject"].items())[:5])' "$res")"; fi
	check "$name: every accepted message delivered (sink side)" \
		"$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name"
	diag "$name: sink side: $("$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name" | head -1)"
	assert_eq "$(harness_pid policyd)" "$policyd_pid" "$name: the same sluice-policyd process"
	assert_eq "$(harness_pid milter)" "$milter_pid" "$name: the same sluice-milter process"
}

# The time to follow: from the kill until a new triplet is written (450)
# on the new primary.
followed_in=
kill_primary() {
	local t0 t1 i out
	t0=$(date +%s.%N)
	kill -9 "$(harness_pid redis6390)"
	for i in $(seq 1 100); do
		out=$(send 127.0.0.12 "follow$i@sender.test" 2>&1)
		if grep -qE '<\*\* +450 4\.7\.1' <<<"$out" && [ "$(primary_port)" = 6391 ]; then
			t1=$(date +%s.%N)
			followed_in=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
			break
		fi
		sleep 0.2
	done
}
phase kill kill_primary
assert_eq "$(primary_port)" 6391 "sentinels promoted the replica"
if [ -n "$followed_in" ]; then
	ok "both daemons followed the new primary without restart (greylisting written there ${followed_in}s after the kill)"
	diag "time to follow: ${followed_in} s (Sentinel down-after 1 s + election + rediscovery)"
else
	not_ok "daemons followed the new primary" "$(tail -5 "$T_POLICYD_LOG")"
fi
if [ -n "$(rcli 6391 KEYS 'sluice:gl:*' | head -1)" ]; then ok "greylisting keys on the new primary"; else
	not_ok "greylisting keys on the new primary" "$(rcli 6391 DBSIZE)"; fi
clock_forward 120
out=$(send 127.0.0.11 kept@sender.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "the triplet deferred before the failover passes after its delay (state replicated)"

# --- graceful failover while the daemons hold connections to the primary ---
start_redis 6390 replicaof 6391 || bail_out "old primary back as a replica"
wait_for 20 eval '[ "$(rcli 6390 INFO replication | tr -d "\r" | sed -n "s/^master_link_status://p")" = up ]' ||
	diag "old primary not in sync yet"
# Sentinels must see it as a replica before they can promote it.
wait_for 20 eval 'rcli 26390 SENTINEL replicas tmaster | grep -q 6390' || diag "sentinels do not list 6390"
demote() {
	rcli 26390 SENTINEL FAILOVER tmaster >/dev/null
	wait_for 20 eval '[ "$(primary_port)" = 6390 ]'
}
n_ro=$(grep -c READONLY "$T_POLICYD_LOG")
phase readonly demote
assert_eq "$(primary_port)" 6390 "SENTINEL FAILOVER promoted 6390 again"
out=$(send 127.0.0.13 after-ro@sender.test)
assert_match "$out" '<\*\* +450 4\.7\.1' "after the demotion a new triplet is written on the new primary"
diag "READONLY seen in the policyd log: $(( $(grep -c READONLY "$T_POLICYD_LOG") - n_ro )) line(s)"
if [ -n "$(rcli 6390 KEYS 'sluice:gl:*after-ro*' | head -1)" ] || [ "$(rcli 6390 DBSIZE)" -gt 0 ]; then
	ok "state written on 6390 (the promoted server)"
else
	not_ok "state written on 6390"
fi

done_testing
