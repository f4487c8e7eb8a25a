# shellcheck shell=bash
# bench/lib.sh - what the benchmarks that start their own daemons share
# (greylist-vs-postgrey.sh, lists-bench.sh, mixed-workload.sh). Sourced,
# never run, after the caller's settings (KEEP among them).
#
#   die MSG...             echo and exit 2, the benchmarks' "cannot run"
#   num_ok X, int_ok X MIN MAX   argument checks
#   bench_load_args        checks ROUNDS, CONNS, POOL, DURATION, WARMUP,
#                          the policy-load settings they all take
#   PIDS[NAME]             the daemons started, by name
#   bench_state NAME       STATE: a new directory in RAM (/run, else
#                          /dev/shm: a busy run's logs are large and no
#                          daemon should wait for a disk because of its
#                          log), with redis/ and out/ in it
#   bench_netns NAME       a network namespace of its own, lo up, its own
#                          resolv.conf and hosts: IN_NS runs a command in
#                          it; when ip netns add fails, NS and IN_NS are
#                          empty and everything runs here (every socket
#                          of the benchmarks is a unix socket anyway)
#   spawn NAME LOG CMD...  CMD in the namespace, in the background, its
#                          PID in PIDS[NAME] (ip netns exec execs the
#                          command: $! is the daemon itself)
#   alive NAME, wait_ready NAME SECONDS CMD...   poll CMD while NAME lives
#   fail_start WHAT LOG    its log's last lines, exit 2
#   bench_redis            redis-server on REDIS_SOCK ($STATE/redis.sock),
#                          no persistence, and rcli (redis-cli on it)
#   stop_pid PID           TERM, 5 s, KILL
#   bench_cleanup NAME...  the daemons in that order, the namespace, and
#                          STATE with the directories in KEEP_DIRS (all
#                          kept when KEEP=1); for trap ... EXIT
#
# Why one file: every benchmark must stop what it started, whatever
# killed it, and start its Redis the same way; three copies of that had
# started to differ.

STATE=
NS=
IN_NS=()
KEEP_DIRS=()
declare -A PIDS=()

die() {
	echo "bench: $*" >&2
	exit 2
}

num_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
int_ok() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

bench_load_args() {
	int_ok "$ROUNDS" 1 50 || die "ROUNDS must be 1..50"
	int_ok "$CONNS" 1 1024 || die "CONNS must be 1..1024"
	int_ok "$POOL" 1 50000000 || die "POOL must be 1..50000000"
	num_ok "$DURATION" && awk -v d="$DURATION" 'BEGIN { exit !(d >= 0.1 && d <= 600) }' ||
		die "DURATION must be 0.1..600 seconds"
	num_ok "$WARMUP" && awk -v d="$WARMUP" 'BEGIN { exit !(d <= 60) }' ||
		die "WARMUP must be 0..60 seconds"
}

stop_pid() {
	local pid=$1 n=0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		sleep 0.1
	fi
	wait "$pid" 2>/dev/null
}

bench_cleanup() {
	local n d
	trap - EXIT INT TERM
	for n in "$@"; do
		[ -n "${PIDS[$n]:-}" ] && stop_pid "${PIDS[$n]}"
	done
	if [ -n "$NS" ]; then
		ip netns del "$NS" 2>/dev/null
		rm -rf "/etc/netns/$NS"
	fi
	[ -n "$STATE" ] || return 0
	if [ "${KEEP:-0}" = 1 ]; then
		echo "bench: kept $STATE${KEEP_DIRS[*]:+ and ${KEEP_DIRS[*]}}" >&2
		return 0
	fi
	rm -rf "$STATE"
	for d in "${KEEP_DIRS[@]}"; do rm -rf "$d"; done
}

bench_fstype() { stat -f -c %T "$1" 2>/dev/null; }

bench_state() {
	local parent=/run
	[ "$(bench_fstype /run)" = tmpfs ] ||
		{ [ "$(bench_fstype /dev/shm)" = tmpfs ] && parent=/dev/shm; }
	umask 022
	STATE=$(mktemp -d "$parent/$1.XXXXXX") || die "mktemp in $parent failed"
	chmod 0755 "$STATE"
	mkdir -m 0755 "$STATE/redis" "$STATE/out"
}

bench_netns() {
	NS=$1-$$
	if ip netns add "$NS" 2>/dev/null; then
		ip -n "$NS" link set lo up || die "ip -n $NS link set lo up failed"
		mkdir -p "/etc/netns/$NS"
		echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"/etc/netns/$NS/hosts"
		IN_NS=(ip netns exec "$NS")
	else
		NS=
		echo "bench: note: no network namespace (ip netns add failed); every socket is a unix socket anyway" >&2
	fi
}

spawn() {
	local name=$1 log=$2
	shift 2
	(exec "${IN_NS[@]}" "$@" </dev/null >>"$log" 2>&1) &
	PIDS[$name]=$!
}

alive() { [ -n "${PIDS[$1]:-}" ] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

wait_ready() {
	local name=$1 n=$(($2 * 10))
	shift 2
	while [ $n -gt 0 ]; do
		alive "$name" || return 1
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

fail_start() {
	echo "bench: $1 did not start; its log ($2):" >&2
	tail -n 20 "$2" >&2
	exit 2
}

rcli() { redis-cli -s "$REDIS_SOCK" "$@"; }
redis_ping() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }

bench_redis() {
	REDIS_SOCK=$STATE/redis.sock
	spawn redis "$STATE/redis.log" redis-server --port 0 --unixsocket "$REDIS_SOCK" \
		--unixsocketperm 777 --save "" --appendonly no --dir "$STATE/redis" \
		--daemonize no --protected-mode no --loglevel warning
	wait_ready redis 10 redis_ping || fail_start redis-server "$STATE/redis.log"
}
