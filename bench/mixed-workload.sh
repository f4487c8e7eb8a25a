#!/bin/bash
# mixed-workload.sh - sluice-policyd with greylisting alone against the
# mixed workload of issue 9 (greylisting + two rate limits + the other
# checks of bench/mixed.d/ that this build accepts, with the 100,000-entry
# lists of bench/lists-resp.awk loaded), the same load in the same run;
# then a burst of 100,000 distinct rate-limit subjects and Redis's memory
# before and after their TTL (bench/README).
#
#   bash bench/mixed-workload.sh [BUILD_DIR]     (as root; or make bench-mixed)
#
# Two sluice-policyd daemons on one Redis: "greylist" (redis.prefix
# "bgl:", greylisting only, no lists under its prefix) and "mixed"
# (prefix "sluice:", greylisting plus every snippet of SNIPPETS that
# `sluice-policyd -t` accepts, the lists loaded); and the two floor
# servers of FLOOR below. Interleaved rounds of bench/policy-load (each
# server in turn, then again; round r gives every server seed r), the
# medians and the ratios. Target: mixed >= 0.8x the
# requests/s of greylisting alone, mixed p99 <= 2 ms.
#
# Environment: ROUNDS [5] DURATION [10] WARMUP [1] CONNS [8] POOL [1000000]
#   SNIPPETS [bench/mixed.d]: files of text for the policyd group, one
#   feature each; a file this build refuses is left out and named.
#   BURST [100000] distinct subjects of the memory phase (0: skip it)
#   KEEP=1 keeps the state directory.
#   FLOOR [1]: two more servers take part in every round, bench/policy-floor
#   with the Redis calls of each config (greylisting's two GETs and a SET of
#   a new key; those and two GCRA steps, a GET and a SET on two more new
#   keys) and no work of their own: their ratio is what an implementation
#   of this shape, on this machine and this Redis, can reach at best. Their
#   keys are in Redis database 1, flushed before the memory phase.
# Exit: 0 target met, 1 not met, 2 invalid run.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${SLUICE_BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-8}
POOL=${POOL:-1000000}
SNIPPETS=${SNIPPETS:-$REPO/bench/mixed.d}
BURST=${BURST:-100000}
KEEP=${KEEP:-0}
LOAD=$BUILD/bench/policy-load
POLICYD=$BUILD/sluice-policyd
FLOOR_BIN=$BUILD/bench/policy-floor
FLOOR=${FLOOR:-1}
CONFIGS="greylist mixed"
[ "$FLOOR" = 1 ] && CONFIGS="floor-gl floor-mx greylist mixed"
TARGET_RATIO=0.8
TARGET_P99_US=2000

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_load_args
int_ok "$BURST" 0 1000000 || die "BURST must be 0..1000000"
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$POLICYD" ] || die "$POLICYD not found: run make"
[ -x "$LOAD" ] || die "$LOAD not found: run make $BUILD/bench/policy-load"
[ "$FLOOR" != 1 ] || [ -x "$FLOOR_BIN" ] || die "$FLOOR_BIN not found: run make $BUILD/bench/policy-floor"
[ -d "$SNIPPETS" ] || die "SNIPPETS: $SNIPPETS is not a directory"
for c in redis-server redis-cli ip awk; do
	command -v "$c" >/dev/null || die "$c not installed (run tools/deps.sh)"
done

cleanup() { bench_cleanup loadgen greylist mixed floor-gl floor-mx burst redis; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_state sluice-mixed
bench_netns sluice-mixed
bench_redis

# conf NAME PREFIX POLICYD_TEXT: a config for one daemon
conf() {
	cat <<EOF
user = "sluice";
redis = { socket = "$REDIS_SOCK"; timeout_ms = 100; prefix = "$2"; };
domains = { local = [ "example.com" ]; relay = [ ]; };
trusted_networks = [ "127.0.0.1/32", "::1/128" ];
policyd = {
  listen = "unix:$STATE/$1.sock";
  pid_file = "$STATE/$1.pid";
  $3
};
EOF
}
GREYLIST='greylist = { enabled = true; delay = 120; allow_networks = [ ];
    spf_bypass = false; spf_domain_triplet = false; };'

