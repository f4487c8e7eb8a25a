#!/bin/bash
# t_lists.sh - the list cache at scale and under change: 100,000-entry
# lists load and apply, SADD/SREM/DEL/RENAME reach two daemons sharing one
# Redis within a second, a Redis restart is followed, a bulk read that
# times out harms no decision, and Redis does no work while nothing
# changes. Policy requests go straight to the socket, as Postfix sends them.
set -u
. "$(dirname "$0")/../lib.sh"

GL='delay = 120; auto_allowlist_clients = 0; allow_networks = [ "10.255.0.0/16" ];'
HARNESS_POLICYD_EXTRA="greylist = { $GL };"
HARNESS_NO_MILTER=1
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

# load N: 100,000-ish members in two sets, with redis-cli --pipe
load() {
	"$T_PY" - "$@" <<'EOF' | in_ns redis-cli -s "$T_REDIS_SOCK" --pipe >/dev/null
import sys
n = int(sys.argv[1])
def cmd(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
w = sys.stdout.buffer
for i in range(0, n, 1000):
    w.write(cmd("SADD", "sluice:permit:ip",
                *["10.%d.%d.0/24" % (j >> 8 & 255, j & 255) for j in range(i, min(i + 1000, n))]))
    w.write(cmd("SADD", "sluice:greylist:allow:sender",
                *["user%d@partner.example" % j for j in range(i, min(i + 1000, n))]))
w.write(cmd("SADD", "sluice:permit:mailbox", *["/.*@hoster%d\\.example/" % j for j in range(100)]))
if len(sys.argv) > 2:	# big members: pages of ~250 KB, slow to read
    pad = "x" * 200
    for i in range(0, n, 1000):
        w.write(cmd("SADD", "sluice:forbid:mailbox",
                    *["%s%d@big.example" % (pad, j) for j in range(i, min(i + 1000, n))]))
EOF
}
# until_answer DESC REGEX SOCKET ARGS...: within 1.5 s the answer matches
until_answer() {
	local desc=$1 re=$2 sock=$3 i out
	shift 3
	for i in $(seq 1 15); do
		out=$(policy_request "$sock" "$@")
		if printf '%s\n' "$out" | grep -Eq "$re"; then ok "$desc"; return 0; fi
		sleep 0.1
	done
	not_ok "$desc" "last answer: $out"
}
deferred='action=DEFER_IF_PERMIT Greylisted'

# --- 100,000-entry lists load and apply ------------------------------------
load 60000
load_ok=$(policyd_log_grep 'lists: (loaded|sluice:permit:ip reloaded)' 15)
check "60,000 CIDRs + 60,000 senders + 100 regexes loaded" test -n "$load_ok"
harness_restart_sluice || bail_out "policyd did not restart"
check "a full read at start loads them" policyd_log_grep 'lists: loaded 120100 entries in [0-9]+ ms \(full\)' 10
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=10.200.7.9 sender=x@nowhere.test)" 'action=DUNNO' \
	"a client in the 60,000-entry sluice:permit:ip skips greylisting"
check "log: reason=permit_ip" policyd_log_grep 'greylist=allowlisted client=unknown\[10\.200\.7\.9\].* reason=permit_ip' 5
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=192.0.2.10 sender=user59999@partner.example)" 'action=DUNNO' \
	"a sender in the 60,000-entry greylist allowlist applies"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=192.0.2.11 sender=someone@nowhere.test)" "$deferred" \
	"a client in no list is greylisted"

# --- Redis at idle: nothing is re-read while nothing changes ----------------
rpid=$(harness_pid redis)
t0=$(awk '{ print $14 + $15 }' "/proc/$rpid/stat")
sleep 5
used=$(($(awk '{ print $14 + $15 }' "/proc/$rpid/stat") - t0))
diag "redis-server CPU over 5 s idle with 120,100 list entries loaded: $used ticks"
if [ "$used" -lt 25 ]; then ok "Redis idle: no periodic re-reads ($used ticks in 5 s)"
else not_ok "Redis idle: no periodic re-reads ($used ticks in 5 s)"; fi

# --- changes reach two daemons within a second ------------------------------
second_conf=$T_STATE/sluice-b.conf
sed -e "s|$T_STATE/policyd.sock|$T_STATE/policyd-b.sock|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$second_conf"
in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$second_conf" 2>"$T_STATE/policyd-b.log" &
bpid=$!
wait_for 10 test -S "$T_STATE/policyd-b.sock"
B=$T_STATE/policyd-b.sock
for s in "$T_POLICYD_SOCK" "$B"; do
	assert_match "$(policy_request "$s" client_address=192.0.2.50 sender=c@nowhere.test recipient=r1@example.test)" \
		"$deferred" "before SADD: greylisted ($(basename "$s"))"
