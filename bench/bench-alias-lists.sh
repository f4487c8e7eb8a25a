#!/bin/bash
# bench-alias-lists.sh [BUILD] - issue 11's speed target: Postfix's accept
# rate through sluice-milter signing with DKIM (RSA-2048), with 10,000
# aliases, 10,000 forbidden mailboxes and 10,000 forbidden CIDRs loaded
# and one alias hit per message ("loaded"), against the same milter with
# empty lists, messages straight to the mailbox ("empty"). Target:
# loaded >= 0.9 x empty.
#
# Two sluice-milters on one Redis: one with redis.prefix "sluice:" (the
# lists loaded), one with "empty:" (no list at all); each round runs both,
# in alternating order, switching smtpd_milters (as bench-dkim.sh does).
# Accepted mail is held (header_checks HOLD) so the rate is the accept
# path; after each round it is released to the sink, and the round counts
# only if MSGS messages arrived signed, for user@example.test (the alias
# target in "loaded": proof the alias applied). ROUNDS (5), MSGS (1000),
# SESSIONS (16) may be set in the environment.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
export SLUICE_BUILD=$BUILD
ROUNDS=${ROUNDS:-5}
MSGS=${MSGS:-1000}
SESSIONS=${SESSIONS:-16}
. t/lib.sh

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

