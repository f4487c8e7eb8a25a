#!/bin/bash
# t_lists_scale.sh - the admin's Redis lists at scale (issue 8), seen through the
# policy daemon's greylisting: 100,000-entry lists load and apply; SADD,
# SREM, RENAME and DEL reach two daemons sharing one Redis within ~1 s;
# Redis restarted: lists re-read, decisions resume; a bulk read that times
# out never turns into a decision error; Redis idles when nothing changes.
#
# Policy requests go straight to the daemons' sockets (t/tools/lists_tool.py
# poll: the same request again and again until the expected answer, bounded
# by a deadline counted from just after the change; the check is that the
# effect is seen by then, no time is measured beyond that bound).
# Greylisting's delay is an hour, so no probe's triplet ever passes: an
# answer is DUNNO only when a list exempts the client or sender.
set -u
. "$(dirname "$0")/../lib.sh"

# No allow_networks: its default (the private and loopback networks) would
# exempt every test client. fail_open off: a decision that hit a Redis error
# answers 451 4.3.0, never a DUNNO that looks like an allowlisting.
HARNESS_POLICYD_EXTRA="fail_open = false; greylist = { delay = 3600; allow_networks = [ ]; };"
HARNESS_NO_MILTER=1
LT=$T_REPO/t/tools/lists_tool.py
PERMIT='^action=DUNNO'
GREY='^action=DEFER_IF_PERMIT Greylisted'
STALLED=
bpid=

on_exit() {
	# Never leave Redis stopped by redis_stall.
	[ -z "$STALLED" ] || kill -CONT "$STALLED" 2>/dev/null
	[ -z "$bpid" ] || kill "$bpid" 2>/dev/null
	harness_stop "$HARNESS_NAME"
}
trap on_exit EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"
B_SOCK=$T_STATE/policyd-b.sock
B_LOG=$T_STATE/policyd-b.log

