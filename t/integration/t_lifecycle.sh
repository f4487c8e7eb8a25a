#!/bin/bash
# t_lifecycle.sh - the daemons' lives around Postfix: who may use the
# sockets (0660, group postfix; a directory others may write is refused,
# one they may enter is warned about), a SIGHUP storm and SIGHUPs sent to
# each of the milter's threads (it only ever reloads), a restart that
# starts the new milter before the old one is gone (the new socket stays),
# the file limit (raised where the hard limit allows; no busy loop when it
# does not), the pid files and sockets removed at exit, and the keys a
# long-lived SMTP connection signs with after a SIGHUP.
#
# The daemons run as in production: sockets and pid files in a directory
# of their own, mode 0750, owner sluice, group postfix.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1	# both are started below, in the run directory
HARNESS_NO_MILTER=1
DKIM_SELECTOR=
harness_config() {
	cat <<EOF
user = "sluice";
redis = { socket = "$T_STATE/redis.sock"; timeout_ms = 100; };
domains = { local = [ "example.test" ]; relay = [ "relay.test" ]; };
trusted_networks = [ "127.0.0.1/32", "127.0.1.0/24", "::1/128" ];
milter = { listen = "unix:$RUN/milter.sock"; pid_file = "$RUN/milter.pid"; authserv_id = "mx.example.test"; };
policyd = { listen = "unix:$RUN/policyd.sock"; pid_file = "$RUN/policyd.pid"; };
EOF
	[ -z "$DKIM_SELECTOR" ] ||
		echo "dkim = { keys = ( { domain = \"example.test\"; selector = \"$DKIM_SELECTOR\"; key = \"$KEYS/example.test.$DKIM_SELECTOR.key\"; } ); };"
}
trap harness_stop EXIT
RUN=/nonexistent	# set once the state directory exists
harness_start "sluice-t-$$" || bail_out "harness did not start"

RUN=$T_STATE/sluice
KEYS=$T_STATE/keys
install -d -m 0750 -o sluice -g postfix "$RUN" || bail_out "install -d $RUN"
mkdir -p -m 0755 "$KEYS"
for s in k1 k2; do
	"$SLUICE_BUILD/sluice-keygen" -d example.test -s $s -o "$KEYS" >/dev/null 2>&1 ||
		bail_out "sluice-keygen -s $s failed"
	chown sluice "$KEYS/example.test.$s.key"
done
DKIM_SELECTOR=k1
_write_sluice_conf
T_MILTER_SOCK=$RUN/milter.sock
T_POLICYD_SOCK=$RUN/policyd.sock
harness_start_daemon policyd || bail_out "policyd did not start"
harness_start_daemon milter || bail_out "milter did not start"
harness_postconf "smtpd_milters = unix:$T_MILTER_SOCK" \
	"smtpd_recipient_restrictions = check_policy_service unix:$T_POLICYD_SOCK" ||
	bail_out "postconf failed"