# The snippets this build accepts, one at a time and then together.
ON=()
OFF=()
TEXT=
for f in "$SNIPPETS"/*.conf; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .conf)
	conf try sluice: "$GREYLIST $(cat "$f")" >"$STATE/try.conf"
	if why=$("$POLICYD" -t -c "$STATE/try.conf" 2>&1); then
		ON+=("$name")
		TEXT="$TEXT
  $(cat "$f")"
	else
		OFF+=("$name ($(printf '%s' "$why" | head -n 1 | sed 's/^[^ ]*: //'))")
	fi
done
conf greylist bgl: "$GREYLIST" >"$STATE/greylist.conf"
conf mixed sluice: "$GREYLIST $TEXT" >"$STATE/mixed.conf"
for d in greylist mixed; do
	"$POLICYD" -t -c "$STATE/$d.conf" >"$STATE/out/t-$d" 2>&1 || { cat "$STATE/out/t-$d" >&2; die "$d config refused"; }
	spawn "$d" "$STATE/$d.log" "$POLICYD" -f -c "$STATE/$d.conf"
	wait_ready "$d" 10 test -S "$STATE/$d.sock" || { tail "$STATE/$d.log" >&2; die "$d did not start"; }
done
if [ "$FLOOR" = 1 ]; then
	GL_LUA="redis.call('GET', KEYS[1]) redis.call('GET', KEYS[1] .. 'c')
  redis.call('SET', KEYS[1], '1', 'PX', 120000)"
	RL_LUA="for i = 2, 3 do
    local tat = tonumber(redis.call('GET', KEYS[i]) or '') or 1000
    redis.call('SET', KEYS[i], tat + 60, 'PX', 60000) end"
	spawn floor-gl "$STATE/floor-gl.log" "$FLOOR_BIN" -s "$STATE/floor-gl.sock" -r "$REDIS_SOCK" \
		-n 1 -k 1 -e "$GL_LUA return 1"
	spawn floor-mx "$STATE/floor-mx.log" "$FLOOR_BIN" -s "$STATE/floor-mx.sock" -r "$REDIS_SOCK" \
		-n 1 -k 3 -e "$GL_LUA $RL_LUA return 1"
	for d in floor-gl floor-mx; do
		wait_ready "$d" 10 test -S "$STATE/$d.sock" || { tail "$STATE/$d.log" >&2; die "$d did not start"; }
	done
fi

# The lists: 100,000 CIDRs, 100,000 addresses, 100 regexes, 10,000
# aliases (none matches the load), under the mixed daemon's prefix.
LC_ALL=C awk -v what=lists -v big=0 -v marker=192.0.2.0/24 -f "$REPO/bench/lists-resp.awk" \
	>"$STATE/lists.resp" || die "cannot make the lists"
rcli --pipe <"$STATE/lists.resp" >"$STATE/out/pipe.txt" 2>&1 && grep -q 'errors: 0,' "$STATE/out/pipe.txt" ||
	{ cat "$STATE/out/pipe.txt" >&2; die "loading the lists failed"; }
# The load's recipients (user0..user19999@example.com) are valid
# mailboxes: validation by list then passes them on to greylisting, as
# real mail to real users (else every request ends at 550 5.1.1, cheaply).
LC_ALL=C awk 'BEGIN { for (i = 0; i < 20000; i += 1000) { n = 2 + 1000; s = "*" n "\r\n$4\r\nSADD\r\n$16\r\nsluice:mailboxes\r\n";
	for (j = i; j < i + 1000; j++) { m = "user" j "@example.com"; s = s "$" length(m) "\r\n" m "\r\n" } printf "%s", s } }' \
	>"$STATE/mailboxes.resp"
rcli --pipe <"$STATE/mailboxes.resp" >"$STATE/out/pipe-mb.txt" 2>&1 && grep -q 'errors: 0,' "$STATE/out/pipe-mb.txt" ||
	{ cat "$STATE/out/pipe-mb.txt" >&2; die "loading the mailboxes failed"; }
# until the daemon says it has all of them (a first read may be partial)
n=0
until [ "$(grep -o 'loaded [0-9]* entries' "$STATE/mixed.log" | tail -n 1 | tr -dc 0-9)" -ge 230000 ] 2>/dev/null ||
	[ $n -ge 600 ]; do sleep 0.1; n=$((n + 1)); done
LISTS_LINE=$(grep -E 'lists' "$STATE/mixed.log" | tail -n 1 | sed 's/^[^:]*: //')

echo "sluice-policyd mixed workload: greylisting alone vs greylisting + the checks of $SNIPPETS"
echo "host: $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg); $("$POLICYD" -V 2>&1 | head -n 1)"
PF="permit/forbid: not in this build"
grep -aq permit_forbid "$POLICYD" && PF="permit/forbid: built (on whenever the lists are)"
echo "on in mixed: greylist ${ON[*]}; $PF"
echo "lists loaded (sluice: prefix): $LISTS_LINE"
[ ${#OFF[@]} -eq 0 ] || printf 'left out (this build refuses them): %s\n' "${OFF[@]}"
echo "load: $CONNS connections, ${DURATION} s per run after ${WARMUP} s warm-up, pool $POOL, $ROUNDS rounds"
echo
printf '%-5s %-9s %10s %7s %7s %7s %7s %8s %7s %7s %6s %8s %8s\n' \
	round config req/s p50_us p90_us p99_us max_us defer dunno other errors cpu/req redis/req
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
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
declare -A RES=()
INVALID=
run_one() {
	local r=$1 d=$2 out=$STATE/out/round$1-$2.txt line c0 c1 k
	: >"$STATE/$d.log"
	c0=$(cpu_ticks "${PIDS[$d]}")
	r0=$(cpu_ticks "${PIDS[redis]}")
	rcli CONFIG RESETSTAT >/dev/null
	"${IN_NS[@]}" "$LOAD" -s "$STATE/$d.sock" -c "$CONNS" -d "$DURATION" -w "$WARMUP" \
		-p "$POOL" -S "$r" -t 5000 >"$out" 2>&1
	c1=$(cpu_ticks "${PIDS[$d]}")
	r1=$(cpu_ticks "${PIDS[redis]}")
	rcli INFO commandstats >"$STATE/out/cmdstats-$r-$d.txt"
	line=$(grep '^rps=' "$out" | tail -n 1)
	[ -n "$line" ] || { INVALID="$INVALID; round $r $d: no result"; return; }
	for k in rps p50_us p90_us p99_us max_us defer dunno other errors requests warm; do
		RES[$r,$d,$k]=$(kv "$line" "$k")
	done
	[ "${RES[$r,$d,errors]}" = 0 ] || INVALID="$INVALID; round $r $d: ${RES[$r,$d,errors]} errors"
	RES[$r,$d,cpu]=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="${RES[$r,$d,requests]}" \
		-v w="${RES[$r,$d,warm]:-0}" 'BEGIN { printf "%.1f", c / hz * 1e6 / (n + w) }')
	RES[$r,$d,rcpu]=$(awk -v c=$((r1 - r0)) -v hz="$HZ" -v n="${RES[$r,$d,requests]}" \
		-v w="${RES[$r,$d,warm]:-0}" 'BEGIN { printf "%.1f", c / hz * 1e6 / (n + w) }')
	printf '%-5s %-9s %10s %7s %7s %7s %7s %8s %7s %7s %6s %8s %8s\n' "$r" "$d" \
		"${RES[$r,$d,rps]}" "${RES[$r,$d,p50_us]}" "${RES[$r,$d,p90_us]}" "${RES[$r,$d,p99_us]}" \
		"${RES[$r,$d,max_us]}" "${RES[$r,$d,defer]}" "${RES[$r,$d,dunno]}" "${RES[$r,$d,other]}" \
		"${RES[$r,$d,errors]}" "${RES[$r,$d,cpu]}" "${RES[$r,$d,rcpu]}"
	alive "$d" || INVALID="$INVALID; $d died"
}
for r in $(seq 1 "$ROUNDS"); do
	for d in $CONFIGS; do run_one "$r" "$d"; done
done
# greylisting's verdict names the log line, so the rate limits show in Redis
[[ " ${ON[*]} " != *" ratelimit "* ]] || [ -n "$(rcli --scan --pattern 'sluice:rl:*' | head -n 1)" ] ||
	INVALID="$INVALID; the mixed daemon wrote no sluice:rl: key"

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
		else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A MED=()
echo
printf '%-15s %10s %7s %7s %7s %8s %9s\n' median req/s p50_us p90_us p99_us cpu/req redis/req
for d in $CONFIGS; do
	for k in rps p50_us p90_us p99_us cpu rcpu; do
		vals=()
		for r in $(seq 1 "$ROUNDS"); do [ -n "${RES[$r,$d,$k]:-}" ] && vals+=("${RES[$r,$d,$k]}"); done
		MED[$d,$k]=$(median "${vals[@]+"${vals[@]}"}")
	done
	printf '%-15s %10s %7s %7s %7s %8s %9s\n' "$d" "${MED[$d,rps]}" "${MED[$d,p50_us]}" \
		"${MED[$d,p90_us]}" "${MED[$d,p99_us]}" "${MED[$d,cpu]}" "${MED[$d,rcpu]}"
done
echo "(cpu/req: the policy server's own CPU time per request, redis/req: redis-server's, in us)"
ratio=$(awk -v m="${MED[mixed,rps]}" -v g="${MED[greylist,rps]}" 'BEGIN { printf "%.2f", (g > 0 ? m / g : 0) }')
echo "mixed/greylist requests/s: ${MED[mixed,rps]} / ${MED[greylist,rps]} = ${ratio}x (target >= ${TARGET_RATIO}x)"
echo "mixed p99: ${MED[mixed,p99_us]} us (target <= $TARGET_P99_US us)"
if [ "$FLOOR" = 1 ]; then
	awk -v m="${MED[floor-mx,rps]}" -v g="${MED[floor-gl,rps]}" 'BEGIN {
		printf "floor-mx/floor-gl requests/s: %s / %s = %.2fx (the best this machine allows)\n", m, g, (g > 0 ? m / g : 0) }'
fi

# What Redis did per request in the last round, by command (INFO
# commandstats, reset before each run): where redis/req goes.
echo "redis per request, round $ROUNDS (calls, usec inside Redis):"
for d in $CONFIGS; do
	awk -F'[:=,]' -v n=$((RES[$ROUNDS,$d,requests] + ${RES[$ROUNDS,$d,warm]:-0})) -v d="$d" '
		/^cmdstat_/ { sub(/^cmdstat_/, "", $1); if ($1 == "info" || $1 == "config") next
			out = out sprintf(" %s %.2f/%.1fus", $1, $3 / n, $5 / n) }
		END { printf "  %-9s%s\n", d, out }' "$STATE/out/cmdstats-$ROUNDS-$d.txt"
done

# ---- a burst of distinct subjects, and Redis memory after their TTL ----
if [ "$BURST" -gt 0 ]; then
	conf burst brl: 'greylist = { enabled = false; };
  ratelimit = ( { name = "burst"; subject = "client"; count = "recipients"; limit = 1; window = "30s"; } );' \
		>"$STATE/burst.conf"
	spawn burst "$STATE/burst.log" "$POLICYD" -f -c "$STATE/burst.conf"
	wait_ready burst 10 test -S "$STATE/burst.sock" || die "burst daemon did not start"
	mem() { rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
	keys() { rcli --scan --pattern 'brl:rl:*' | wc -l; }
	rcli -n 1 FLUSHDB >/dev/null	# the floors' keys (FLOOR), not this phase's
	sleep 5	# the rounds' short-lived rate-limit keys run out first
	m0=$(mem)
	# clients are drawn from the pool (one per 4 triplets): a pool 40x the
	# burst makes nearly every request a new client
	"${IN_NS[@]}" "$LOAD" -s "$STATE/burst.sock" -c "$CONNS" -n "$BURST" -w 0 \
		-p $((BURST * 40)) -S 99 -t 5000 >"$STATE/out/burst.txt" 2>&1
	m1=$(mem)
	k1=$(keys)
	sleep 31
	m2=$(mem)
	k2=$(keys)
	echo
	echo "burst: $BURST requests ($(grep '^rps=' "$STATE/out/burst.txt" | sed 's/ p90.*//')), rule limit 1 per 30 s per client IP: one event keeps its key 30 s"
	echo "  rate-limit keys: $k1 right after, $k2 after 31 s (TTL of one event: 30 s)"
	echo "  Redis used_memory: $m0 before, $m1 right after (+$(((m1 - m0) / 1024)) KiB, ~$(((m1 - m0) / (k1 > 0 ? k1 : 1))) B/key), $m2 after 31 s"
	[ "$k2" -eq 0 ] || INVALID="$INVALID; $k2 rate-limit keys outlived their TTL"
fi

echo
if [ -n "$INVALID" ]; then echo "RESULT: INVALID${INVALID/#;/:}"; exit 2; fi
ok_rps=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "yes" : "no" }')
ok_p99=$(awk -v p="${MED[mixed,p99_us]}" -v t="$TARGET_P99_US" 'BEGIN { print (p <= t) ? "yes" : "no" }')
echo "target: mixed >= ${TARGET_RATIO}x greylisting alone: $ok_rps; mixed p99 <= $TARGET_P99_US us: $ok_p99"
[ "$ok_rps" = yes ] && [ "$ok_p99" = yes ] && { echo "RESULT: TARGET MET"; exit 0; }
echo "RESULT: TARGET NOT MET"
exit 1
