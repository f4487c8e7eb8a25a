#!/bin/bash
# rules-bench.sh [BUILD] - the cost of the address rules and copies at
# scale, end to end (issue 11's target, for the parts built so far):
# Postfix's accept rate with sluice-milter signing DKIM (RSA-2048), for
#   empty   a milter whose Redis prefix holds no lists at all, and
#   loaded  one whose prefix holds 10,000 forbidden mailboxes (plus 100
#           /regex/ ones), 10,000 forbidden CIDRs, 10,000 permitted CIDRs,
#           10,000 aliases and a sluice:copy:domain entry for another
#           domain: every message is looked up in every list (the client
#           and the sender are in none).
# smtp-source -s 16 -m 2000 -l 4096 from a trusted client, rounds
# interleaved (each round starts with the other one), medians and the
# ratio loaded/empty printed, and the milters' CPU time per message from
# /proc. Target: loaded >= 0.9 x empty. Accepted mail goes to the hold
# queue and is deleted after each round (the accept path alone is
# measured); a round counts only if Postfix queued all messages and the
# milter logged as many dkim=signed lines.
#
# Runs in the test harness (t/lib.sh). Needs root. ROUNDS (5), MSGS (2000),
# SESSIONS (16) may be set in the environment.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
export SLUICE_BUILD=$BUILD
ROUNDS=${ROUNDS:-5}
MSGS=${MSGS:-2000}
SESSIONS=${SESSIONS:-16}
. t/lib.sh

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

HARNESS_NO_POLICYD=1
HARNESS_POSTCONF="header_checks = regexp:{ {/^From:/ HOLD} }
smtpd_milters ="
trap 'cleanup_bench; harness_stop' EXIT
harness_start "sluice-t-rulesbench-$$" || { echo "harness did not start"; exit 1; }
B=$T_STATE/bench
mkdir -p -m 0755 "$B"
"$BUILD/sluice-keygen" -d example.test -s rsa1 -a rsa -o "$B" >/dev/null 2>&1 || exit 1
chown sluice "$B"/example.test.*.key

