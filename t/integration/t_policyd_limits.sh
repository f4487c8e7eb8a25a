#!/bin/bash
# t_policyd_limits.sh - sluice-policyd at its limits (t/tools/policy_limits.py):
# a burst of connections is spread over the workers; a daemon full of silent
# or trickling connections still answers a new one, and closes a request
# that is not complete within request_timeout; with fewer descriptors than
# max_connections needs, it caps the connections (and says so once), and
# when accept() fails with EMFILE it neither spins nor floods its log.
set -u
. "$(dirname "$0")/../lib.sh"
trap harness_stop EXIT

HARNESS_NO_MILTER=1
HARNESS_POLICYD_EXTRA='workers = 4; max_connections = 50; request_timeout = "2s";'
harness_start "sluice-t-$$" || bail_out "harness starts"
pid=$(harness_pid policyd) || bail_out "sluice-policyd PID"
ok "sluice-policyd running (PID $pid)"

# pl DESC SCENARIO [ARGS...]: run the client; ok/not_ok on its PASS/FAIL line.
pl_out=
pl() {
	local desc=$1
	shift
	if pl_out=$(in_ns "$T_PY" "$T_REPO/t/tools/policy_limits.py" \
		-s "unix:$T_POLICYD_SOCK" "$@" 2>&1); then
		ok "$desc"
		diag "$(printf '%s\n' "$pl_out" | grep -v '^PASS')"
	else
		not_ok "$desc" "$pl_out"
		return 1
	fi
}

