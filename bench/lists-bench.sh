#!/bin/bash
# lists-bench.sh - sluice-policyd with the admin's Redis lists at scale
# (bench/README, issue 8 "Speed").
#
#   bash bench/lists-bench.sh [BUILD_DIR]        (as root; or make bench-lists)
#
# Starts, under a root-owned temporary directory and in a network namespace
# of its own (loopback only), a Redis on a unix socket without persistence
# and sluice-policyd (greylisting on, allow_networks empty, SPF off, every
# other setting at its default). Then, in one run:
#
#  1. the same policy load (build/bench/policy-load, CONNS connections,
#     clients that match no list) in interleaved rounds with the lists empty
#     and loaded (100,000 CIDRs in sluice:permit:ip, 100,000 addresses in
#     sluice:forbid:mailbox, 100 regexes in sluice:permit:mailbox, 10,000
#     aliases sluice:alias:<address>): requests/s, p99, sluice-policyd's
#     CPU per request and RSS; medians per state, ratio loaded/empty;
#  2. Redis CPU at idle with the lists loaded (ticks over IDLE seconds);
#  3. propagation: a second sluice-policyd on the same Redis; after a
#     `redis-cli SADD sluice:permit:ip CLIENT`, the time until each daemon
#     exempts CLIENT from greylisting (build/bench/policy-probe), with the
#     lists loaded and with them empty; median over TRIES;
#  4. 1,000,000 CIDRs written into sluice:permit:ip while the load runs:
#     the time until the daemon applies them, and the decisions meanwhile.
#
# "Loaded" is seen from outside: the last member written is 192.0.2.0/24 in
# sluice:permit:ip, and the lists count as loaded when the daemon exempts a
# probe from 192.0.2.1 on every connection of the probe (bench/policy-probe.c
# says why several). The daemon's own log lines about the lists (`lists:
# ...`) are shown when it writes them.
#
# Targets: loaded >= 0.9x empty requests/s, p99 <= 2 ms with the lists
# loaded, Redis idle CPU near 0, propagation <= 1 s on both daemons.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5] (seconds per run)  WARMUP [1]  CONNS [8]
#   POOL [1000000] (distinct triplets)  IDLE [10] (seconds, step 2)
#   TRIES [5] (step 3)  LOAD_WAIT [30] (seconds to wait for a load)
#   SETTLE [10] (seconds to wait for Redis to be quiet after a change)
#   BIG [1000000] (CIDRs of step 4)  SLICE [2] (seconds per load slice, step 4)
#   KEEP=1  keep the state directory (configs, logs, outputs)
#
# Exit status: 0 targets met, 1 a target not met (lists that never load
# included), 2 invalid run (setup failure, load errors, a daemon died).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${SLUICE_BUILD:-build}}
case $BUILD in
/*) ;;
*) BUILD=$REPO/$BUILD ;;
esac
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-8}
POOL=${POOL:-1000000}
IDLE=${IDLE:-10}
TRIES=${TRIES:-5}
LOAD_WAIT=${LOAD_WAIT:-30}
SETTLE=${SETTLE:-10}
BIG=${BIG:-1000000}
SLICE=${SLICE:-2}
KEEP=${KEEP:-0}
TARGET_RATIO=0.9
TARGET_P99_US=2000
TARGET_PROP_MS=1000
PROP_WAIT_MS=5000	# a change not seen within this counts as "not propagated"
DELAY=3600		# longer than the run: a triplet seen twice is still deferred
MARKER=192.0.2.0/24	# written last into sluice:permit:ip
MARKER_IP=192.0.2.1

LOAD=$BUILD/bench/policy-load
PROBE=$BUILD/bench/policy-probe
POLICYD=$BUILD/sluice-policyd

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_load_args
int_ok "$IDLE" 1 600 || die "IDLE must be 1..600 seconds"
int_ok "$TRIES" 1 100 || die "TRIES must be 1..100"
int_ok "$LOAD_WAIT" 1 600 || die "LOAD_WAIT must be 1..600 seconds"
int_ok "$SETTLE" 0 600 || die "SETTLE must be 0..600 seconds"
int_ok "$BIG" 1000 16000000 || die "BIG must be 1000..16000000"
int_ok "$SLICE" 1 60 || die "SLICE must be 1..60 seconds"

[ "$(id -u)" -eq 0 ] || die "run as root (daemons bind sockets and change user)"
[ -x "$POLICYD" ] || die "$POLICYD not found: run make"
for p in "$LOAD" "$PROBE"; do
	[ -x "$p" ] || die "$p not found: run make $p"
done
for c in redis-server redis-cli ip awk; do
	command -v "$c" >/dev/null || die "$c not installed (run tools/deps.sh)"
done
getent passwd sluice >/dev/null || die "user sluice missing (run tools/deps.sh)"

# ------------------------------------------------------------- cleanup ----

cleanup() {
	bench_cleanup loadgen probe pipe policyd_b policyd redis
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- setup ----

# State in RAM when possible (lib.sh): every decision is logged, and the
# lists' RESP files are tens of MB.
bench_state sluice-lists-bench

bench_netns sluice-lbench

bench_redis

has_setting() { grep -aq "$1" "$POLICYD"; }
SPF_LINES=
has_setting spf_bypass && SPF_LINES="spf_bypass = false;"
has_setting spf_domain_triplet && SPF_LINES="$SPF_LINES spf_domain_triplet = false;"

# write_conf NAME: the config of daemon NAME (a or b); Redis settings at
# their defaults (timeouts included), as a new user would run it, but for
# fail_open = false: a daemon failing open answers DUNNO on a Redis error,
# the same answer as an exempt client, and the benchmark tells the two
# apart by the answer (a Redis error is then "451 4.3.0 ...", counted in
# the load's "other" column, and logged greylist=error either way).
write_conf() {
	cat >"$STATE/sluice-$1.conf" <<EOF
# sluice-policyd configuration of bench/lists-bench.sh (daemon $1)
user = "sluice";
redis = { socket = "$REDIS_SOCK"; };
domains = { local = [ "example.com" ]; relay = [ ]; };
trusted_networks = [ "127.0.0.1/32", "::1/128" ];
policyd = {
  listen = "unix:$STATE/policyd-$1.sock";
  pid_file = "$STATE/policyd-$1.pid";
  fail_open = false;        # a Redis error must not look like an exemption
  greylist = {
    enabled = true;
    delay = $DELAY;
    allow_networks = [ ];   # else the benchmark's clients could be allowlisted
    $SPF_LINES
  };
};
EOF
	chmod 0644 "$STATE/sluice-$1.conf"
	"$POLICYD" -t -c "$STATE/sluice-$1.conf" >"$STATE/sluice-$1-t.out" 2>&1 ||
		{ cat "$STATE/sluice-$1-t.out" >&2; die "sluice-policyd refuses the bench config"; }
}

probe_any() { "${IN_NS[@]}" "$PROBE" -s "$1" -c 198.18.0.1 -e defer -k 1 -C 1 -W 2000 -x up; }

# start_daemon NAME PIDNAME: sluice-policyd with config NAME, answering.
start_daemon() {
	local sock=$STATE/policyd-$1.sock
	write_conf "$1"
	spawn "$2" "$STATE/policyd-$1.log" "$POLICYD" -f -c "$STATE/sluice-$1.conf"
	wait_ready "$2" 10 test -S "$sock" || fail_start sluice-policyd "$STATE/policyd-$1.log"
	wait_ready "$2" 10 probe_any "$sock" || fail_start sluice-policyd "$STATE/policyd-$1.log"
}

SOCK_A=$STATE/policyd-a.sock
SOCK_B=$STATE/policyd-b.sock
LOG_A=$STATE/policyd-a.log
LOG_B=$STATE/policyd-b.log
start_daemon a policyd

# ------------------------------------------------------------ the data ----

# RESP for redis-cli --pipe, made once (bench/lists-resp.awk says what).
gen_resp() {
	LC_ALL=C awk -v what="$1" -v big="$BIG" -v marker="$MARKER" -f "$REPO/bench/lists-resp.awk"
}
gen_resp lists >"$STATE/lists.resp" && gen_resp unload >"$STATE/unload.resp" &&
	gen_resp big >"$STATE/big.resp" || die "cannot write the RESP files"

# pipe FILE OUT: FILE into Redis with redis-cli --pipe; fails unless every
# reply came back without error.
pipe() {
	rcli --pipe <"$1" >"$2" 2>&1 && grep -q 'errors: 0,' "$2"
}

# probe SOCK EXPECT WAIT_MS T0 TAG: policy-probe's key=value line
probe() {
	"${IN_NS[@]}" "$PROBE" -s "$1" -c "$MARKER_IP" -e "$2" -W "$3" -T "$4" -x "$5" 2>&1 | tail -n 1
}

kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'; }

# The daemon's own lines about its lists since byte OFFSET of LOG: how
# many, and the last two (the last reload is the one that counts).
list_lines() {
	local f=$STATE/out/list-lines.txt n
	tail -c +"$(($2 + 1))" "$1" 2>/dev/null | grep -E 'lists[: ]' | grep -v ' greylist=' |
		sed 's/^[^:]*\[[0-9]*\]: //' >"$f"
	n=$(wc -l <"$f")
	[ "$n" -gt 0 ] || return 0
	echo "$n line(s) about the lists, the last:"
	tail -n 2 "$f"
}
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

EVER_LOADED=no
LOADED_NOW=no

# load_lists TAG: the 100,000-entry lists into Redis; waits (LOAD_WAIT s the
# first time and while they have ever loaded, 5 s after they never did)
# until daemon A applies them. Sets LOAD_RESULT ("N ms" or "not loaded").
load_lists() {
	local t0 off wait line
	off=$(fsize "$LOG_A")
	t0=$(now_ns)
	pipe "$STATE/lists.resp" "$STATE/out/pipe-$1.txt" ||
		{ cat "$STATE/out/pipe-$1.txt" >&2; die "loading the lists into Redis failed"; }
	PIPE_MS=$(ms_since "$t0")
	wait=$LOAD_WAIT
	[ "$EVER_LOADED" = no ] && [ -n "${LOAD_TRIED:-}" ] && wait=5
	LOAD_TRIED=yes
	line=$(probe "$SOCK_A" exempt $((wait * 1000)) "$t0" "$1")
	if [ "$(kv "$line" result)" = ok ]; then
		LOAD_RESULT="$(kv "$line" ms | cut -d. -f1) ms"
		EVER_LOADED=yes
		LOADED_NOW=yes
	else
		LOAD_RESULT="not loaded after $wait s"
		LOADED_NOW=no
	fi
	LOAD_LOG=$(list_lines "$LOG_A" "$off")
}

# unload_lists TAG SOCK...: the lists out of Redis, until each daemon defers
# the marker's client again.
unload_lists() {
	local tag=$1 s line
	shift
	pipe "$STATE/unload.resp" "$STATE/out/unpipe-$tag.txt" ||
		{ cat "$STATE/out/unpipe-$tag.txt" >&2; die "deleting the lists failed"; }
	for s in "$@"; do
		line=$(probe "$s" defer $((LOAD_WAIT * 1000)) 0 "un$tag")
		[ "$(kv "$line" result)" = ok ] ||
			INVALID="$INVALID; a daemon still exempts $MARKER_IP after the lists were deleted ($line)"
	done
	LOADED_NOW=no
}

HZ=$(getconf CLK_TCK)
cpu_ticks() {
	local pid line sum=0
	for pid in "$@"; do
		line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		line=${line##*) }
		# shellcheck disable=SC2086
		set -- $line
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
# settle: after a change of the lists, wait (up to SETTLE s) until
# redis-server is quiet (at most 2 ticks in each of two half-seconds in a
# row), so a run measures the state, not the daemon still digesting the
# change. Sets SETTLED ("quiet after T s" or "Redis busy P% after SETTLE s").
settle() {
	local n=0 quiet=0 a b
	SETTLED=
	LAST_BUSY=0
	[ "$SETTLE" -gt 0 ] || return 0
	a=$(cpu_ticks "${PIDS[redis]}")
	while [ "$n" -lt $((SETTLE * 2)) ]; do
		sleep 0.5
		n=$((n + 1))
		b=$(cpu_ticks "${PIDS[redis]}")
		if [ $((b - a)) -le 2 ]; then
			quiet=$((quiet + 1))
			[ "$quiet" -ge 2 ] && break
		else
			quiet=0
		fi
		LAST_BUSY=$(awk -v t=$((b - a)) -v hz="$HZ" 'BEGIN { printf "%.0f", 200 * t / hz }')
		a=$b
	done
	if [ "$quiet" -ge 2 ]; then
		SETTLED="Redis quiet after $(awk -v n="$n" 'BEGIN { printf "%.1f", n / 2 }') s"
	else
		SETTLED="Redis still busy (${LAST_BUSY}% of a CPU) after $SETTLE s"
	fi
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

INVALID=
MISSED=

echo "sluice lists benchmark: the policy load with the Redis lists empty and loaded"
echo "host: $(nproc) CPU(s), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sluice-policyd: $("$POLICYD" -V 2>&1 | head -n 1) ($POLICYD), every setting not named at its default;" \
	"Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on a unix socket, no persistence"
echo "  greylist: delay $DELAY s, allow_networks empty, ${SPF_LINES:-no SPF settings in this build}"
echo "lists loaded: 100000 CIDRs in sluice:permit:ip (+ $MARKER, last), 100000 addresses in"
echo "  sluice:forbid:mailbox, 100 regexes in sluice:permit:mailbox, 10000 sluice:alias:* sets;"
echo "  RESP via redis-cli --pipe ($(($(fsize "$STATE/lists.resp") / 1024)) KiB); none matches the load"
echo "load: $CONNS connections, ${DURATION} s per run after ${WARMUP} s warm-up, pool $POOL," \
	"$ROUNDS rounds of (empty, loaded); run k uses seed k"
echo

# --------------------------------------------------- 1. empty vs loaded ----

echo "== 1. policy load, lists empty and loaded"
echo "cpu/req: sluice-policyd's CPU time per request (warm-up included), us; redis/req: redis-server's."
echo "other: answers neither DEFER nor DUNNO (451: greylisting failed on a Redis error; with the"
echo "default fail_open = true the mail would pass ungreylisted); gl_err: decisions logged greylist=error."
echo
printf '%-5s %-7s %9s %7s %7s %7s %8s %7s %6s %6s %6s %7s %9s %7s  %s\n' round lists req/s p50_us \
	p99_us max_us defer dunno other errors gl_err cpu/req redis/req rss_mb load
declare -A RES=()
RUN=0

run_one() {
	local r=$1 st=$2 out line rc c0 c1 q0 q1 n k
	RUN=$((RUN + 1))
	out=$STATE/out/round$r-$st.txt
	: >"$LOG_A"	# a busy run writes hundreds of MB of log
	c0=$(cpu_ticks "${PIDS[policyd]}")
	q0=$(cpu_ticks "${PIDS[redis]}")
	"${IN_NS[@]}" "$LOAD" -s "$SOCK_A" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -p "$POOL" \
		-S "$RUN" -t 5000 >"$out" 2>&1 &
	PIDS[loadgen]=$!
	wait "${PIDS[loadgen]}"
	rc=$?
	unset 'PIDS[loadgen]'
	c1=$(cpu_ticks "${PIDS[policyd]}")
	q1=$(cpu_ticks "${PIDS[redis]}")
	line=$(grep '^rps=' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		INVALID="$INVALID; round $r $st: policy-load gave no result (status $rc)"
		sed 's/^/    /' "$out"
		return
	fi
	for k in rps p50_us p99_us max_us defer dunno other errors requests warm; do
		RES[$r,$st,$k]=$(kv "$line" "$k")
	done
	n=$((RES[$r,$st,requests] + RES[$r,$st,warm]))
	RES[$r,$st,cpu]=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$n" \
		'BEGIN { printf "%.1f", (n > 0 ? c / hz * 1e6 / n : 0) }')
	RES[$r,$st,rcpu]=$(awk -v c=$((q1 - q0)) -v hz="$HZ" -v n="$n" \
		'BEGIN { printf "%.1f", (n > 0 ? c / hz * 1e6 / n : 0) }')
	RES[$r,$st,rss]=$(awk -v k="$(rss_kb "${PIDS[policyd]}")" 'BEGIN { printf "%.1f", k / 1024 }')
	RES[$r,$st,glerr]=$(grep -c ' greylist=error' "$LOG_A")
	printf '%-5s %-7s %9s %7s %7s %7s %8s %7s %6s %6s %6s %7s %9s %7s  %s\n' "$r" "$st" \
		"${RES[$r,$st,rps]}" "${RES[$r,$st,p50_us]}" "${RES[$r,$st,p99_us]}" \
		"${RES[$r,$st,max_us]}" "${RES[$r,$st,defer]}" "${RES[$r,$st,dunno]}" "${RES[$r,$st,other]}" \
		"${RES[$r,$st,errors]}" "${RES[$r,$st,glerr]}" "${RES[$r,$st,cpu]}" \
		"${RES[$r,$st,rcpu]}" "${RES[$r,$st,rss]}" "${3:-}"
	[ "$rc" -eq 0 ] || INVALID="$INVALID; round $r $st: $(grep -m1 -E '^(RESULT|first error)' "$out")"
	[ "${RES[$r,$st,defer]}" != 0 ] || INVALID="$INVALID; round $r $st: no request was greylisted"
	alive policyd || INVALID="$INVALID; sluice-policyd died (log: $LOG_A)"
	alive redis || INVALID="$INVALID; redis-server died"
}

LOADS=()
for r in $(seq 1 "$ROUNDS"); do
	alive policyd && alive redis || break
	SETTLED=
	[ "$r" -gt 1 ] && unload_lists "r$r" "$SOCK_A" && settle
	run_one "$r" empty "$SETTLED"
	alive policyd && alive redis || break
	load_lists "r$r"
	LOADS+=("$LOAD_RESULT")
	settle
	run_one "$r" loaded "$LOAD_RESULT (redis-cli --pipe: $PIPE_MS ms); $SETTLED"
	[ -n "$LOAD_LOG" ] && printf '%s\n' "$LOAD_LOG" | sed 's/^/      daemon log: /'
done

declare -A MED=()
echo
printf '%-15s %9s %7s %7s %7s %7s %9s %7s\n' median req/s p50_us p99_us max_us cpu/req redis/req rss_mb
for st in empty loaded; do
	for k in rps p50_us p99_us max_us cpu rcpu rss glerr other; do
		vals=()
		for r in $(seq 1 "$ROUNDS"); do
			[ -n "${RES[$r,$st,$k]:-}" ] && vals+=("${RES[$r,$st,$k]}")
		done
		MED[$st,$k]=$(median "${vals[@]+"${vals[@]}"}")
	done
	printf '%-15s %9s %7s %7s %7s %7s %9s %7s\n' "$st" "${MED[$st,rps]}" "${MED[$st,p50_us]}" \
		"${MED[$st,p99_us]}" "${MED[$st,max_us]}" "${MED[$st,cpu]}" "${MED[$st,rcpu]}" "${MED[$st,rss]}"
done
RATIO=n/a
if [ "${MED[empty,rps]}" != n/a ] && [ "${MED[loaded,rps]}" != n/a ]; then
	RATIO=$(awk -v l="${MED[loaded,rps]}" -v e="${MED[empty,rps]}" \
		'BEGIN { printf "%.2f", (e > 0 ? l / e : 0) }')
	echo "loaded/empty requests/s: ${MED[loaded,rps]} / ${MED[empty,rps]} = ${RATIO}x (target >= ${TARGET_RATIO}x)"
else
	INVALID="$INVALID; no complete result for one of the states"
fi
echo "lists applied by the daemon (time from the start of redis-cli --pipe): ${LOADS[*]+${LOADS[*]/%/;}}"

# ---------------------------------------------------------- 2. idle CPU ----

echo
echo "== 2. redis-server CPU at idle, lists in Redis (daemon applied them: $LOADED_NOW), one sluice-policyd"
sleep 1
q0=$(cpu_ticks "${PIDS[redis]}")
c0=$(cpu_ticks "${PIDS[policyd]}")
sleep "$IDLE"
q1=$(cpu_ticks "${PIDS[redis]}")
c1=$(cpu_ticks "${PIDS[policyd]}")
IDLE_TICKS=$((q1 - q0))
IDLE_PCT=$(awk -v t="$IDLE_TICKS" -v hz="$HZ" -v s="$IDLE" 'BEGIN { printf "%.1f", 100 * t / hz / s }')
echo "redis-server: $IDLE_TICKS ticks in $IDLE s ($HZ ticks/s) = $IDLE_PCT% of one CPU;" \
	"sluice-policyd: $((c1 - c0)) ticks (target: near 0)"

# ------------------------------------------------------- 3. propagation ----

echo
echo "== 3. propagation: redis-cli SADD sluice:permit:ip CLIENT, until each daemon exempts CLIENT"
echo "(time from just before redis-cli starts; policy-probe: 8 connections per daemon, 1 ms apart,"
echo " 16 exempt answers in a row; not seen within $PROP_WAIT_MS ms = not propagated)"
start_daemon b policyd_b
# B must have the lists before the tries: wait as for A.
if [ "$LOADED_NOW" = yes ]; then
	w=$LOAD_WAIT
else
	w=5
fi
line=$(probe "$SOCK_B" exempt $((w * 1000)) 0 bload)
B_LOADED=no
[ "$(kv "$line" result)" = ok ] && B_LOADED=yes
echo "second daemon started; it applied the loaded lists: $B_LOADED (waited up to $w s)"

declare -A PROP=()
# prop_tries STATE BASE: TRIES clients 203.0.113.BASE+t
prop_tries() {
	local st=$1 base=$2 t ip la lb t0 d pa pb note
	printf '%-7s %-5s %-16s %12s %12s  %s\n' lists try client daemon_a_ms daemon_b_ms note
	for t in $(seq 1 "$TRIES"); do
		ip=203.0.113.$((base + t))
		note=
		# Before the SADD the client is greylisted; a daemon that cannot
		# say so within 2 s (only Redis errors) is noted, not fatal: that
		# is the trouble this benchmark is about.
		for d in a b; do
			"${IN_NS[@]}" "$PROBE" -s "$([ $d = a ] && echo "$SOCK_A" || echo "$SOCK_B")" -c "$ip" \
				-e defer -k 1 -C 1 -W 2000 -x before >"$STATE/out/prop-$st-$t-$d-before.txt" 2>&1 ||
				note="$note daemon $d: no DEFER before the SADD ($(kv "$(tail -n 1 \
					"$STATE/out/prop-$st-$t-$d-before.txt")" last));"
		done
		t0=$(now_ns)
		rcli SADD sluice:permit:ip "$ip" >/dev/null || die "redis-cli SADD failed"
		"${IN_NS[@]}" "$PROBE" -s "$SOCK_A" -c "$ip" -e exempt -W "$PROP_WAIT_MS" -T "$t0" -x pa \
			>"$STATE/out/prop-$st-$t-a.txt" 2>&1 &
		pa=$!
		"${IN_NS[@]}" "$PROBE" -s "$SOCK_B" -c "$ip" -e exempt -W "$PROP_WAIT_MS" -T "$t0" -x pb \
			>"$STATE/out/prop-$st-$t-b.txt" 2>&1 &
		pb=$!
		wait "$pa" "$pb"
		la=$(tail -n 1 "$STATE/out/prop-$st-$t-a.txt")
		lb=$(tail -n 1 "$STATE/out/prop-$st-$t-b.txt")
		for d in a b; do
			line=$([ $d = a ] && echo "$la" || echo "$lb")
			if [ "$(kv "$line" result)" = ok ]; then
				PROP[$st,$d,$t]=$(kv "$line" ms)
			else
				PROP[$st,$d,$t]=inf
			fi
		done
		printf '%-7s %-5s %-16s %12s %12s  %s\n' "$st" "$t" "$ip" \
			"${PROP[$st,a,$t]/inf/not seen}" "${PROP[$st,b,$t]/inf/not seen}" "$note"
	done
}

# median_inf VALUES...: the middle value, "inf" sorting last; with an even
# count the upper of the two middle ones (the pessimistic one).
median_inf() {
	printf '%s\n' "$@" | sed 's/^inf$/9e99/' | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else { m = v[int(NR / 2) + 1];
		      print (m == "9e99" ? "inf" : m) } }'
}

PROP_STATES=()
[ "$LOADED_NOW" = yes ] || [ "$B_LOADED" = yes ] || echo "(the loaded lists are in Redis but not applied by the daemons)"
prop_tries loaded 0
PROP_STATES+=(loaded)
unload_lists prop "$SOCK_A" "$SOCK_B"
settle
echo "(lists deleted; $SETTLED)"
prop_tries empty 100
PROP_STATES+=(empty)
declare -A PMED=()
for st in "${PROP_STATES[@]}"; do
	for d in a b; do
		vals=()
		for t in $(seq 1 "$TRIES"); do vals+=("${PROP[$st,$d,$t]}"); done
		PMED[$st,$d]=$(median_inf "${vals[@]}")
	done
	echo "median, lists $st: daemon a ${PMED[$st,a]/inf/not propagated} ms," \
		"daemon b ${PMED[$st,b]/inf/not propagated} ms (target <= $TARGET_PROP_MS ms)"
done
alive policyd_b || INVALID="$INVALID; the second sluice-policyd died (log: $LOG_B)"
stop_pid "${PIDS[policyd_b]}"
unset 'PIDS[policyd_b]'

# ------------------------------------------------ 4. 1,000,000 CIDRs ----

echo
echo "== 4. $BIG CIDRs written into sluice:permit:ip (redis-cli --pipe, $(($(fsize "$STATE/big.resp") / 1048576)) MiB) while the load runs"
echo "(load in slices of $SLICE s, $CONNS connections; the pipe starts with slice 2; applied = the daemon"
echo " exempts $MARKER_IP, written last; waited up to $LOAD_WAIT s)"
rcli UNLINK sluice:permit:ip >/dev/null
: >"$LOG_A"
printf '%-6s %-12s %9s %7s %7s %8s %7s %6s %6s %6s  %s\n' slice t_s req/s p50_us p99_us max_us defer \
	other errors gl_err phase
BIG_RESULT="not loaded after $LOAD_WAIT s"
BIG_MS=
slice=0
t_begin=$(now_ns)
big_t0=
declare -a DURING_RPS=() DURING_P99=()
DURING_ERR=0
DURING_GL=0
DURING_REQ=0
while :; do
	slice=$((slice + 1))
	off=$(fsize "$LOG_A")
	s0=$(ms_since "$t_begin")
	out=$STATE/out/big-slice$slice.txt
	"${IN_NS[@]}" "$LOAD" -s "$SOCK_A" -c "$CONNS" -d "$SLICE" -w 0 -p "$POOL" \
		-S $((1000 + slice)) -t 5000 >"$out" 2>&1 &
	PIDS[loadgen]=$!
	if [ "$slice" = 2 ]; then
		sleep 0.2
		big_t0=$(now_ns)
		(pipe "$STATE/big.resp" "$STATE/out/pipe-big.txt") &
		PIDS[pipe]=$!
		(probe "$SOCK_A" exempt $((LOAD_WAIT * 1000)) "$big_t0" big >"$STATE/out/probe-big.txt") &
		PIDS[probe]=$!
	fi
	wait "${PIDS[loadgen]}"
	unset 'PIDS[loadgen]'
	s1=$(ms_since "$t_begin")
	line=$(grep '^rps=' "$out" | tail -n 1)
	gl=$(tail -c +"$((off + 1))" "$LOG_A" | grep -c ' greylist=error')
	phase=before
	if [ -n "$big_t0" ]; then
		if [ -n "$BIG_MS" ]; then
			phase=after
		elif alive probe; then
			phase=loading
		else
			wait "${PIDS[probe]}"
			unset 'PIDS[probe]'
			pl=$(cat "$STATE/out/probe-big.txt")
			if [ "$(kv "$pl" result)" = ok ]; then
				BIG_MS=$(kv "$pl" ms | cut -d. -f1)
				BIG_RESULT="$BIG_MS ms"
			fi
			phase="loading (ended: $BIG_RESULT)"
			[ -n "$BIG_MS" ] || BIG_MS=none
		fi
	fi
	if [ -z "$line" ]; then
		INVALID="$INVALID; step 4 slice $slice: policy-load gave no result"
	else
		printf '%-6s %-12s %9s %7s %7s %8s %7s %6s %6s %6s  %s\n' "$slice" \
			"$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f-%.1f", a / 1000, b / 1000 }')" \
			"$(kv "$line" rps)" "$(kv "$line" p50_us)" "$(kv "$line" p99_us)" "$(kv "$line" max_us)" \
			"$(kv "$line" defer)" "$(kv "$line" other)" "$(kv "$line" errors)" "$gl" "$phase"
		if [ "${phase%% *}" = loading ]; then
			DURING_RPS+=("$(kv "$line" rps)")
			DURING_P99+=("$(kv "$line" p99_us)")
			DURING_ERR=$((DURING_ERR + $(kv "$line" errors) + $(kv "$line" other)))
			DURING_GL=$((DURING_GL + gl))
			DURING_REQ=$((DURING_REQ + $(kv "$line" requests)))
		fi
	fi
	alive policyd || { INVALID="$INVALID; sluice-policyd died in step 4 (log: $LOG_A)"; break; }
	[ "$phase" = after ] && break
	[ "$BIG_MS" = none ] && break
done
if [ -n "${PIDS[pipe]:-}" ]; then
	wait "${PIDS[pipe]}" || INVALID="$INVALID; writing the $BIG CIDRs into Redis failed"
	unset 'PIDS[pipe]'
fi
P99_MAX=$(printf '%s\n' "${DURING_P99[@]+"${DURING_P99[@]}"}" | sort -g | tail -n 1)
echo "applied after: $BIG_RESULT; while loading: req/s median $(median "${DURING_RPS[@]+"${DURING_RPS[@]}"}")," \
	"worst slice p99 ${P99_MAX:-n/a} us, load errors + other answers $DURING_ERR of $DURING_REQ requests" \
	"($(awk -v e="$DURING_ERR" -v n="$DURING_REQ" 'BEGIN { printf "%.0f", (n > 0 ? 100 * e / n : 0) }')%)," \
	"greylist=error $DURING_GL"
BIG_LOG=$(list_lines "$LOG_A" 0)
[ -n "$BIG_LOG" ] && printf '%s\n' "$BIG_LOG" | sed 's/^/      daemon log: /'
: >"$LOG_A"

# ------------------------------------------------------------- summary ----

echo
echo "== summary"
yes_no() { awk "BEGIN { print (($1) ? \"yes\" : \"no\") }"; }
prop_worst=$(median_inf "${PMED[loaded,a]}" "${PMED[loaded,b]}" inf)	# the larger of the two
ok_ratio=no ok_p99=no ok_idle=no ok_prop=no ok_big=no
[ "$RATIO" != n/a ] && ok_ratio=$(yes_no "$RATIO >= $TARGET_RATIO")
[ "${MED[loaded,p99_us]}" != n/a ] && ok_p99=$(yes_no "${MED[loaded,p99_us]} <= $TARGET_P99_US")
ok_idle=$(yes_no "$IDLE_TICKS <= $IDLE * $HZ / 100")	# at most 1% of a CPU
[ "$prop_worst" != inf ] && ok_prop=$(yes_no "$prop_worst <= $TARGET_PROP_MS")
[ -n "$BIG_MS" ] && [ "$BIG_MS" != none ] && [ "$DURING_ERR" = 0 ] && [ "$DURING_GL" = 0 ] && ok_big=yes
[ "$EVER_LOADED" = yes ] || ok_ratio="no (the lists never loaded)"
printf '%-44s %-36s %-10s %s\n' measure value target met
printf '%-44s %-36s %-10s %s\n' "req/s, lists empty (median)" "${MED[empty,rps]}" "" ""
printf '%-44s %-36s %-10s %s\n' "req/s, lists loaded (median)" "${MED[loaded,rps]}" "" ""
printf '%-44s %-36s %-10s %s\n' "loaded/empty" "${RATIO}x" ">= ${TARGET_RATIO}x" "$ok_ratio"
printf '%-44s %-36s %-10s %s\n' "p99 empty / loaded (us)" "${MED[empty,p99_us]} / ${MED[loaded,p99_us]}" \
	"<= $TARGET_P99_US" "$ok_p99"
printf '%-44s %-36s %-10s %s\n' "greylist=error per run empty / loaded" "${MED[empty,glerr]} / ${MED[loaded,glerr]}" "0" ""
printf '%-44s %-36s %-10s %s\n' "451 answers per run empty / loaded" "${MED[empty,other]} / ${MED[loaded,other]}" "0" ""
printf '%-44s %-36s %-10s %s\n' "sluice-policyd cpu/req empty / loaded (us)" "${MED[empty,cpu]} / ${MED[loaded,cpu]}" "" ""
printf '%-44s %-36s %-10s %s\n' "sluice-policyd RSS empty / loaded (MB)" "${MED[empty,rss]} / ${MED[loaded,rss]}" "<= 24" ""
printf '%-44s %-36s %-10s %s\n' "100k lists applied after" "${LOADS[0]:-n/a}" "" ""
printf '%-44s %-36s %-10s %s\n' "redis-server idle CPU ($IDLE s, lists loaded)" "$IDLE_TICKS ticks ($IDLE_PCT%)" \
	"near 0" "$ok_idle"
printf '%-44s %-36s %-10s %s\n' "propagation a / b, lists loaded (ms)" \
	"${PMED[loaded,a]/inf/never} / ${PMED[loaded,b]/inf/never}" "<= $TARGET_PROP_MS" "$ok_prop"
printf '%-44s %-36s %-10s %s\n' "propagation a / b, lists empty (ms)" \
	"${PMED[empty,a]/inf/never} / ${PMED[empty,b]/inf/never}" "<= $TARGET_PROP_MS" ""
printf '%-44s %-36s %-10s %s\n' "$BIG CIDRs applied after" "$BIG_RESULT" "" ""
printf '%-44s %-36s %-10s %s\n' "  while loading: median req/s, errors" \
	"$(median "${DURING_RPS[@]+"${DURING_RPS[@]}"}") req/s, $DURING_ERR err+451, $DURING_GL gl_err" "0 errors" "$ok_big"

if [ -n "$INVALID" ]; then
	echo "RESULT: INVALID${INVALID/#;/:}"
	[ "$KEEP" = 1 ] || echo "bench: run again with KEEP=1 to keep the outputs and logs" >&2
	exit 2
fi
for v in "$ok_ratio" "$ok_p99" "$ok_idle" "$ok_prop" "$ok_big"; do
	[ "$v" = yes ] || MISSED=yes
done
if [ -z "$MISSED" ]; then
	echo "RESULT: TARGETS MET"
	exit 0
fi
echo "RESULT: TARGETS NOT MET"
exit 1