# 10,000 entries per list, with redis-cli --pipe
"$T_PY" - <<'EOF' | in_ns redis-cli -s "$T_REDIS_SOCK" --pipe >/dev/null
import sys
def cmd(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
w = sys.stdout.buffer
n = 10000
for i in range(0, n, 1000):
    r = range(i, i + 1000)
    w.write(cmd("SADD", "sluice:forbid:mailbox", *["spam%d@spam%d.example" % (j, j % 97) for j in r]))
    w.write(cmd("SADD", "sluice:forbid:ip", *["10.%d.%d.0/24" % (j >> 8, j & 255) for j in r]))
    w.write(cmd("SADD", "sluice:permit:ip", *["172.%d.%d.0/24" % (16 + (j >> 8), j & 255) for j in r]))
for j in range(n):
    w.write(cmd("SADD", "sluice:alias:alias%d@example.test" % j, "user%d@example.test" % j))
w.write(cmd("SADD", "sluice:forbid:mailbox", *["/.*@rx%d\\.example/" % j for j in range(100)]))
w.write(cmd("HSET", "sluice:copy:domain", "other.test", "archive@other.test"))
EOF
[ "$(redis_cli SCARD sluice:forbid:ip)" = 10000 ] || { echo "bench: lists not loaded into Redis"; exit 1; }

milter_conf() {	# PREFIX LISTEN PIDFILE
	harness_default_config | sed -e "s|listen = \"unix:$T_STATE/milter.sock\"|listen = \"$2\"|" \
		-e "s|pid_file = \"$T_STATE/milter.pid\"|pid_file = \"$3\"|" \
		-e "s|^redis = { |redis = { prefix = \"$1\"; |"
	printf 'dkim = { keys = ( { domain = "example.test"; selector = "rsa1"; key = "%s/example.test.rsa1.key"; } ); };\n' "$B"
}
pids=()
for c in empty:unused: loaded:sluice:; do
	name=${c%%:*} prefix=${c#*:}
	milter_conf "$prefix" "unix:$B/$name.sock" "$B/$name.pid" >"$B/$name.conf"
	chmod 644 "$B/$name.conf"
	# not through in_ns (a function: $! would be a subshell): ip execs
	# the milter, so $! is its PID, for its CPU time
	ip netns exec "$HARNESS_NAME" "$BUILD/sluice-milter" -f -c "$B/$name.conf" >"$B/$name.log" 2>&1 &
	pids+=($!)
done
cleanup_bench() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
for name in empty loaded; do
	wait_for 20 test -S "$B/$name.sock" || { echo "bench: $name milter did not start"; cat "$B/$name.log"; exit 1; }
done
wait_for 20 grep -q 'lists: loaded' "$B/loaded.log"
grep 'lists: loaded' "$B/loaded.log" | tail -1 | sed 's/^/loaded milter: /'
declare -A PID=([empty]=${pids[0]} [loaded]=${pids[1]})

cleanup_lines() { grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-F]*: message-id=' "$T_MAILLOG"; }
signed_at_least() { [ "$(grep -c 'dkim=signed' "$1")" -ge "$2" ]; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A RATES CPU

one_round() {	# NAME: sets RATE and TICKS
	local c=$1 before after t0 t1 signed0 signed1 c0 c1
	harness_postconf "smtpd_milters = unix:$B/$c.sock"
	before=$(cleanup_lines)
	signed0=$(grep -c 'dkim=signed' "$B/$c.log")
	c0=$(cpu_ticks "${PID[$c]}")
	t0=$(date +%s.%N)
	in_ns smtp-source -s "$SESSIONS" -m "$MSGS" -l 4096 -f a@example.test \
		-t user@example.test 127.0.0.1:25 >"$B/source.log" 2>&1
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "${PID[$c]}")
	after=$(cleanup_lines)
	wait_for 10 signed_at_least "$B/$c.log" "$((signed0 + MSGS))"
	signed1=$(grep -c 'dkim=signed' "$B/$c.log")
	if [ "$((after - before))" -ne "$MSGS" ] || [ "$((signed1 - signed0))" -ne "$MSGS" ]; then
		echo "  $c: FAILED CHECK: $((after - before)) queued, $((signed1 - signed0)) signed, of $MSGS" >&2
		touch "$B/bad"
	fi
	in_ns postsuper -c "$T_PF" -d ALL hold >/dev/null 2>&1
	RATE=$(awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
	# CPU microseconds per message (clock ticks are 1/100 s)
	TICKS=$(awk -v t="$((c1 - c0))" -v n="$MSGS" 'BEGIN { printf "%.0f", t * 10000 / n }')
}

order=(empty loaded)
for r in $(seq 1 "$ROUNDS"); do
	line="round $r:"
	for i in 0 1; do
		c=${order[$(((i + r - 1) % 2))]}
		one_round "$c"
		RATES[$c]="${RATES[$c]:-} $RATE"
		CPU[$c]="${CPU[$c]:-} $TICKS"
		line="$line $c=$RATE/s (${TICKS} us cpu/msg)"
	done
	echo "$line"
done
echo
printf '%-8s %10s %14s   %s\n' config "median/s" "cpu us/msg" "all rounds (messages/s)"
declare -A MED MCPU
for c in empty loaded; do
	MED[$c]=$(echo "${RATES[$c]}" | tr ' ' '\n' | grep . | median)
	MCPU[$c]=$(echo "${CPU[$c]}" | tr ' ' '\n' | grep . | median)
	printf '%-8s %10s %14s  %s\n' "$c" "${MED[$c]}" "${MCPU[$c]}" "${RATES[$c]}"
done
echo
echo "loaded / empty (rate)    = $(ratio "${MED[loaded]}" "${MED[empty]}") (target >= 0.9)"
echo "loaded / empty (cpu/msg) = $(ratio "${MCPU[loaded]}" "${MCPU[empty]}")"
if [ -e "$B/bad" ]; then
	echo "SOME ROUNDS FAILED THEIR CHECKS: the numbers above mean nothing"
	exit 1
fi
echo "checks: every round queued and signed $MSGS messages"
