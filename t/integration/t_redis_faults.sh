#!/bin/bash
# t_redis_faults.sh - Redis faults under load, counted from both ends: an
# SMTP load (t/tools/smtp_load.py) through Postfix with both daemons,
# greylisting, a rate limit and the milter's rules on, while Redis is
# (a) killed and restarted, (b) slowed (DEBUG SLEEP: Redis answers nothing
# for a while), (c) full (maxmemory reached, writes refused with OOM), and
# (d) killed again with fail_open = false.
# Every phase must end with: no 5xx seen by the sender, every accepted
# message delivered to its recipient (t/tools/load_check.py, from the
# sink), the same daemon processes (recovery without restart), a new
# triplet greylisted again once Redis is back (Redis really in use), and
# the Redis warnings in the log bounded (one per interval, not one per
# message). With fail_open = false nothing is accepted unchecked while
# Redis is down: the load sees tempfails, never a 5xx, and no loss.
set -u
. "$(dirname "$0")/../lib.sh"

GL='greylist = { delay = 60; auto_allowlist_clients = 1; allow_networks = [ ];
    spf_bypass = false; spf_domain_triplet = false; };'
RL='ratelimit = ( { name = "client-messages"; subject = "client"; count = "messages";
    limit = 100000; window = "60s"; } );'
HARNESS_POLICYD_EXTRA="test_clock = true; $GL $RL"
# Greylisting state must survive a restart of Redis as it would in
# production (AOF); DEBUG SLEEP must be allowed.
HARNESS_REDIS_ARGS="--appendonly yes --appendfsync everysec --enable-debug-command local"
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-rf-$$" || bail_out "harness did not start"
harness_postconf "smtpd_end_of_data_restrictions = check_policy_service unix:$T_POLICYD_SOCK" ||
	bail_out "postconf"

policyd_pid=$(harness_pid policyd)
milter_pid=$(harness_pid milter)
redis_stop_hard() { kill -9 "$(harness_pid redis)"; }
redis_start() { _start_redis; }
clock_forward() {	# clock_forward SECONDS: policyd's test clock moves on
	local now
	now=$(redis_cli GET sluice:test:clock_offset)
	redis_cli SET sluice:test:clock_offset $(( ${now:-0} + $1 )) >/dev/null
	sleep 1.5	# the workers read the offset once a second
}
queue_empty() { [ -z "$(in_ns postqueue -c "$T_PF" -j 2>/dev/null)" ]; }

