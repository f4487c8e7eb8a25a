#!/bin/bash
# t_service.sh - both daemons under a service manager and without one.
#
# sd_notify (common/notify.c): each daemon started with -f and
# NOTIFY_SOCKET sends READY=1 once it serves (after the privilege drop:
# the datagram's sender uid is sluice's), RELOADING=1 then READY=1 around
# each SIGHUP (STATUS= says when the new config was refused), STOPPING=1
# at SIGTERM; the sender pid is the pid we started (-f never detaches,
# as Type=notify with NotifyAccess=main needs). The receiver stands in
# for systemd's notification socket (t/tools/notify_listen.py, the
# kernel's SCM_CREDENTIALS as systemd reads them). A NOTIFY_SOCKET that
# nobody listens on costs a warning, never the daemon.
#
# The run directory (common/daemon.c): /run/sluice is gone after a boot
# without systemd's RuntimeDirectory=; a daemon started as root makes it
# (owner sluice, group postfix, 0750) and, being its owner after the
# drop, removes its socket and pid file at exit; a daemon started
# without root says in one line the command that makes it.
#
# The service started by systemd itself is in t_package.sh (when systemd
# runs as PID 1).
set -u
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || bail_out "needs root (the daemons drop root to sluice)"
getent passwd sluice >/dev/null || bail_out "user sluice missing (make deps)"
scratch_start service
SLUICE_UID=$(id -u sluice)

redis-server --port 0 --unixsocket "$STATE/redis.sock" --unixsocketperm 777 \
	--save "" --appendonly no --daemonize no >"$STATE/redis.log" 2>&1 &
pids+=($!)
wait_for 5 test -S "$STATE/redis.sock" || bail_out "redis-server did not start"

write_conf() { # FILE [EXTRA]: the daemons' config, sockets and pid files in $RUN
	cat >"$1" <<EOF
user = "sluice";
redis = { socket = "$STATE/redis.sock"; timeout_ms = 200; };
domains = { local = [ "example.test" ]; };
trusted_networks = [ "127.0.0.1/32" ];
milter = { listen = "unix:$RUN/milter.sock"; pid_file = "$RUN/milter.pid"; authserv_id = "mx.example.test"; };
policyd = { listen = "unix:$RUN/policyd.sock"; pid_file = "$RUN/policyd.pid"; };
${2:-}
EOF
}
CONF=$STATE/sluice.conf
write_conf "$CONF"

"$T_PY" "$T_REPO/t/tools/notify_listen.py" "$STATE/notify.sock" "$STATE/notify.log" \
	>"$STATE/listen.out" 2>&1 &
pids+=($!)
wait_for 5 grep -q listening "$STATE/listen.out" || bail_out "notify_listen.py did not start"
: >>"$STATE/notify.log"

# notified N REGEX: wait until notification line N (1-based) matches REGEX
notified() {
	wait_for "$T_WAIT" sh -c "sed -n '$1p' '$STATE/notify.log' | grep -Eq -- '$2'"
}

# one_daemon NAME (policyd|milter): the whole notify life of one daemon
one_daemon() {
	local d=$1 pid base n status
	base=$(wc -l <"$STATE/notify.log")
	rm -rf "$RUN"
	write_conf "$CONF"
	NOTIFY_SOCKET=$STATE/notify.sock "$SLUICE_BUILD/sluice-$d" -f -c "$CONF" \
		>"$STATE/$d.log" 2>&1 &
	pid=$!
	pids+=($pid)
	if notified $((base + 1)) "^pid=$pid uid=$SLUICE_UID READY=1"; then
		ok "$d: READY=1 from the pid started with -f (not detached), sent as user sluice"
	else
		not_ok "$d: READY=1 from pid $pid uid $SLUICE_UID" "$(cat "$STATE/notify.log")" \
			"$(cat "$STATE/$d.log")"
		return
	fi
	check "$d: its socket is there when READY=1 is sent" test -S "$RUN/$d.sock"
	assert_eq "$(stat -c '%U:%G %a' "$RUN")" "sluice:postfix 750" \
		"$d: the missing run directory was made: owner sluice, group postfix, 0750"
	assert_match "$(cat "$STATE/$d.log")" "made directory $RUN \(owner sluice, group postfix, mode 0750\)" \
		"$d: and it says so in the log"

	kill -HUP "$pid"
	n=$((base + 2))
	if notified $n "^pid=$pid .*RELOADING=1\|MONOTONIC_USEC=[0-9]+" &&
		notified $((n + 1)) "^pid=$pid .*READY=1\|STATUS=configuration reloaded"; then
		ok "$d: SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1"
	else
		not_ok "$d: SIGHUP: RELOADING=1 then READY=1" "$(cat "$STATE/notify.log")"
	fi
	log_wait "$STATE/$d.log" "configuration reloaded" >/dev/null ||
		not_ok "$d: no 'configuration reloaded' line"

	echo "this is not libconfig" >"$CONF"
	kill -HUP "$pid"
	n=$((base + 4))
	if notified $n "^pid=$pid .*RELOADING=1" &&
		notified $((n + 1)) "^pid=$pid .*READY=1\|STATUS=reload failed: running the previous configuration"; then
		ok "$d: a refused reload: RELOADING=1, then READY=1 with STATUS=reload failed"
	else
		not_ok "$d: a refused reload" "$(cat "$STATE/notify.log")"
	fi
	check "$d: still running after the refused reload" kill -0 "$pid"
	write_conf "$CONF"

	kill -TERM "$pid"
	if notified $((base + 6)) "^pid=$pid .*STOPPING=1"; then
		ok "$d: SIGTERM: STOPPING=1"
	else
		not_ok "$d: SIGTERM: STOPPING=1" "$(cat "$STATE/notify.log")"
	fi
	wait "$pid"
	status=$?
	assert_eq "$status" 0 "$d: exit status 0 after SIGTERM"
	check "$d: socket and pid file removed at exit (the run directory is its own)" \
		sh -c "! test -e '$RUN/$d.sock' && ! test -e '$RUN/$d.pid'"
	assert_no_match "$(cat "$STATE/$d.log")" "service manager not told|cannot remove" \
		"$d: no notify or clean-up warning"
}