HARNESS_NO_POLICYD=1
HARNESS_POSTCONF="header_checks = regexp:{ {/^From:/ HOLD} }"
pids=()
cleanup_bench() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap 'cleanup_bench; harness_stop' EXIT
harness_start "sluice-b-alias-$$" || { echo "harness did not start"; exit 1; }
B=$T_STATE/bench
mkdir -p -m 0755 "$B"
out=$("$BUILD/sluice-keygen" -d example.test -s rsa1 -a rsa -o "$B" 2>/dev/null)
zone_add "txt-record=rsa1._domainkey.example.test,$(printf '%s\n' "$out" | grep -o '"[^"]*"' | paste -sd, -)"
chown sluice "$B"/example.test.*.key

dkim="dkim = { keys = ( { domain = \"example.test\"; selector = \"rsa1\"; key = \"$B/example.test.rsa1.key\"; } ); };"
{ harness_default_config; echo "$dkim"; } >"$T_CONF"
{ harness_default_config | sed "s|milter.sock|milter-empty.sock|; s|milter.pid|milter-empty.pid|; s|redis = { |redis = { prefix = \"empty:\"; |"
  echo "$dkim"; } >"$B/empty.conf"
chmod 644 "$B/empty.conf"

echo "== loading 10,000 aliases, 10,000 forbidden mailboxes, 10,000 CIDRs =="
"$T_PY" - <<'PY' | in_ns redis-cli -s "$T_REDIS_SOCK" --pipe
import sys
def cmd(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
w = sys.stdout.buffer
for i in range(10000):
    w.write(cmd("SADD", "sluice:alias:alias%d@example.test" % i, "user%d@example.test" % i))
w.write(cmd("SADD", "sluice:alias:alias@example.test", "user@example.test"))
for i in range(0, 10000, 1000):
    w.write(cmd("SADD", "sluice:forbid:mailbox", *["bad%d@spam.example" % j for j in range(i, i + 1000)]))
    w.write(cmd("SADD", "sluice:forbid:ip", *["10.%d.%d.0/24" % (j >> 8 & 255, j & 255) for j in range(i, i + 1000)]))
PY
harness_sighup milter
harness_stop_daemon milter
harness_start_daemon milter || { echo "milter did not restart"; exit 1; }
in_ns "$BUILD/sluice-milter" -f -c "$B/empty.conf" >"$B/empty.log" 2>&1 &
pids+=($!)
wait_for 10 test -s "$T_STATE/milter-empty.pid"
milter_log_grep 'lists: loaded (2[0-9]{4}|30[0-9]{3}) entries' 60 || { echo "lists not loaded"; tail "$T_MILTER_LOG"; exit 1; }
milter_log_grep 'lists: loaded [0-9]+ entries' 5
sleep 1
[ -S "$T_STATE/milter-empty.sock" ] || { echo "empty milter missing"; cat "$B/empty.log"; exit 1; }

declare -A MILTER=( [empty]="unix:$T_STATE/milter-empty.sock" [loaded]="unix:$T_MILTER_SOCK" )
declare -A RCPT=( [empty]="user@example.test" [loaded]="alias@example.test" )
declare -A RATES MED CPU CPUMED PID=( [empty]=$(cat "$T_STATE/milter-empty.pid") [loaded]=$(harness_pid milter) )
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
sink_has() { [ "$(ls "$T_SINK_INTERNAL" | wc -l)" -ge "$1" ]; }
cleanup_lines() { grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-F]*: message-id=' "$T_MAILLOG"; }

one_round() {	# CONFIG: prints the rate
	local c=$1 before n t0 t1 signed torcpt c0
	harness_postconf "smtpd_milters = ${MILTER[$c]}"
	sleep 1
	c0=$(cpu_ticks "${PID[$c]}")
	rm -f "$T_SINK_INTERNAL"/*
	before=$(cleanup_lines)
	t0=$(date +%s.%N)
	in_ns smtp-source -s "$SESSIONS" -m "$MSGS" -l 4096 -f a@example.test \
		-t "${RCPT[$c]}" 127.0.0.1:25 >"$B/source.log" 2>&1
	t1=$(date +%s.%N)
	echo "$(( ($(cpu_ticks "${PID[$c]}") - c0) * 1000000 / hz / MSGS ))" >"$B/cpu.$c"
	n=$(($(cleanup_lines) - before))
	in_ns postsuper -c "$T_PF" -H ALL >/dev/null 2>&1
	wait_for 120 sink_has "$MSGS"
	signed=$(grep -l '^DKIM-Signature:' "$T_SINK_INTERNAL"/* 2>/dev/null | wc -l)
	torcpt=$(grep -l '^X-Rcpt-Args: <user@example.test>' "$T_SINK_INTERNAL"/* 2>/dev/null | wc -l)
	if [ "$n" -ne "$MSGS" ] || [ "$signed" -ne "$MSGS" ] || [ "$torcpt" -ne "$MSGS" ]; then
		echo "  $c: FAILED CHECK: $n queued, $signed signed, $torcpt to user@example.test, of $MSGS" >&2
		touch "$B/bad"
	fi
	awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

echo "== Postfix accept rate: smtp-source -s $SESSIONS -m $MSGS -l 4096, $ROUNDS rounds, interleaved =="
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="empty loaded"; else order="loaded empty"; fi
	line="round $r:"
	for c in $order; do
		rate=$(one_round "$c")
		RATES[$c]="${RATES[$c]:-} $rate"
		CPU[$c]="${CPU[$c]:-} $(cat "$B/cpu.$c")"
		line="$line $c=$rate/s ($(cat "$B/cpu.$c") us milter CPU/msg)"
	done
	echo "$line"
done
for c in empty loaded; do
	MED[$c]=$(echo "${RATES[$c]}" | tr ' ' '\n' | grep . | median)
	printf '%-8s median %8s/s   rounds:%s\n' "$c" "${MED[$c]}" "${RATES[$c]}"
	CPUMED[$c]=$(echo "${CPU[$c]}" | tr ' ' '\n' | grep . | median)
	printf '%-8s milter CPU per message: median %s us   rounds:%s\n' "$c" "${CPUMED[$c]}" "${CPU[$c]}"
done
echo "milter CPU/msg loaded / empty = $(ratio "${CPUMED[loaded]}" "${CPUMED[empty]}")"
echo "loaded / empty = $(ratio "${MED[loaded]}" "${MED[empty]}") (target >= 0.9)"
if [ -e "$B/bad" ]; then
	echo "SOME ROUNDS FAILED THEIR CHECKS: the numbers above mean nothing"
	exit 1
fi
echo "checks: every round queued $MSGS, delivered $MSGS signed to user@example.test"
