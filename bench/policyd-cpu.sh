#!/bin/bash
# policyd-cpu.sh - sluice-policyd's own CPU time per greylisting decision,
# two builds side by side in one run (issue 9, "sluice's own cost").
#
#   bash bench/policyd-cpu.sh OLD_BUILD NEW_BUILD     (as root)
#   make bench-policyd-cpu OLD=1fbcdbe                (builds OLD in a worktree)
#
# Starts one Redis (unix socket, no persistence) and, from each build, one
# sluice-policyd with the same configuration (greylisting on, SPF off,
# allow_networks empty: every request is a new triplet, so a decision is
# one Lua call) and its own key prefix. Then ROUNDS interleaved rounds
# (old, new, old, new, ...) of the same load (bench/policy-load from
# NEW_BUILD, CONNS connections, DURATION s; with FLOOR, old, new, floor,
# ...); for each: requests/s, p99, and the daemon's CPU time (utime +
# stime from /proc, warm-up included, also apart) per request, without
# Redis's share. Prints medians and the new/old and floor/old ratios.
# Absolute figures move 2-3x between days on a shared machine; the ratio
# of one run, rounds interleaved, is the figure to quote.
#
# With FLOOR=1 (the default) a third server takes part in every round:
# bench/policy-floor, which has sluice-policyd's shape (4 epoll threads,
# one Redis EVAL per request, a wakeup's requests in one write) and none
# of its work. Its CPU per request is what no server of that shape can go
# below on this machine, printed as a ratio to OLD next to NEW's.
#
# Environment: ROUNDS [5] DURATION [5] WARMUP [1] CONNS [8] KEEP=1 FLOOR [1]
#   NEW_EXTRA   settings added to NEW's policyd group only (e.g. metrics =
#               "inet:127.0.0.1:19187";) to compare two configs of one build
#   SCRAPE      a URL fetched every second during the rounds (a Prometheus)
set -u
OLD=${1:?usage: policyd-cpu.sh OLD_BUILD NEW_BUILD}
NEW=${2:?usage: policyd-cpu.sh OLD_BUILD NEW_BUILD}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-8}
LOAD=$NEW/bench/policy-load
FLOOR_BIN=$NEW/bench/policy-floor
FLOOR=${FLOOR:-1}
WHO="old new"
[ "$FLOOR" = 1 ] && WHO="old new floor"
HZ=$(getconf CLK_TCK)

die() { echo "bench: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root"
for f in "$OLD/sluice-policyd" "$NEW/sluice-policyd" "$LOAD" $([ "$FLOOR" != 1 ] || echo "$FLOOR_BIN"); do
	[ -x "$f" ] || die "$f not found: build it first"
done

STATE=$(mktemp -d /dev/shm/sluice-cpu-bench.XXXXXX) || die "mktemp failed"
chmod 0755 "$STATE"
declare -A PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "${KEEP:-0}" = 1 ] && echo "bench: kept $STATE" >&2 || rm -rf "$STATE"
}
trap cleanup EXIT

REDIS_SOCK=$STATE/redis.sock
redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 777 --save "" \
	--appendonly no --dir "$STATE" --daemonize no --loglevel warning \
	>"$STATE/redis.log" 2>&1 &