# mail SUBJECT: one message from a trusted client; prints the delivered file
mail() {
	local out
	out=$(send_mail --from a@example.test --to user@example.test \
		--header "Subject: $1" --header "From: a@example.test" --body "test") ||
		{ echo "$out" >&2; return 1; }
	wait_delivered internal "Subject: $1"
}
mail_ok() {	# SUBJECT DESC
	local f
	if f=$(mail "$1" 2>&1); then
		ok "$2"
	else
		not_ok "$2" "$f" "$(tail -5 "$T_MILTER_LOG")"
	fi
}
tag() { sed -n '/^DKIM-Signature:/,/^[^ \t]/p' "$1" | tr -d '\n\t ' | grep -o "[;:]$2=[^;]*" | head -1 | cut -d= -f2-; }
# as_user USER PATH: 0 when USER can connect to the unix socket PATH
as_user() {
	setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups "$T_PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(e); sys.exit(1)' "$2"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
reloads() { grep -c 'configuration reloaded' "$T_MILTER_LOG"; }
more_reloads() { [ "$(reloads)" -gt "$1" ]; }
# A section that found the milter dead (a failure already counted) starts
# a new one, so that each section tests what it says.
ensure_milter() { harness_pid milter >/dev/null || harness_start_daemon milter; }

mail_ok "first" "mail passes through both daemons in their run directory"

# ------------------------------------------------------- socket access ----
for d in milter policyd; do
	assert_eq "$(stat -c '%a %G' "$RUN/$d.sock")" "660 postfix" "$d socket: mode 0660, group postfix"
done
# A directory others may enter: the socket's own mode is the fence.
OPEN=$T_STATE/open
mkdir -m 0755 "$OPEN"
cat >"$T_STATE/open.conf" <<EOF
user = "sluice";
redis = { socket = "$T_STATE/redis.sock"; };
milter = { listen = "unix:$OPEN/m.sock"; pid_file = "$OPEN/m.pid"; };
policyd = { listen = "unix:$OPEN/p.sock"; pid_file = "$OPEN/p.pid"; };
EOF
"$SLUICE_BUILD/sluice-milter" -f -c "$T_STATE/open.conf" 2>"$T_STATE/open-m.log" &
om=$!
"$SLUICE_BUILD/sluice-policyd" -f -c "$T_STATE/open.conf" 2>"$T_STATE/open-p.log" &
op=$!
wait_for 10 test -S "$OPEN/m.sock"
wait_for 10 test -S "$OPEN/p.sock"
for s in m p; do
	out=$(as_user nobody "$OPEN/$s.sock" 2>&1)
	assert_match "$out" "Permission denied" "a local user (nobody) cannot connect to the $s socket"
	check "user postfix can connect to the $s socket" as_user postfix "$OPEN/$s.sock"
	assert_match "$(cat "$T_STATE/open-$s.log")" \
		"WARNING: socket directory $OPEN can be entered by others \(mode 0755\)" \
		"$s: a directory others may enter is logged as a warning"
done
kill -TERM "$om" "$op"
wait "$om" "$op"
# A directory others may write: refused (they could replace the socket).
mkdir -m 1777 "$T_STATE/ww"
sed "s|$OPEN/|$T_STATE/ww/|g" "$T_STATE/open.conf" >"$T_STATE/ww.conf"
for d in milter policyd; do
	out=$(timeout 10 "$SLUICE_BUILD/sluice-$d" -f -c "$T_STATE/ww.conf" 2>&1)
	rc=$?
	assert_eq "$rc" 1 "$d refuses a socket directory others may write (exit 1)"
	assert_match "$out" "socket directory $T_STATE/ww is writable by others" "... and says why"
done
# A group that does not exist is a config error with its line.
printf 'user = "sluice";\n\nsocket_group = "no-such-group-t";\n' >"$T_STATE/nogroup.conf"
for d in milter policyd; do
	out=$("$SLUICE_BUILD/sluice-$d" -t -c "$T_STATE/nogroup.conf" 2>&1)
	assert_match "$out" "^$T_STATE/nogroup.conf:3: socket_group: group 'no-such-group-t' does not exist" \
		"$d -t: an unknown socket_group is FILE:LINE: message"
done

# -------------------------------------------------------- SIGHUP storm ----
mpid=$(harness_pid milter) || bail_out "no milter pid"
n=$(reloads)
"$T_PY" -c '
import os, signal, sys
pid = int(sys.argv[1])
for _ in range(20000):
    os.kill(pid, signal.SIGHUP)' "$mpid"
# and one SIGHUP to each thread alone (libmilter's signal thread among them)
tids=$(ls "/proc/$mpid/task")
"$T_PY" -c '
import ctypes, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
for tid in sys.argv[2:]:
    libc.tgkill(pid, int(tid), signal.SIGHUP)' "$mpid" $tids
wait_for 10 more_reloads "$n" && ok "SIGHUP storm: the milter reloads" ||
	not_ok "SIGHUP storm: the milter reloads" "$(tail -5 "$T_MILTER_LOG")"
mail_ok "after the storm" "after 20000 SIGHUPs and one to each of its $(echo $tids | wc -w) threads, mail passes through the milter"
check "... it still runs" kill -0 "$mpid"
check "... its socket is still there" test -S "$T_MILTER_SOCK"
r=$(($(reloads) - n))
if [ "$r" -ge 1 ] && [ "$r" -lt 20000 ]; then
	ok "queued SIGHUPs collapse ($r reloads for 20000 signals)"
else
	not_ok "queued SIGHUPs collapse ($r reloads for 20000 signals)"
fi

# ------------------------------------------ keys after SIGHUP, one session ----
# Two messages on one SMTP connection, a SIGHUP with a new selector
# between them: the second is signed with the new key.
ensure_milter
rm -f "$T_STATE/sent1" "$T_STATE/go"
in_ns "$T_PY" -c '
import os, smtplib, sys, time
st = sys.argv[1]
def msg(n):
    return ("From: a@example.test\r\nTo: user@example.test\r\nSubject: session %d\r\n\r\nbody\r\n" % n)
s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
s.ehlo("session.test")
s.sendmail("a@example.test", ["user@example.test"], msg(1))
open(st + "/sent1", "w").close()
for _ in range(300):
    if os.path.exists(st + "/go"):
        break
    time.sleep(0.1)
s.sendmail("a@example.test", ["user@example.test"], msg(2))
s.quit()' "$T_STATE" >"$T_STATE/session.out" 2>&1 &
sess=$!
wait_for 30 test -e "$T_STATE/sent1" || not_ok "first message of the session sent" "$(cat "$T_STATE/session.out")"
n=$(reloads)
DKIM_SELECTOR=k2
_write_sluice_conf
harness_sighup milter
wait_for 10 more_reloads "$n" || not_ok "milter reloads with selector k2"
touch "$T_STATE/go"
wait "$sess"
assert_eq "$?" 0 "two messages on one connection accepted"
f1=$(wait_delivered internal 'Subject: session 1')
f2=$(wait_delivered internal 'Subject: session 2')
assert_eq "$(tag "$f1" s)" k1 "first message of the session: signed with k1"
assert_eq "$(tag "$f2" s)" k2 "after SIGHUP the next message on the same connection is signed with k2"

# ------------------------------------------------------------- restart ----
# SIGTERM the old milter and start the new one at once.
ensure_milter
old=$(harness_pid milter)
kill -TERM "$old"
harness_start_daemon milter || not_ok "the new milter starts while the old one stops"
new=$(harness_pid milter)
wait_for 15 eval '! kill -0 '"$old"' 2>/dev/null' && ok "the old milter exits" ||
	not_ok "the old milter exits within 15 s"
alive=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	test -S "$T_MILTER_SOCK" && alive=$((alive + 1))
	sleep 1
done
assert_eq "$alive" 10 "the new milter's socket is there for the 10 s after the restart"
mail_ok "after restart" "... and mail passes through the new milter"
assert_eq "$(cat "$RUN/milter.pid" 2>/dev/null)" "$new" "the pid file names the new milter"

# ---------------------------------------------------------- file limit ----
# A low soft limit is raised (the hard limit allows it).
spawn_milter_limited() {	# SOFT:HARD
	harness_stop_daemon milter
	rm -f "$T_MILTER_SOCK"
	_spawn milter "$T_MILTER_LOG" _sanitizer_env prlimit --nofile="$1" \
		"$SLUICE_BUILD/sluice-milter" -f -c "$T_CONF" &&
		_wait_ready sluice-milter milter test -S "$T_MILTER_SOCK"
}
spawn_milter_limited 64:8192 || bail_out "milter under prlimit did not start"
mpid=$(harness_pid milter)
assert_match "$(grep 'Max open files' "/proc/$mpid/limits")" 'Max open files +4096 +8192 ' \
	"soft file limit 64 is raised to 4096 (hard limit 8192)"
mail_ok "raised limit" "... and the milter serves"
# A hard limit too low for the connections: refused, but no busy loop.
spawn_milter_limited 40:40 || bail_out "milter with 40 files did not start"
mpid=$(harness_pid milter)
assert_match "$(milter_log_grep 'open file limit is 40')" "below the 4096 this configuration needs" \
	"a hard limit below the need is logged at start"
lines=$(log_lines "$T_MILTER_LOG")
"$T_PY" -c '
import socket, sys, time
held = []
for _ in range(80):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(6)' "$T_MILTER_SOCK" &
holder=$!
sleep 1
t0=$(cpu_ticks "$mpid")
sleep 2
t1=$(cpu_ticks "$mpid")
if [ $((t1 - t0)) -lt 40 ]; then
	ok "out of descriptors, 80 connections: the milter does not spin ($((t1 - t0)) ticks in 2 s)"
else
	not_ok "out of descriptors, 80 connections: the milter spins ($((t1 - t0)) ticks in 2 s)"
fi
wait "$holder"
refused=$(tail -n +"$((lines + 1))" "$T_MILTER_LOG" | grep -c 'out of file descriptors')
[ "$refused" -ge 1 ] && [ "$refused" -le 2 ] && ok "refusals logged once ($refused lines)" ||
	not_ok "refusals logged once ($refused lines)"
mail_ok "after fd exhaustion" "... and once they are closed, mail passes again"

# ----------------------------------------------------------------- stop ----
for d in milter policyd; do
	harness_stop_daemon "$d"
	check "$d: pid file removed at exit" test ! -e "$RUN/$d.pid"
	check "$d: socket removed at exit" test ! -e "$RUN/$d.sock"
done

done_testing
