#!/bin/bash
# greylist-vs-postgrey.sh - sluice-policyd greylisting against postgrey, the
# same load on the same machine in the same run (bench/README).
#
#   bash bench/greylist-vs-postgrey.sh [BUILD_DIR]      (as root; or make bench-greylist)
#
# Starts, under a root-owned temporary directory and in a network namespace
# of its own (loopback only), a Redis without persistence, sluice-policyd
# (greylisting on, allow_networks empty, SPF off) and postgrey, each on a
# unix socket. Then runs interleaved rounds of build/bench/policy-load with
# CONNS connections (postgrey, sluice, postgrey, sluice, ...; round r gives
# both servers the same seed, so the same requests in the same order),
# prints every round, the medians, the ratios sluice/postgrey and whether
# the target holds: sluice >= 10x postgrey's requests/s and sluice p99 <= 2 ms.
# Everything it started is stopped by PID on exit.
#
# Environment (defaults in brackets):
#   ROUNDS [5]  DURATION [10] (seconds per run)  WARMUP [1]  CONNS [8]
#   POOL [1000000] (distinct triplets)
#   POSTGREY_DB [disk]         disk: under /var/tmp, as Debian runs it (postgrey
#                              fdatasyncs every decision); tmpfs: its BerkeleyDB
#                              in RAM, like Redis without persistence
#   POSTGREY_WHITELISTS [debian] debian: /etc/postgrey/whitelist_* as packaged;
#                              none: no whitelists, as sluice's bench config has
#                              no allowlists (the same work)
#   KEEP=1                     keep the state directory (configs, logs, outputs)
#
# Exit status: 0 target met, 1 target not met, 2 invalid run (setup failure,
# load errors, a daemon died, or sluice-policyd did not greylist).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${SLUICE_BUILD:-build}}
case $BUILD in
/*) ;;
*) BUILD=$REPO/$BUILD ;;
esac
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-8}
POOL=${POOL:-1000000}
POSTGREY_DB=${POSTGREY_DB:-disk}
POSTGREY_WHITELISTS=${POSTGREY_WHITELISTS:-debian}
KEEP=${KEEP:-0}
TARGET_RATIO=10
TARGET_P99_US=2000
DELAY=120

LOAD=$BUILD/bench/policy-load
POLICYD=$BUILD/sluice-policyd

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_load_args
case $POSTGREY_DB in tmpfs | disk) ;; *) die "POSTGREY_DB is tmpfs or disk" ;; esac
case $POSTGREY_WHITELISTS in none | debian) ;; *) die "POSTGREY_WHITELISTS is none or debian" ;; esac

[ "$(id -u)" -eq 0 ] || die "run as root (daemons bind sockets and change user)"
[ -x "$POLICYD" ] || die "$POLICYD not found: run make"
[ -x "$LOAD" ] || die "$LOAD not found: run make $BUILD/bench/policy-load"
for c in redis-server redis-cli postgrey ip awk; do
	command -v "$c" >/dev/null || die "$c not installed (run tools/deps.sh)"
done
getent passwd sluice >/dev/null || die "user sluice missing (run tools/deps.sh)"
getent passwd postgrey >/dev/null || die "user postgrey missing (apt-get install postgrey)"

# ------------------------------------------------------------- cleanup ----

cleanup() {
	bench_cleanup loadgen postgrey policyd redis
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- setup ----

# State in RAM when possible (lib.sh): neither daemon should wait for
# the disk because of its log.
bench_state sluice-bench

if [ "$POSTGREY_DB" = disk ]; then
	PGDB_PARENT=$(mktemp -d /var/tmp/sluice-bench-pg.XXXXXX) || die "mktemp in /var/tmp failed"
	KEEP_DIRS+=("$PGDB_PARENT")
	chmod 0755 "$PGDB_PARENT"
	PGDB=$PGDB_PARENT/db
	[ "$(bench_fstype /var/tmp)" = tmpfs ] && echo "bench: note: /var/tmp is tmpfs here: POSTGREY_DB=disk is not on disk" >&2
else
	PGDB=$STATE/postgrey-db
	[ "$(bench_fstype "$STATE")" = tmpfs ] || echo "bench: note: no tmpfs found: postgrey's DB is on disk" >&2
fi
mkdir -m 0755 "$PGDB" && chown postgrey:postgrey "$PGDB" || die "cannot make $PGDB"

# A network namespace with only loopback: nothing here can reach another
# host, even by accident (a DNS lookup goes to 127.0.0.1, where nothing listens).
bench_netns sluice-bench

# Redis: unix socket only, no persistence.
bench_redis

# sluice-policyd. SPF is off: postgrey has none, and a benchmark must not
# depend on DNS. Settings this build does not know are left out (the
# binary holds the name of every setting it accepts).
has_setting() { grep -aq "$1" "$POLICYD"; }
SPF_LINES=
has_setting spf_bypass && SPF_LINES="spf_bypass = false;"
has_setting spf_domain_triplet && SPF_LINES="$SPF_LINES spf_domain_triplet = false;"
SLUICE_SOCK=$STATE/policyd.sock
cat >"$STATE/sluice.conf" <<EOF
# sluice-policyd configuration of bench/greylist-vs-postgrey.sh
user = "sluice";
redis = { socket = "$REDIS_SOCK"; timeout_ms = 100; };
domains = { local = [ "example.com" ]; relay = [ ]; };
trusted_networks = [ "127.0.0.1/32", "::1/128" ];
policyd = {
  listen = "unix:$SLUICE_SOCK";
  pid_file = "$STATE/policyd.pid";
  greylist = {
    enabled = true;
    delay = $DELAY;
    allow_networks = [ ];   # else the benchmark's clients could be allowlisted
    $SPF_LINES
  };
};
EOF
chmod 0644 "$STATE/sluice.conf"
"$POLICYD" -t -c "$STATE/sluice.conf" >"$STATE/sluice-t.out" 2>&1 ||
	{ cat "$STATE/sluice-t.out" >&2; die "sluice-policyd refuses the bench config"; }
spawn policyd "$STATE/policyd.log" "$POLICYD" -f -c "$STATE/sluice.conf"
wait_ready policyd 10 test -S "$SLUICE_SOCK" || fail_start sluice-policyd "$STATE/policyd.log"

# postgrey, in the foreground (its log then goes to stderr, like sluice's
# with -f; --daemonize would send it to syslog, which this host may lack).
# --lookup-by-host: triplets per client IP, as sluice's ipv4_prefix = 32.
# Delay, retry window (2 d) and client auto-whitelist (5) match sluice's.
PG_SOCK=$STATE/postgrey.sock
PG_ARGS=(--unix="$PG_SOCK" --dbdir="$PGDB" --delay="$DELAY" --lookup-by-host
	--hostname=bench.invalid --user=postgrey --group=postgrey)
[ "$POSTGREY_WHITELISTS" = none ] &&
	PG_ARGS+=(--whitelist-clients=/dev/null --whitelist-recipients=/dev/null)
spawn postgrey "$STATE/postgrey.log" postgrey "${PG_ARGS[@]}"
wait_ready postgrey 20 test -S "$PG_SOCK" || fail_start postgrey "$STATE/postgrey.log"

# One request each, answered: the whole path works (seed 0 is not a round's).
probe() {
	"${IN_NS[@]}" "$LOAD" -s "$1" -c 1 -n 1 -w 0 -S 0 -t 5000 >"$STATE/out/probe-$2" 2>&1
}
wait_ready policyd 10 probe "$SLUICE_SOCK" sluice ||
	{ cat "$STATE/out/probe-sluice" >&2; fail_start sluice-policyd "$STATE/policyd.log"; }
wait_ready postgrey 10 probe "$PG_SOCK" postgrey ||
	{ cat "$STATE/out/probe-postgrey" >&2; fail_start postgrey "$STATE/postgrey.log"; }
GREYLISTING=no
grep -q ' greylist=' "$STATE/policyd.log" && GREYLISTING=yes

# ---------------------------------------------------------------- runs ----

echo "sluice greylisting benchmark: sluice-policyd vs postgrey"
echo "host: $(nproc) CPU(s), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sluice-policyd: $("$POLICYD" -V 2>&1 | head -n 1) ($POLICYD), workers: config default," \
	"Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on a unix socket, no persistence"
echo "  greylist: delay $DELAY s, allow_networks empty, ${SPF_LINES:-no SPF settings in this build}"
echo "  greylisting active: $GREYLISTING (greylist= fields in its log)"
echo "postgrey: $(postgrey --version 2>&1 | head -n 1), ${PG_ARGS[*]//$STATE/STATE}"
echo "  DB: $POSTGREY_DB ($(bench_fstype "$PGDB")), whitelists: $POSTGREY_WHITELISTS"
echo "load: $CONNS connections on unix sockets, ${DURATION} s per run after ${WARMUP} s warm-up," \
	"pool $POOL triplets, $ROUNDS rounds (round r: seed r for both)"
echo

echo "cpu/req: CPU time of the server side (sluice: sluice-policyd + redis-server) per"
echo "request answered, warm-up included, in us; client%: the load generator's share of"
echo "the $(nproc) CPU(s) during the run (it competes with the server for them)."
echo
printf '%-5s %-9s %10s %7s %7s %7s %7s %8s %7s %7s %6s %8s %7s\n' \
	round server req/s p50_us p90_us p99_us max_us defer dunno prepend errors cpu/req client%
INVALID=
declare -A RES=()
HZ=$(getconf CLK_TCK)

# cpu_ticks PID...: user+system CPU ticks of the processes (all threads);
# the command name in /proc/PID/stat may hold spaces, so cut after ')'.
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

# kv LINE KEY: the value of KEY in a key=value line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

run_one() {
	local r=$1 srv=$2 sock out line rc other pids c0 c1 d0 d1 t0 t1
	case $srv in
	postgrey) sock=$PG_SOCK pids="${PIDS[postgrey]}" ;;
	sluice) sock=$SLUICE_SOCK pids="${PIDS[policyd]} ${PIDS[redis]}" ;;
	esac
	out=$STATE/out/round$r-$srv.txt
	# The logs are emptied before each run: a busy run writes hundreds of MB.
	: >"$STATE/policyd.log"
	: >"$STATE/postgrey.log"
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	d0=$(cpu_ticks "${pids%% *}")
	t0=$(date +%s.%N)
	"${IN_NS[@]}" "$LOAD" -s "$sock" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -p "$POOL" \
		-S "$r" -t 5000 >"$out" 2>&1 &
	PIDS[loadgen]=$!
	wait "${PIDS[loadgen]}"
	rc=$?
	t1=$(date +%s.%N)
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	d1=$(cpu_ticks "${pids%% *}")
	unset 'PIDS[loadgen]'
	line=$(grep '^rps=' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		INVALID="$INVALID; round $r $srv: policy-load gave no result (status $rc)"
		sed 's/^/    /' "$out"
		return
	fi
	for k in rps p50_us p90_us p99_us max_us defer dunno prepend other errors requests \
		warm client_cpu_s; do
		RES[$r,$srv,$k]=$(kv "$line" "$k")
	done
	RES[$r,$srv,cpu_us]=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="${RES[$r,$srv,requests]}" \
		-v w="${RES[$r,$srv,warm]:-0}" 'BEGIN { printf "%.1f", (n + w > 0 ? c / hz * 1e6 / (n + w) : 0) }')
	RES[$r,$srv,daemon_cpu_us]=$(awk -v c=$((d1 - d0)) -v hz="$HZ" -v n="${RES[$r,$srv,requests]}" \
		-v w="${RES[$r,$srv,warm]:-0}" 'BEGIN { printf "%.1f", (n + w > 0 ? c / hz * 1e6 / (n + w) : 0) }')
	RES[$r,$srv,client_pct]=$(awk -v c="${RES[$r,$srv,client_cpu_s]:-0}" -v t0="$t0" -v t1="$t1" \
		-v n="$(nproc)" 'BEGIN { printf "%.0f", (t1 > t0 ? 100 * c / (t1 - t0) / n : 0) }')
	other=${RES[$r,$srv,other]}
	printf '%-5s %-9s %10s %7s %7s %7s %7s %8s %7s %7s %6s %8s %7s%s\n' "$r" "$srv" \
		"${RES[$r,$srv,rps]}" "${RES[$r,$srv,p50_us]}" "${RES[$r,$srv,p90_us]}" \
		"${RES[$r,$srv,p99_us]}" "${RES[$r,$srv,max_us]}" "${RES[$r,$srv,defer]}" \
		"${RES[$r,$srv,dunno]}" "${RES[$r,$srv,prepend]}" "${RES[$r,$srv,errors]}" \
		"${RES[$r,$srv,cpu_us]}" "${RES[$r,$srv,client_pct]}" \
		"$([ "$other" != 0 ] && echo "  other actions: $other")"
	if [ "$rc" -ne 0 ]; then
		INVALID="$INVALID; round $r $srv: $(grep -m1 -E '^(RESULT|first error)' "$out")"
	fi
	if [ "$srv" = sluice ] && grep -q ' greylist=' "$STATE/policyd.log"; then
		GREYLISTING=yes
	fi
	if [ "${RES[$r,$srv,defer]}" = 0 ] && { [ "$srv" = postgrey ] || [ "$GREYLISTING" = yes ]; }; then
		INVALID="$INVALID; round $r $srv: no request was greylisted"
	fi
	alive policyd || INVALID="$INVALID; sluice-policyd died (log: $STATE/policyd.log)"
	alive postgrey || INVALID="$INVALID; postgrey died (log: $STATE/postgrey.log)"
	alive redis || INVALID="$INVALID; redis-server died"
}

for r in $(seq 1 "$ROUNDS"); do
	for srv in postgrey sluice; do
		alive policyd && alive postgrey && alive redis || break 2
		run_one "$r" "$srv"
	done
done

# ------------------------------------------------------------- summary ----

# median VALUES...: the middle value (mean of the two middle ones if even)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A MED=()
echo
printf '%-15s %10s %7s %7s %7s %7s %8s\n' median req/s p50_us p90_us p99_us max_us cpu/req
for srv in postgrey sluice; do
	for k in rps p50_us p90_us p99_us max_us cpu_us daemon_cpu_us; do
		vals=()
		for r in $(seq 1 "$ROUNDS"); do
			[ -n "${RES[$r,$srv,$k]:-}" ] && vals+=("${RES[$r,$srv,$k]}")
		done
		MED[$srv,$k]=$(median "${vals[@]+"${vals[@]}"}")
	done
	printf '%-15s %10s %7s %7s %7s %7s %8s\n' "$srv" "${MED[$srv,rps]}" "${MED[$srv,p50_us]}" \
		"${MED[$srv,p90_us]}" "${MED[$srv,p99_us]}" "${MED[$srv,max_us]}" "${MED[$srv,cpu_us]}"
done

[ "${MED[sluice,cpu_us]}" = n/a ] || echo "sluice cpu/req: sluice-policyd ${MED[sluice,daemon_cpu_us]} us," \
	"redis-server $(awk -v a="${MED[sluice,cpu_us]}" -v b="${MED[sluice,daemon_cpu_us]}" \
		'BEGIN { printf "%.1f", a - b }') us (difference of the medians)"
echo
if [ "${MED[postgrey,rps]}" = n/a ] || [ "${MED[sluice,rps]}" = n/a ]; then
	INVALID="$INVALID; no complete result for one of the servers"
	ratio_rps=n/a
	ratio_p99=n/a
else
	ratio_rps=$(awk -v s="${MED[sluice,rps]}" -v p="${MED[postgrey,rps]}" \
		'BEGIN { printf "%.2f", (p > 0 ? s / p : 0) }')
	ratio_p99=$(awk -v s="${MED[sluice,p99_us]}" -v p="${MED[postgrey,p99_us]}" \
		'BEGIN { printf "%.3f", (p > 0 ? s / p : 0) }')
	echo "sluice/postgrey requests/s: ${MED[sluice,rps]} / ${MED[postgrey,rps]} = ${ratio_rps}x" \
		"(target >= ${TARGET_RATIO}x)"
	echo "p99: sluice ${MED[sluice,p99_us]} us, postgrey ${MED[postgrey,p99_us]} us," \
		"sluice/postgrey = $ratio_p99 (target: sluice p99 <= $TARGET_P99_US us)"
fi
[ "$GREYLISTING" = yes ] ||
	INVALID="$INVALID; sluice-policyd did not greylist (no greylist= in its log): this build only answers, the comparison is not meaningful"

if [ -n "$INVALID" ]; then
	echo "RESULT: INVALID${INVALID/#;/:}"
	if [ "$KEEP" = 1 ]; then
		echo "bench: outputs and logs in $STATE" >&2
	else
		echo "bench: run again with KEEP=1 to keep the outputs and logs" >&2
	fi
	exit 2
fi
rps_ok=$(awk -v r="$ratio_rps" -v t="$TARGET_RATIO" 'BEGIN { print ((r >= t) ? "yes" : "no") }')
p99_ok=$(awk -v p="${MED[sluice,p99_us]}" -v t="$TARGET_P99_US" 'BEGIN { print ((p <= t) ? "yes" : "no") }')
echo "target: requests/s >= ${TARGET_RATIO}x postgrey: $rps_ok; sluice p99 <= $TARGET_P99_US us: $p99_ok"
if [ "$rps_ok" = yes ] && [ "$p99_ok" = yes ]; then
	echo "RESULT: TARGET MET"
	exit 0
fi
echo "RESULT: TARGET NOT MET"
exit 1