# --- warm-up: the load's client passes greylisting once, then at once ---
out=$(send_mail --local-interface 127.0.0.9 --from warm@sender.test --to user@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1' "warm-up: first message greylisted"
clock_forward 120
out=$(send_mail --local-interface 127.0.0.9 --from warm@sender.test --to user@example.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "warm-up: retry after the delay accepted"

# run_phase NAME FAULT-FUNCTION: the load in the background, the fault
# 0.5 s into it, the load stopped 1 s after the fault ends, then the
# counts from both ends.
run_phase() {
	local name=$1 fault=$2 res="$T_STATE/load-$1.json" lines_before errors_before load_pid summary
	local warn_re='without Redis|redis lists not refreshed|[Rr]edis.*(error|down|unreachable|timeout)'
	lines_before=$(grep -cE "$warn_re" "$T_POLICYD_LOG" "$T_MILTER_LOG" | awk -F: '{s+=$2} END {print s}')
	errors_before=$(grep -cE '=error .*reason=redis' "$T_POLICYD_LOG")
	in_ns "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 --source 127.0.0.9 \
		--count 1000000 --stop-file "$T_STATE/load-$name.stop" --sessions 4 --from 'load{n}@sender.test' --senders 1 \
		--to user@example.test --tag "$name" --out "$res" >"$T_STATE/load-$name.out" 2>&1 &
	load_pid=$!
	sleep 0.5
	"$fault"
	sleep 1
	touch "$T_STATE/load-$name.stop"
	wait "$load_pid"
	summary=$(cat "$T_STATE/load-$name.out")
	diag "$name: sending side: $summary"
	wait_for 60 queue_empty || diag "$name: queue not empty after 60 s: $(in_ns postqueue -c "$T_PF" -p | tail -3)"
	local sent reject
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$summary")
	reject=$(sed -n 's/.*reject=\([0-9]*\).*/\1/p' <<<"$summary")
	if [ "${sent:-0}" -ge 50 ]; then ok "$name: $sent messages sent through the fault"; else
		not_ok "$name: load ran through the fault" "$summary"; fi
	if [ "${reject:-1}" = 0 ]; then ok "$name: no 5xx"; else
		not_ok "$name: no 5xx" "$("$T_PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["reject"]; print(list(r.items())[:5])' "$res")"; fi
	check "$name: every accepted message delivered to its recipient (sink side)" \
		"$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name"
	diag "$name: sink side: $("$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name" | head -1)"
	assert_eq "$(harness_pid policyd)" "$policyd_pid" "$name: the same sluice-policyd process"
	assert_eq "$(harness_pid milter)" "$milter_pid" "$name: the same sluice-milter process"
	kill -0 "$policyd_pid" && kill -0 "$milter_pid" || not_ok "$name: daemons alive"
	local lines_after errors
	errors=$(( $(grep -cE '=error .*reason=redis' "$T_POLICYD_LOG") - errors_before ))
	if [ "$errors" -gt 0 ]; then ok "$name: the fault reached policyd ($errors decision(s) with reason=redis)"; else
		not_ok "$name: the fault reached policyd (no decision with reason=redis)"; fi
	lines_after=$(grep -cE "$warn_re" "$T_POLICYD_LOG" "$T_MILTER_LOG" | awk -F: '{s+=$2} END {print s}')
	if [ $((lines_after - lines_before)) -le 6 ]; then
		ok "$name: $((lines_after - lines_before)) Redis warning line(s) for ${sent:-0} messages"
	else
		not_ok "$name: Redis warnings bounded" "$((lines_after - lines_before)) lines:" \
			"$(grep -E "$warn_re" "$T_POLICYD_LOG" "$T_MILTER_LOG" | tail -5)"
	fi
	# Redis in use again: a new triplet is greylisted (fail_open would let
	# it pass if policyd still thought Redis was down).
	local t
	for t in 1 2 3 4 5 6 7 8 9 10; do
		out=$(send_mail --local-interface 127.0.0.10 --from "after-$name-$t@sender.test" --to user@example.test)
		grep -qE '<\*\* +450 4\.7\.1' <<<"$out" && break
		sleep 1
	done
	assert_match "$out" '<\*\* +450 4\.7\.1' "$name: after the fault, a new triplet is greylisted again (Redis used, no restart)"
}

fault_kill() {
	redis_stop_hard
	sleep 2
	redis_start || not_ok "redis restarted"
}
fault_slow() {
	local i
	for i in 1 2 3 4 5; do
		redis_cli DEBUG SLEEP 0.5 >/dev/null
	done
}
fault_full() {
	redis_cli CONFIG SET maxmemory-policy noeviction >/dev/null
	redis_cli CONFIG SET maxmemory 1 >/dev/null
	sleep 2
	redis_cli CONFIG SET maxmemory 0 >/dev/null
}

run_phase kill fault_kill
run_phase slow fault_slow
run_phase full fault_full

# --- fail_open = false: nothing passes unchecked while Redis is down ----
sed -i 's/^policyd = { /policyd = { fail_open = false; /' "$T_CONF"
grep -q 'fail_open = false' "$T_CONF" || bail_out "could not set fail_open = false"
n=$(grep -c 'configuration reloaded' "$T_POLICYD_LOG")
harness_sighup policyd
wait_for 10 eval '[ "$(grep -c "configuration reloaded" "$T_POLICYD_LOG")" -gt '"$n"' ]' ||
	not_ok "policyd reloaded fail_open = false"
fault_down_window() {
	redis_stop_hard
	sleep 3
	redis_start || not_ok "redis restarted"
}
run_phase closed fault_down_window
res="$T_STATE/load-closed.json"
tf=$("$T_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tempfail"]))' "$res")
if [ "${tf:-0}" -gt 0 ]; then
	ok "fail_open = false: $tf message(s) tempfailed while Redis was down"
else
	not_ok "fail_open = false: messages tempfailed while Redis was down" "$(cat "$T_STATE/load-closed.out")"
fi

done_testing