# answered WHEN: a new connection gets a normal answer.
answered() {
	local out
	if out=$(in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_POLICYD_SOCK" \
		normal 2>&1); then
		ok "$1: a new connection is answered"
	else
		not_ok "$1: a new connection is answered" "$out"
	fi
}

# cpu_ticks PID: utime + stime of the process, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# since N REGEX: lines of the policyd log after line N that match
since() { tail -n +"$(($1 + 1))" "$T_POLICYD_LOG" | grep -E -- "$2"; }
count_since() { since "$1" "$2" | wc -l; }

# hold N: N silent connections, held for 6 s by a client in the background;
# returns once all are made. unhold: waits for that client, shows its
# report. cpu_2s: the daemon's CPU use over 2 s, in clock ticks.
hold_pid=
hold() {
	: >"$T_STATE/hold.out"
	in_ns "$T_PY" "$T_REPO/t/tools/policy_limits.py" -s "unix:$T_POLICYD_SOCK" \
		hold "$1" 6 >"$T_STATE/hold.out" 2>&1 &
	hold_pid=$!
	log_wait "$T_STATE/hold.out" '^held ' >/dev/null || not_ok "$1 connections opened" \
		"$(cat "$T_STATE/hold.out")"
	sleep 0.5
}
unhold() {
	wait "$hold_pid"
	diag "$(cat "$T_STATE/hold.out")"
}
cpu_2s() {
	local t0 t1
	t0=$(cpu_ticks "$pid")
	sleep 2
	t1=$(cpu_ticks "$pid")
	echo $((t1 - t0))
}

# ---- a burst is spread over the workers ----------------------------------
n=$(log_lines "$T_POLICYD_LOG")
pl "a burst of 40 connections: each answered" burst 40
dist=$(since "$n" 'policy=connect ' | sed -n 's/.* worker=\([0-9]*\) .*/\1/p' | sort | uniq -c)
diag "connections per worker (count, worker):" "$dist"
spread=$(printf '%s\n' "$dist" | awk '$1 >= 5 && $1 <= 15 { n++ } END { print n + 0 }')
assert_eq "$spread" 4 "a burst of 40 over 4 workers: each worker took 5 to 15 of them"

# ---- full of silent and trickling connections ----------------------------
n=$(log_lines "$T_POLICYD_LOG")
pl "50 connections held (40 silent, 10 trickling half a request): new ones answered," \
	lockout 40 10 8
assert_match "$(since "$n" 'connection limit 50 reached')" 'connection\(s\) closed to make room' \
	"making room at the limit was logged"
assert_match "$(since "$n" 'policy=request-timeout')" 'request not complete' \
	"the half-written requests' timeout was logged"
answered "after the lockout"
pl "50 connections trickling half a request: new ones answered, the half-written closed" \
	lockout 0 50 8

# Postfix itself, while 60 silent connections fill the 50 slots.
hold 60
out=$(send_mail --local-interface 127.0.0.9 --from a@sender.test --to user@example.test)
unhold
assert_match "$out" '250 2\.0\.0 Ok: queued' "daemon full of silent connections: Postfix's request answered, mail accepted"

# ---- out of descriptors --------------------------------------------------
# A hard limit the daemon cannot raise: CAP_SYS_RESOURCE dropped, so root's
# start-up cannot lift it either. 192 descriptors leave room for 64
# connections with 4 workers (SERVER_FDS_* in policyd/server.h).
HARNESS_POLICYD_EXTRA='workers = 4; max_connections = 4096;'
HARNESS_POLICYD_WRAP="prlimit --nofile=192:192 setpriv --bounding-set=-sys_resource"
harness_restart_sluice || bail_out "sluice-policyd restarts under a file limit of 192"
pid=$(harness_pid policyd) || bail_out "sluice-policyd PID"
capped=$(policyd_log_grep 'serving at most 64 connection')
assert_match "$capped" 'file limit 192' "start-up: max_connections capped to the file limit, logged"

n=$(log_lines "$T_POLICYD_LOG")
hold 150
used=$(cpu_2s)
answered "150 connections held with room for 64"
unhold
diag "CPU over 2 s: $used ticks"
if [ "$used" -lt 50 ]; then
	ok "150 connections held with room for 64: no busy loop ($used ticks in 2 s)"
else
	not_ok "150 connections held with room for 64: no busy loop ($used ticks in 2 s)"
fi
assert_eq "$(count_since "$n" 'accept: ')" 0 "capped: accept() never ran out of descriptors"
harness_sighup policyd
policyd_log_grep 'configuration reloaded' >/dev/null
assert_eq "$(grep -c 'serving at most' "$T_POLICYD_LOG")" 1 "the cap is logged once (not again at a reload)"
answered "after 150 connections"

# EMFILE anyway: the soft limit lowered under the running daemon, to what
# it has open plus 6. prlimit runs as the daemon's user and group (root
# may lack CAP_SYS_RESOURCE, which another user's process needs).
fds=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
set_soft_limit() {
	local uid gid
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	gid=$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status")
	setpriv --reuid="$uid" --regid="$gid" --clear-groups prlimit --pid "$pid" --nofile="$1":192
}
set_soft_limit $((fds + 6)) || bail_out "prlimit --pid"
n=$(log_lines "$T_POLICYD_LOG")
hold 100
used=$(cpu_2s)
lines=$(($(log_lines "$T_POLICYD_LOG") - n))
unhold
diag "file limit $((fds + 6)) with $fds open: $used ticks in 2 s, $lines log lines"
diag "$(since "$n" 'accept: ' | head -n 3)"
if [ "$used" -lt 50 ]; then
	ok "EMFILE: no busy loop ($used ticks in 2 s)"
else
	not_ok "EMFILE: no busy loop ($used ticks in 2 s)"
fi
warned=$(count_since "$n" 'accept: .*Too many open files')
if [ "$warned" -ge 1 ] && [ "$warned" -le 3 ]; then
	ok "EMFILE: logged, not per wakeup ($warned accept warnings, $lines lines)"
else
	not_ok "EMFILE: logged, not per wakeup ($warned accept warnings, $lines lines)"
fi
answered "EMFILE, once the connections are closed"
set_soft_limit 192
answered "everything"
done_testing