one_daemon policyd
one_daemon milter

# Nobody listens at NOTIFY_SOCKET: a warning, and the daemon serves.
rm -f "$STATE/policyd.log"
NOTIFY_SOCKET=$STATE/nobody.sock "$SLUICE_BUILD/sluice-policyd" -f -c "$CONF" \
	>"$STATE/policyd.log" 2>&1 &
pid=$!
pids+=($pid)
if log_wait "$STATE/policyd.log" "service manager not told READY=1: notify $STATE/nobody.sock: No such file" >/dev/null; then
	ok "policyd: a dead NOTIFY_SOCKET is one warning"
else
	not_ok "policyd: a dead NOTIFY_SOCKET is one warning" "$(cat "$STATE/policyd.log")"
fi
check "policyd: and it serves (socket present, process alive)" \
	sh -c "test -S '$RUN/policyd.sock' && kill -0 $pid"
kill -TERM "$pid"
wait "$pid"
assert_eq "$?" 0 "policyd: stops cleanly"

# As the units run them: User=sluice Group=postfix from the start (no
# root, no drop), in a run directory sluice:postfix 0750 as systemd's
# RuntimeDirectory= makes it for those credentials; stderr is the journal
# (JOURNAL_STREAM names it), so lines are not copied there: syslog has them.
rm -rf "$RUN"
install -d -m 0750 -o sluice -g postfix "$RUN"
for d in policyd milter; do
	base=$(wc -l <"$STATE/notify.log")
	: >"$STATE/$d.log"
	ino=$(stat -c '%d:%i' "$STATE/$d.log")
	JOURNAL_STREAM=$ino NOTIFY_SOCKET=$STATE/notify.sock \
		setpriv --reuid=sluice --regid=postfix --clear-groups \
		"$SLUICE_BUILD/sluice-$d" -f -c "$CONF" >>"$STATE/$d.log" 2>&1 &
	pid=$!
	pids+=($pid)
	if notified $((base + 1)) "^pid=$pid uid=$SLUICE_UID READY=1"; then
		ok "$d as sluice:postfix (the unit's User=/Group=): READY=1"
	else
		not_ok "$d as sluice:postfix: READY=1" "$(cat "$STATE/notify.log")" "$(cat "$STATE/$d.log")"
	fi
	assert_eq "$(stat -c '%U:%G %a' "$RUN/$d.sock" 2>&1)" "sluice:postfix 660" \
		"$d as sluice:postfix: its socket is sluice:postfix 0660, as Postfix needs"
	check "$d as sluice:postfix: user postfix can connect to the socket" \
		runuser -u postfix -- "$T_PY" -c "import socket; socket.socket(socket.AF_UNIX).connect('$RUN/$d.sock')"
	kill -TERM "$pid"
	wait "$pid"
	assert_eq "$?" 0 "$d as sluice:postfix: exit status 0 after SIGTERM"
	check "$d as sluice:postfix: socket and pid file removed at exit" \
		sh -c "! test -e '$RUN/$d.sock' && ! test -e '$RUN/$d.pid'"
	assert_eq "$(wc -c <"$STATE/$d.log")" 0 "$d: stderr is the journal: no line copied there"
done

# Not root, run directory missing: one line that says what to do.
rm -rf "$RUN"
for d in policyd milter; do
	out=$(runuser -u nobody -- "$SLUICE_BUILD/sluice-$d" -f -c "$CONF" 2>&1)
	status=$?
	assert_eq "$status" 1 "$d as nobody, no run directory: exit status 1"
	assert_match "$out" "^sluice-$d\[[0-9]+\]: start-up: socket $RUN/$d.sock: directory $RUN does not exist; as root: install -d -m 0750 -o sluice -g postfix $RUN " \
		"$d as nobody: the one line says the command that makes the directory"
	assert_eq "$(printf '%s\n' "$out" | wc -l)" 1 "$d as nobody: one line"
done
check "nothing was made by a daemon without root" sh -c "! test -e '$RUN'"

done_testing