PIDS[redis]=$!
for _ in $(seq 50); do
	[ "$(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done

# await NAME: until the server NAME answers on $STATE/NAME.sock (5 s)
await() {
	local name=$1
	for _ in $(seq 50); do
		[ -S "$STATE/$name.sock" ] && return 0
		sleep 0.1
	done
	tail "$STATE/$name.log" >&2
	die "$name did not start"
}

# start NAME BUILD: a daemon of BUILD answering on $STATE/NAME.sock.
start() {
	local name=$1 build=$2 spf= extra=
	grep -aq spf_bypass "$build/sluice-policyd" && spf="spf_bypass = false;"
	grep -aq spf_domain_triplet "$build/sluice-policyd" && spf="$spf spf_domain_triplet = false;"
	[ "$name" = new ] && extra=${NEW_EXTRA:-}
	cat >"$STATE/$name.conf" <<EOF
user = "sluice";
redis = { socket = "$REDIS_SOCK"; prefix = "$name:"; };
domains = { local = [ "example.com" ]; relay = [ ]; };
policyd = {
  listen = "unix:$STATE/$name.sock";
  pid_file = "$STATE/$name.pid";
  fail_open = false; $extra
  greylist = { enabled = true; delay = 3600; allow_networks = [ ]; $spf };
};
EOF
	chmod 0644 "$STATE/$name.conf"
	"$build/sluice-policyd" -f -c "$STATE/$name.conf" >"$STATE/$name.log" 2>&1 &
	PIDS[$name]=$!
	await "$name"
}
start old "$OLD"
start new "$NEW"
if [ "$FLOOR" = 1 ]; then
	# the greylisting script's Redis calls for a new triplet: two GETs, a SET
	"$FLOOR_BIN" -s "$STATE/floor.sock" -r "$REDIS_SOCK" -t 4 \
		-e "redis.call('GET', KEYS[1]) redis.call('GET', KEYS[1] .. 'c') return redis.call('SET', KEYS[1], '1', 'PX', '60000')" \
		>"$STATE/floor.log" 2>&1 &
	PIDS[floor]=$!
	await floor
fi

if [ -n "${SCRAPE:-}" ]; then
	while sleep 1; do curl -s -o /dev/null --max-time 1 "$SCRAPE"; done &
	PIDS[scraper]=$!
fi

# user and system ticks, "U S" (fields 14 and 15 of /proc/PID/stat)
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-6s %-5s %10s %8s %9s %8s %8s\n' round who req/s p99_us cpu/req_us usr_us sys_us
for r in $(seq "$ROUNDS"); do
	for who in $WHO; do
		c0=$(ticks "${PIDS[$who]}")
		out=$("$LOAD" -s "$STATE/$who.sock" -c "$CONNS" -d "$DURATION" -w "$WARMUP" \
			-S "$r" 2>&1 | tail -n 1)
		c1=$(ticks "${PIDS[$who]}")
		n=$(( $(kv "$out" requests) + $(kv "$out" warm) ))
		[ "$(kv "$out" errors)" = 0 ] && [ "$n" -gt 0 ] || die "round $r $who: $out"
		read -r cpu usr sys < <(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$n" 'BEGIN {
			split(a, x, " "); split(b, y, " "); u = (y[1] - x[1]) / hz * 1e6 / n; s = (y[2] - x[2]) / hz * 1e6 / n
			printf "%.1f %.1f %.1f\n", u + s, u, s }')
		printf '%-6s %-5s %10s %8s %9s %8s %8s\n' "$r" "$who" "$(kv "$out" rps)" "$(kv "$out" p99_us)" "$cpu" "$usr" "$sys"
		echo "$who $(kv "$out" rps) $(kv "$out" p99_us) $cpu $usr $sys" >>"$STATE/results"
	done
done
echo
declare -A M=()
for who in $WHO; do
	for col in 2 3 4 5 6; do
		M[$who,$col]=$(awk -v w="$who" -v c="$col" '$1 == w { print $c }' "$STATE/results" | median)
	done
	printf '%-5s median: %s req/s, p99 %s us, %s us CPU per decision (user %s, kernel %s)\n' "$who" \
		"${M[$who,2]}" "${M[$who,3]}" "${M[$who,4]}" "${M[$who,5]}" "${M[$who,6]}"
done
awk -v a="${M[new,4]}" -v b="${M[old,4]}" -v x="${M[new,2]}" -v y="${M[old,2]}" 'BEGIN {
	printf "new/old CPU per decision: %.2fx (target <= 0.5x); new/old req/s: %.2fx\n", a / b, x / y }'
awk -v a="${M[new,5]}" -v b="${M[old,5]}" -v c="${M[new,6]}" -v d="${M[old,6]}" 'BEGIN {
	printf "new/old user space: %.2fx; new/old kernel: %.2fx\n", (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
if [ "$FLOOR" = 1 ]; then
	awk -v f="${M[floor,4]}" -v b="${M[old,4]}" -v a="${M[new,4]}" 'BEGIN {
		printf "floor/old CPU per request: %.2fx; new above the floor: %.1f us, the target leaves %.1f us\n",
			f / b, a - f, b / 2 - f }'
fi