done
redis_cli SADD sluice:permit:ip 192.0.2.50 >/dev/null
for s in "$T_POLICYD_SOCK" "$B"; do
	until_answer "SADD to a 60,000-member set: in effect within 1.5 s ($(basename "$s"))" 'action=DUNNO' \
		"$s" client_address=192.0.2.50 sender=c@nowhere.test recipient=r1@example.test
done
redis_cli SREM sluice:permit:ip 192.0.2.50 >/dev/null
for s in "$T_POLICYD_SOCK" "$B"; do
	until_answer "SREM: in effect within 1.5 s ($(basename "$s"))" "$deferred" \
		"$s" client_address=192.0.2.50 sender=c@nowhere.test recipient=r1@example.test
done
redis_cli SADD sluice:permit:ip.new 192.0.2.60 >/dev/null
redis_cli RENAME sluice:permit:ip.new sluice:permit:ip >/dev/null
for s in "$T_POLICYD_SOCK" "$B"; do
	until_answer "RENAME over the list: the new list applies ($(basename "$s"))" 'action=DUNNO' \
		"$s" client_address=192.0.2.60 sender=c@nowhere.test recipient=r1@example.test
	until_answer "RENAME over the list: the old members are gone ($(basename "$s"))" "$deferred" \
		"$s" client_address=10.200.7.9 sender=c@nowhere.test recipient=r1@example.test
done
redis_cli RENAME sluice:permit:ip sluice:permit:ip.away >/dev/null
for s in "$T_POLICYD_SOCK" "$B"; do
	until_answer "RENAME the list away: it is empty ($(basename "$s"))" "$deferred" \
		"$s" client_address=192.0.2.60 sender=c@nowhere.test recipient=r1@example.test
done
redis_cli SADD sluice:permit:ip 192.0.2.61 >/dev/null
redis_cli DEL sluice:permit:ip >/dev/null
for s in "$T_POLICYD_SOCK" "$B"; do
	until_answer "DEL: in effect within 1.5 s ($(basename "$s"))" "$deferred" \
		"$s" client_address=192.0.2.61 sender=c@nowhere.test recipient=r1@example.test
done
kill "$bpid"
wait "$bpid" 2>/dev/null

# --- Redis restarted: the lists are read again ------------------------------
harness_stop_daemon redis
_start_redis || bail_out "redis did not restart"
# Decisions come back once the daemon's own client reconnects (it backs
# off up to 5 s); then a member added after the restart must apply.
back=""
for i in $(seq 1 100); do
	if policy_request "$T_POLICYD_SOCK" client_address=192.0.2.$((150 + i % 50)) sender=b$i@nowhere.test |
		grep -q 'action=DEFER_IF_PERMIT'; then back=$i; break; fi
	sleep 0.1
done
check "Redis restarted: greylisting decisions resume (after $back tries)" test -n "$back"
redis_cli SADD sluice:permit:ip 192.0.2.70 >/dev/null
until_answer "Redis restarted: the lists are followed again (a new member applies)" 'action=DUNNO' \
	"$T_POLICYD_SOCK" client_address=192.0.2.70 sender=c@nowhere.test
check "log: reason=permit_ip after the restart" \
	policyd_log_grep 'greylist=allowlisted client=unknown\[192\.0\.2\.70\].* reason=permit_ip' 5

# --- a bulk read that times out harms no decision ---------------------------
HARNESS_REDIS_EXTRA='bulk_timeout_ms = 1;'
harness_restart_sluice || bail_out "policyd did not restart"
load 100000 big
check "the bulk read times out: logged" policyd_log_grep 'redis lists not refreshed' 15
lines=$(log_lines "$T_POLICYD_LOG")
for i in $(seq 1 20); do
	policy_request "$T_POLICYD_SOCK" client_address=192.0.2.$((100 + i)) sender=t$i@nowhere.test >/dev/null
done
bad=$(tail -n +"$((lines + 1))" "$T_POLICYD_LOG" | grep -c 'reason=redis')
decided=$(tail -n +"$((lines + 1))" "$T_POLICYD_LOG" | grep -c 'greylist=new')
assert_eq "$bad" 0 "decisions while bulk reads time out: none ends reason=redis"
assert_eq "$decided" 20 "decisions while bulk reads time out: all 20 greylisted normally"

done_testing
