#!/bin/bash
# t_unit_syscalls.sh - would the units' SystemCallFilter= let the daemons
# work? (systemd is not PID 1 on the CI machine, so the units cannot be
# run; this is what can be checked without it.)
#
# Each daemon runs as its unit runs it (User=sluice Group=postfix, -f,
# NOTIFY_SOCKET set) under strace -f, and does real work: sluice-policyd
# answers policy requests (one at a time, pipelined, concurrent) with
# greylisting on a real Redis, reloads on SIGHUP, stops on SIGTERM;
# sluice-milter signs (a DKIM key) and passes whole messages from
# miltertest (t/milter/lifecycle.lua), reloads and stops. Then every
# system call made, from the dynamic loader on, is checked against the
# unit's own SystemCallFilter= lines expanded by this machine's
# systemd-analyze (t/tools/syscall_check.py). A call the filter would
# refuse fails the test (under the unit it would return EPERM).
set -u
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || bail_out "needs root"
for c in strace setpriv miltertest systemd-analyze redis-server; do
	command -v $c >/dev/null || bail_out "$c missing (make deps)"
done
scratch_start syscalls
install -d -m 0750 -o sluice -g postfix "$RUN"
install -d -m 0750 -o sluice -g sluice "$STATE/keys" "$STATE/trace"

redis-server --port 0 --unixsocket "$STATE/redis.sock" --unixsocketperm 777 \
	--save "" --appendonly no --daemonize no >"$STATE/redis.log" 2>&1 &
pids+=($!)
wait_for 5 test -S "$STATE/redis.sock" || bail_out "redis-server did not start"
"$SLUICE_BUILD/sluice-keygen" -d example.test -s s1 -o "$STATE/keys" >/dev/null 2>&1 ||
	bail_out "sluice-keygen failed"
chown sluice "$STATE/keys/example.test.s1.key"

cat >"$STATE/sluice.conf" <<EOF
user = "sluice";
redis = { socket = "$STATE/redis.sock"; timeout_ms = 500; };
domains = { local = [ "example.test" ]; };
trusted_networks = [ "127.0.0.1/32" ];
milter = { listen = "unix:$RUN/milter.sock"; pid_file = "$RUN/milter.pid"; authserv_id = "mx.example.test"; };
dkim = { keys = ( { domain = "example.test"; selector = "s1"; key = "$STATE/keys/example.test.s1.key"; } ); };
policyd = { listen = "unix:$RUN/policyd.sock"; pid_file = "$RUN/policyd.pid"; };
EOF
chmod 0644 "$STATE/sluice.conf"
"$T_PY" "$T_REPO/t/tools/notify_listen.py" "$STATE/notify.sock" "$STATE/notify.log" \
	>"$STATE/listen.out" 2>&1 &
pids+=($!)
wait_for 5 grep -q listening "$STATE/listen.out" || bail_out "notify_listen.py did not start"

# LeakSanitizer cannot run under ptrace (it exits 1 at the end): under
# make asan the traced daemons check everything but leaks (t_service.sh
# runs them untraced).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# as_unit NAME: start sluice-NAME as its unit would, under strace; sets
# tracer (strace's pid, to wait for) and pid (the daemon's, from its pid file)
as_unit() {
	NOTIFY_SOCKET=$STATE/notify.sock setpriv --reuid=sluice --regid=postfix --clear-groups \
		strace -f -qq -o "$STATE/trace/$1.strace" "$SLUICE_BUILD/sluice-$1" -f -c "$STATE/sluice.conf" \
		>"$STATE/$1.log" 2>&1 &
	tracer=$!
	pids+=($tracer)
	wait_for 20 test -S "$RUN/$1.sock" && wait_for 5 test -s "$RUN/$1.pid" ||
		bail_out "$1 did not start" "$(cat "$STATE/$1.log")"
	pid=$(cat "$RUN/$1.pid")
}

# policyd: requests of every shape, a reload, a stop
as_unit policyd
for scenario in "normal" "many 20" "pipelined 20" "concurrent 8" \
	"request client_address=192.0.2.9 sender=a@sender.test recipient=b@example.test"; do
	# shellcheck disable=SC2086 # a scenario is words
	out=$("$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$RUN/policyd.sock" $scenario 2>&1)
	case $scenario in
	request*) assert_match "$out" "action=(DEFER|defer_if_permit|450|451|DUNNO)" \
		"policyd under strace: a greylisting request is answered" ;;
	*) assert_match "$(printf '%s\n' "$out" | tail -n 1)" "^PASS" "policyd under strace: $scenario" ;;
	esac
done
kill -HUP "$pid"
log_wait "$STATE/policyd.log" "configuration reloaded" 20 >/dev/null ||
	not_ok "policyd under strace: no reload line"
kill -TERM "$pid"
wait "$tracer"
assert_eq "$?" 0 "policyd under strace: stopped cleanly"

# milter: whole messages (signed: From example.test is ours), a reload, a stop
as_unit milter
miltertest -s "$T_REPO/t/milter/lifecycle.lua" -D "sock=unix:$RUN/milter.sock" >"$STATE/mt.out" 2>&1
assert_eq "$?" 0 "milter under strace: miltertest lifecycle.lua ($(tail -n 1 "$STATE/mt.out"))"
kill -HUP "$pid"
log_wait "$STATE/milter.log" "configuration reloaded" 20 >/dev/null ||
	not_ok "milter under strace: no reload line"
kill -TERM "$pid"
wait "$tracer"
assert_eq "$?" 0 "milter under strace: stopped cleanly"
assert_match "$(cat "$STATE/notify.log")" "STOPPING=1" "the daemons notified under strace"

for d in policyd milter; do
	unit=$T_REPO/contrib/systemd/sluice-$d.service
	out=$("$T_PY" "$T_REPO/t/tools/syscall_check.py" "$unit" "$STATE/trace/$d.strace" 2>&1)
	if [ $? -eq 0 ]; then
		ok "sluice-$d.service's SystemCallFilter= allows every call the daemon made (${out##*allowed: })"
	else
		not_ok "sluice-$d.service's SystemCallFilter= would refuse calls sluice-$d made" "$out"
	fi
done
done_testing