# load KEY KIND N [FIRST]: N generated members (lists_tool.py resp) with
# redis-cli --pipe.
load() {
	local out
	out=$("$T_PY" "$LT" resp "$@" | in_ns redis-cli -s "$T_REDIS_SOCK" --pipe 2>&1)
	if printf '%s\n' "$out" | grep -q 'errors: 0,'; then
		ok "loaded $3 $2 members into $1"
	else
		not_ok "loaded $3 $2 members into $1" "$out"
	fi
}
# req IP SENDER: the attributes of a policy request from client IP
req() {
	echo "client_address=$1" client_name=unknown reverse_client_name=unknown \
		helo_name=probe.test "sender=$2" recipient=u1@example.test
}
# expect DESC SECONDS SOCKETS -- REGEX IP SENDER [-- REGEX IP SENDER...]:
# every probe answered as REGEX by every socket within SECONDS (at least
# one try each). SOCKETS is "a", "b" or "ab".
expect() {
	local desc=$1 secs=$2 socks=$3 out args=()
	shift 4
	case $socks in *a*) args+=(-s "unix:$T_POLICYD_SOCK") ;; esac
	case $socks in *b*) args+=(-s "unix:$B_SOCK") ;; esac
	while [ $# -ge 3 ]; do
		# shellcheck disable=SC2207 # req prints words without blanks
		args+=("$1" $(req "$2" "$3"))
		shift 3
		[ "${1:-}" = -- ] && { args+=(--); shift; }
	done
	if out=$(in_ns "$T_PY" "$LT" poll -d "$secs" "${args[@]}" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "$out"
	fi
}
both_logs() {	# both_logs REGEX DESC: a line in each daemon's log matches
	local f bad=
	for f in "$T_POLICYD_LOG" "$B_LOG"; do
		log_wait "$f" "$1" 3 >/dev/null || bad="$bad $f"
	done
	if [ -z "$bad" ]; then ok "$2"; else not_ok "$2" "no line matches $1 in:$bad"; fi
}
start_b() {	# a second sluice-policyd (another MX host) on the same Redis
	sed -e "s|$T_STATE/policyd.sock|$B_SOCK|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
		"$T_CONF" >"$T_STATE/sluice-b.conf"
	rm -f "$B_SOCK"
	in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$T_STATE/sluice-b.conf" >>"$B_LOG" 2>&1 &
	bpid=$!
	wait_for 10 test -S "$B_SOCK"
}
stop_b() {
	[ -n "$bpid" ] || return 0
	kill "$bpid" 2>/dev/null
	wait "$bpid" 2>/dev/null
	bpid=
}
# cpu_cs PID: user+system CPU time of PID so far, in 1/100 s
cpu_cs() {
	local t
	t=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
	echo $((t * 100 / $(getconf CLK_TCK)))
}

# --- 100,000-entry lists load and apply -----------------------------------
# Clients: 127.0.0.49 inside a CIDR of sluice:permit:ip, 127.0.0.60 with a
# sender in sluice:greylist:allow:sender, 127.0.0.61 on no list.
load sluice:permit:ip cidr 99999
redis_cli SADD sluice:permit:ip 127.0.0.48/30 >/dev/null
load sluice:forbid:mailbox addr 100000
load sluice:greylist:allow:sender addr 99999
redis_cli SADD sluice:greylist:allow:sender gl-allowed@nowhere.test >/dev/null
load sluice:permit:mailbox regex 100
assert_eq "$(redis_cli SCARD sluice:permit:ip) $(redis_cli SCARD sluice:forbid:mailbox) $(redis_cli SCARD sluice:greylist:allow:sender)" \
	"100000 100000 100000" "Redis holds the three 100,000-entry lists"
# Daemon A saw the lists change while running; daemon B starts with them.
start_b || not_ok "second sluice-policyd started" "$(tail -5 "$B_LOG")"
expect "100k lists: a client in sluice:permit:ip is not greylisted (both daemons, 10 s)" 10 ab \
	-- "$PERMIT" 127.0.0.49 p1@nowhere.test
both_logs 'greylist=allowlisted client=unknown\[127\.0\.0\.49\].* reason=permit_ip' \
	"100k lists: log greylist=allowlisted ... reason=permit_ip"
expect "100k lists: a sender in sluice:greylist:allow:sender is not greylisted" 10 ab \
	-- "$PERMIT" 127.0.0.60 gl-allowed@nowhere.test
both_logs 'greylist=allowlisted client=unknown\[127\.0\.0\.60\].* reason=allow_sender' \
	"100k lists: log reason=allow_sender"
expect "100k lists: a client on no list is still greylisted" 2 ab \
	-- "$GREY" 127.0.0.61 nl@nowhere.test
f=$(grep -l 'reason=redis' "$T_POLICYD_LOG" "$B_LOG" 2>/dev/null)
assert_eq "$f" "" "100k lists: no decision ended with reason=redis"

# --- Redis idles while no list changes -------------------------------------
# Today's cache re-read every list every second per worker: ~17% of a CPU
# with these lists. Change detection re-reads nothing. A bound on work.
sleep 1
rpid=$(harness_pid redis)
c0=$(cpu_cs "$rpid")
sleep 5
c1=$(cpu_cs "$rpid")
diag "redis-server CPU with 300k list entries, two daemons, idle: $((c1 - c0))/100 s in 5 s"
if [ $((c1 - c0)) -lt 25 ]; then
	ok "Redis at idle: under 0.25 s of CPU in 5 s ($((c1 - c0))/100 s)"
else
	not_ok "Redis at idle: under 0.25 s of CPU in 5 s" "used $((c1 - c0))/100 s"
fi

# --- changes reach both daemons within a second ---------------------------
expect "before SADD: 127.0.0.70 greylisted" 0 ab -- "$GREY" 127.0.0.70 s1@nowhere.test
redis_cli SADD sluice:permit:ip 127.0.0.70 >/dev/null
expect "SADD to a 100k list: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$PERMIT" 127.0.0.70 s1@nowhere.test
redis_cli SREM sluice:permit:ip 127.0.0.70 >/dev/null
expect "SREM from a 100k list: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$GREY" 127.0.0.70 s1@nowhere.test
# The admin's atomic replace: build the new list aside, RENAME it over.
load sluice:permit:ip.new cidr 99999 100000
redis_cli SADD sluice:permit:ip.new 127.0.0.72 >/dev/null
expect "a list being built aside (sluice:permit:ip.new) is not used" 1.5 ab \
	-- "$GREY" 127.0.0.72 s2@nowhere.test -- "$PERMIT" 127.0.0.49 p1@nowhere.test
redis_cli RENAME sluice:permit:ip.new sluice:permit:ip >/dev/null
expect "RENAME of a new 100k list over sluice:permit:ip: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$PERMIT" 127.0.0.72 s2@nowhere.test -- "$GREY" 127.0.0.49 p2@nowhere.test
redis_cli RENAME sluice:permit:ip sluice:permit:ip.old >/dev/null
expect "RENAME of sluice:permit:ip away: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$GREY" 127.0.0.72 s2@nowhere.test
redis_cli RENAME sluice:permit:ip.old sluice:permit:ip >/dev/null
expect "RENAME back to sluice:permit:ip: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$PERMIT" 127.0.0.72 s2@nowhere.test
redis_cli DEL sluice:permit:ip >/dev/null
expect "DEL of sluice:permit:ip: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$GREY" 127.0.0.72 s2@nowhere.test
redis_cli DEL sluice:greylist:allow:sender >/dev/null
expect "DEL of sluice:greylist:allow:sender: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$GREY" 127.0.0.60 gl-allowed@nowhere.test

# --- Redis restarted: lists re-read, decisions resume ---------------------
redis_cli SADD sluice:permit:ip 127.0.0.80 >/dev/null
expect "SADD 127.0.0.80: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$PERMIT" 127.0.0.80 r1@nowhere.test
harness_stop_daemon redis
_start_redis || bail_out "redis did not restart"
# The new Redis is empty: once the daemons are back on it, 127.0.0.80 is
# on no list and greylisted (an answer that needs Redis: decisions resume).
expect "Redis restarted (empty): lists re-read and greylisting resumes on both daemons (5 s)" 5 ab \
	-- "$GREY" 127.0.0.80 r1@nowhere.test
redis_cli SADD sluice:permit:ip 127.0.0.81 >/dev/null
expect "after the restart, SADD: in effect on both daemons within 1.5 s" 1.5 ab \
	-- "$PERMIT" 127.0.0.81 r2@nowhere.test -- "$GREY" 127.0.0.80 r1@nowhere.test

# --- a bulk read that times out leaves decisions alone ---------------------
# redis.bulk_timeout_ms = 1 and a 300,000-member list; on top, Redis is
# stopped for 20 ms at a time while the daemon re-reads the list, so the
# bulk read surely times out. Decisions wait for Redis up to timeout_ms,
# 500 ms here: a 20 ms stall must not fail them even on a loaded machine.
load sluice:forbid:mailbox addr 300000 1000000
stop_b
harness_config() { harness_default_config | sed 's/timeout_ms = 100;/timeout_ms = 500;/'; }
HARNESS_REDIS_EXTRA="bulk_timeout_ms = 1;"
if ! harness_restart_sluice; then
	# Today's code refuses the new key: run the rest without it.
	not_ok "sluice-policyd accepts redis.bulk_timeout_ms" "$(tail -3 "$T_POLICYD_LOG")"
	HARNESS_REDIS_EXTRA=
	harness_restart_sluice || bail_out "policyd did not restart"
fi
redis_stall() {	# redis_stall ROUNDS: SIGSTOP Redis 20 ms, let it run 30 ms
	local i
	for ((i = 0; i < $1; i++)); do
		STALLED=$rpid
		kill -STOP "$rpid"
		sleep 0.02
		kill -CONT "$rpid"
		STALLED=
		sleep 0.03
	done
}
rpid=$(harness_pid redis)
nlog=$(log_lines "$T_POLICYD_LOG")
# shellcheck disable=SC2046 # req prints words without blanks
in_ns "$T_PY" "$LT" many -s "unix:$T_POLICYD_SOCK" -n 3000 -c 4 "$GREY" \
	$(req 127.0.0.95 't%d@nowhere.test') >"$T_STATE/many.out" 2>&1 &
mpid=$!
# Each SADD makes the daemon re-read the whole 300,000-member list.
for r in 1 2 3 4 5; do
	redis_cli SADD sluice:forbid:mailbox "extra$r@bulk.test" >/dev/null
	redis_stall 10
done
wait "$mpid"
mrc=$?
diag "$(cat "$T_STATE/many.out")"
if [ "$mrc" -eq 0 ]; then
	ok "bulk read timing out: every greylisting decision answered normally (Greylisted)"
else
	not_ok "bulk read timing out: every greylisting decision answered normally (Greylisted)"
fi
bad=$(tail -n +"$((nlog + 1))" "$T_POLICYD_LOG" | grep -c 'reason=redis')
assert_eq "$bad" 0 "bulk read timing out: no decision logs reason=redis" ||
	diag "$(tail -n +"$((nlog + 1))" "$T_POLICYD_LOG" | grep 'reason=redis' | head -n 3)"
if log_wait "$T_POLICYD_LOG" 'redis lists not refreshed' 5 >/dev/null; then
	ok "bulk read timing out: logged 'redis lists not refreshed'"
else
	not_ok "bulk read timing out: logged 'redis lists not refreshed'" "$(tail -5 "$T_POLICYD_LOG")"
fi
diag "$(grep -E 'lists: |lists not refreshed' "$T_POLICYD_LOG" | tail -n 5)"

done_testing
