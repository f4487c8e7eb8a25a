# t/lib.sh - hermetic integration test harness for sluice (bash, source it).
#
# One harness = one network namespace with its own DNS (dnsmasq serving the
# test zone t/zone.conf), Redis, two smtp-sink servers (127.0.0.1:2526 the
# internal mail server, 127.0.0.1:2527 "the internet"), a private Postfix on
# 127.0.0.1:25 and both sluice daemons. Everything lives under the root-owned
# state directory /run/sluice-t.NAME and is stopped by PID.
#
#   . "$(dirname "$0")/../lib.sh"
#   trap harness_stop EXIT
#   harness_start "sluice-t-$$" || bail_out "harness did not start"
#   out=$(send_mail --local-interface 127.0.0.9 --from a@sender.test --to user@example.test)
#   assert_match "$out" '250 2\.0\.0 Ok: queued' "message accepted"
#   done_testing
#
# Hooks a test may set BEFORE harness_start:
#   harness_config         function: prints the whole sluice.conf (default:
#                          harness_default_config)
#   harness_config_extra   function: its output is appended to sluice.conf
#   HARNESS_POLICYD_EXTRA  text inserted inside the policyd = { } group
#   HARNESS_MILTER_EXTRA   text inserted inside the milter = { } group
#   HARNESS_REDIS_EXTRA    text inserted inside the redis = { } group
#   HARNESS_POSTCONF       newline-separated "key = value" main.cf settings,
#                          applied with postconf -e after the defaults
#   HARNESS_MASTER_CF_EXTRA  lines appended to master.cf
#   HARNESS_NO_POLICYD=1   do not start sluice-policyd nor ask it from Postfix
#   HARNESS_NO_MILTER=1    do not start sluice-milter nor use it in Postfix
#   HARNESS_POLICYD_WRAP   command words that run sluice-policyd (word-split;
#                          each must exec the next, e.g. "prlimit --nofile=128:128")
#   HARNESS_MILTER_WRAP    the same for sluice-milter (e.g. "valgrind --error-exitcode=99")
#   HARNESS_REDIS_ARGS     extra redis-server arguments (a string, word-split)
# Environment:
#   SLUICE_BUILD   build directory with the daemons (default: build, relative
#                  to the repository root)
#   SLUICE_ASAN=1  sanitizer reports go to STATEDIR/asan; any report fails the test
#   SLUICE_T_KEEP=1  keep the state directory (logs) after the test
#   T_WAIT         default bound, in seconds, of the wait helpers (10)
#
# Variables set by harness_start: HARNESS_NAME T_STATE T_PF (Postfix config
# dir) T_CONF T_MAILLOG T_SINK_INTERNAL T_SINK_INTERNET T_REDIS_SOCK
# T_POLICYD_SOCK T_MILTER_SOCK T_POLICYD_LOG T_MILTER_LOG; T_REPO T_PY
# SLUICE_BUILD at source time.
#
# Functions:
#   TAP      ok DESC | not_ok DESC [DIAG...] | diag TEXT... | check DESC CMD...
#            assert_match STRING REGEX DESC | assert_no_match STRING REGEX DESC
#            assert_eq GOT EXPECTED DESC | done_testing | bail_out MSG
#            (the last line of a test is "N passed, N failed"; exit 1 on failure)
#   harness  harness_start NAME | harness_stop [NAME] | harness_pid WHAT
#            harness_stop_daemon policyd|milter | harness_start_daemon policyd|milter
#            harness_restart_sluice (rewrites sluice.conf) | harness_sighup policyd|milter
#            harness_postconf "key = value"... (postconf -e, reload, wait)
#   mail     send_mail [swaks args] (prints the transcript, returns swaks' status)
#            queue_id_of SWAKS_OUTPUT | wait_delivered internal|internet REGEX [T]
#            sink_count internal|internet REGEX
#   logs     maillog_grep REGEX [T] | policyd_log_grep REGEX [T] | milter_log_grep
#            REGEX [T] | log_wait FILE REGEX [T] | log_lines FILE |
#            log_grew FILE N [T] | re_escape STRING | wait_for T CMD...
#   netns    in_ns CMD... | redis_cli ARGS... | dns_query NAME [TYPE]
#   DNS      zone_add_txt NAME VALUE (splits at 255) | zone_add 'dnsmasq-line'...
# Regular expressions are grep -E; T is a bound in seconds (default T_WAIT).

T_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_PY=/usr/bin/python3
T_WAIT=${T_WAIT:-10}
SLUICE_BUILD=${SLUICE_BUILD:-build}
case $SLUICE_BUILD in
/*) ;;
*) SLUICE_BUILD=$T_REPO/$SLUICE_BUILD ;;
esac
export SLUICE_BUILD

HARNESS_NAME=
_T_STARTED=
# A test stopped by a signal (Ctrl-C, timeout) exits, so that its EXIT trap
# (harness_stop) cleans up and reports the early end.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
T_PASS=0
T_FAIL=0
T_NUM=0
_T_DONE=

# ---------------------------------------------------------------- TAP ----

diag() {
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | sed 's/^/# /'
	done
}

ok() {
	T_NUM=$((T_NUM + 1))
	T_PASS=$((T_PASS + 1))
	echo "ok $T_NUM - $*"
}

# not_ok DESC [DIAGNOSTIC...]
not_ok() {
	local desc=$1
	shift
	T_NUM=$((T_NUM + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_NUM - $desc"
	[ $# -eq 0 ] || diag "$@"
}

# check DESC CMD... : ok when CMD succeeds (its output is shown on failure)
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "command: $*" "$out"
		return 1
	fi
}

# assert_match STRING REGEX DESC  (grep -E; any line of STRING may match)
assert_match() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		not_ok "$3" "expected to match: $2" "got:" "$1"
		return 1
	fi
}

# assert_no_match STRING REGEX DESC
assert_no_match() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		not_ok "$3" "expected NOT to match: $2" "got:" "$1"
		return 1
	else
		ok "$3"
	fi
}

# assert_eq GOT EXPECTED DESC
assert_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "expected: $2" "got:      $1"
		return 1
	fi
}

# done_testing: stop the harness (which may add failures: sanitizer
# reports, a daemon that died), print "N passed, N failed", exit.
done_testing() {
	if [ -n "$HARNESS_NAME" ]; then
		harness_stop "$HARNESS_NAME"
	fi
	_T_DONE=1
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] && exit 0
	exit 1
}

# bail_out MSG: count a failure and end the test now.
bail_out() {
	not_ok "$*"
	done_testing
}

# re_escape STRING: STRING as a literal grep -E pattern
re_escape() {
	printf '%s' "$1" | sed 's/[][\.*^$?+(){}|/]/\\&/g'
}

# ------------------------------------------------------------ waiting ----

# wait_for TIMEOUT CMD... : poll CMD every 0.1 s until it succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	"$@" >/dev/null 2>&1
}

# log_wait FILE REGEX [TIMEOUT]: wait until a line of FILE matches, print
# the matching lines; status 1 (nothing printed) on timeout.
log_wait() {
	local f=$1 re=$2 t=${3:-$T_WAIT}
	if wait_for "$t" grep -Eq -- "$re" "$f"; then
		grep -E -- "$re" "$f"
		return 0
	fi
	return 1
}

maillog_grep() { log_wait "$T_MAILLOG" "$1" "${2:-$T_WAIT}"; }
policyd_log_grep() { log_wait "$T_POLICYD_LOG" "$1" "${2:-$T_WAIT}"; }
milter_log_grep() { log_wait "$T_MILTER_LOG" "$1" "${2:-$T_WAIT}"; }

# log_lines FILE: number of lines (to wait for new lines with log_grew)
log_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# log_grew FILE N [TIMEOUT]: wait until FILE has more than N lines, print the
# new lines; status 1 on timeout.
log_grew() {
	local f=$1 n=$2 t=${3:-$T_WAIT}
	if wait_for "$t" _log_more "$f" "$n"; then
		tail -n +"$((n + 1))" "$f"
		return 0
	fi
	return 1
}
_log_more() { [ "$(log_lines "$1")" -gt "$2" ]; }

# wait_delivered SINK REGEX [TIMEOUT]: SINK is internal (127.0.0.1:2526, the
# internal mail server) or internet (127.0.0.1:2527). Prints the path of the
# first message file whose content matches; status 1 on timeout.
wait_delivered() {
	local dir
	dir=$(_sink_dir "$1") || return 2
	local f s1 s2
	if wait_for "${3:-$T_WAIT}" _sink_find "$dir" "$2"; then
		f=$(_sink_find "$dir" "$2")
		# smtp-sink may still be writing it: wait until its size holds.
		s2=$(stat -c %s "$f" 2>/dev/null)
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			sleep 0.05
			s1=$s2
			s2=$(stat -c %s "$f" 2>/dev/null)
			[ "$s1" = "$s2" ] && break
		done
		echo "$f"
		return 0
	fi
	return 1
}
# sink_count SINK REGEX: number of message files matching (0 if none)
sink_count() {
	local dir
	dir=$(_sink_dir "$1") || return 2
	grep -lE -- "$2" "$dir"/* 2>/dev/null | wc -l
}
_sink_dir() {
	case $1 in
	internal) echo "$T_SINK_INTERNAL" ;;
	internet) echo "$T_SINK_INTERNET" ;;
	*)
		echo "wait_delivered: unknown sink '$1' (internal|internet)" >&2
		return 2
		;;
	esac
}
_sink_find() {
	local f
	f=$(grep -lE -- "$2" "$1"/* 2>/dev/null | head -n 1)
	[ -n "$f" ] && echo "$f"
}

# ------------------------------------------------------------ helpers ----

in_ns() { ip netns exec "$HARNESS_NAME" "$@"; }

redis_cli() { in_ns redis-cli -s "$T_REDIS_SOCK" "$@"; }

# dns_query NAME [TYPE]: resolve inside the namespace (t/tools/dnsq.py)
dns_query() { in_ns "$T_PY" "$T_REPO/t/tools/dnsq.py" "$@"; }

# send_mail [swaks args...]: swaks inside the namespace against
# 127.0.0.1:25. Prints swaks' transcript (stdout and stderr); returns its
# exit status. A copy goes to STATEDIR/swaks.N.log.
_T_SWAKS=0
send_mail() {
	local out rc
	_T_SWAKS=$((_T_SWAKS + 1))
	out=$(ip netns exec "$HARNESS_NAME" swaks --server 127.0.0.1:25 \
		--timeout 30 "$@" </dev/null 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$T_STATE/swaks.$_T_SWAKS.log" 2>/dev/null
	printf '%s\n' "$out"
	return $rc
}

# queue_id_of SWAKS_OUTPUT: the queue ID from "250 2.0.0 Ok: queued as ID"
queue_id_of() {
	printf '%s\n' "$1" | sed -n 's/.*[Qq]ueued as \([0-9A-Za-z]*\).*/\1/p' | tail -n 1
}

# policy_request SOCKET name=value...: one policy request straight to the
# socket, as Postfix sends it (a client without a name, a new message each
# time: a new instance), through t/tools/policy_client.py.
_T_INSTANCE=0
policy_request() {
	local sock=$1
	shift
	_T_INSTANCE=$((_T_INSTANCE + 1))
	in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$sock" request \
		client_name=unknown reverse_client_name=unknown helo_name=helo.nowhere.test \
		instance="msg$_T_INSTANCE" "$@"
}

# zone_add_txt NAME VALUE: publish a TXT record (strings longer than 255
# characters are split), then restart dnsmasq and wait until it answers.
zone_add_txt() {
	local name=$1 val=$2 parts="" chunk
	while [ ${#val} -gt 255 ]; do
		chunk=${val:0:255}
		parts="$parts,\"$chunk\""
		val=${val:255}
	done
	parts="$parts,\"$val\""
	echo "txt-record=$name$parts" >>"$T_STATE/dnsmasq.conf"
	_dnsmasq_restart
}

# zone_add LINE...: add raw dnsmasq records (host-record=..., ptr-record=...)
zone_add() {
	local l
	for l in "$@"; do echo "$l" >>"$T_STATE/dnsmasq.conf"; done
	_dnsmasq_restart
}

# harness_postconf "key = value"...: change the private Postfix's main.cf,
# reload it and wait until the master has reloaded.
harness_postconf() {
	local kv n
	for kv in "$@"; do
		postconf -c "$T_PF" -e "$kv" || return 1
	done
	n=$(grep -c 'postfix/master.*: reload' "$T_MAILLOG")
	in_ns postfix -c "$T_PF" reload >>"$T_STATE/postfix.log" 2>&1 || return 1
	wait_for "$T_WAIT" _reloaded "$n"
}
_reloaded() { [ "$(grep -c 'postfix/master.*: reload' "$T_MAILLOG")" -gt "$1" ]; }

# harness_sighup policyd|milter: send SIGHUP (config reload)
harness_sighup() {
	local pid
	pid=$(_pidfile_pid "$T_STATE/run/$1.pid") || return 1
	kill -HUP "$pid"
}

# harness_pid policyd|milter|redis|dnsmasq|sink-internal|sink-internet
harness_pid() { _pidfile_pid "$T_STATE/run/$1.pid"; }

# harness_stop_daemon policyd|milter: stop one sluice daemon (SIGTERM, then
# SIGKILL after 10 s). Status 1 if it had to be killed.
harness_stop_daemon() { _stop_pidfile "$T_STATE/run/$1.pid" 10; }

# harness_start_daemon policyd|milter: (re)start one sluice daemon with the
# current STATEDIR/sluice.conf and wait for its socket.
harness_start_daemon() {
	local d=$1 sock
	case $d in
	policyd) sock=$T_POLICYD_SOCK ;;
	milter) sock=$T_MILTER_SOCK ;;
	*)
		echo "harness_start_daemon: policyd or milter" >&2
		return 2
		;;
	esac
	if [ ! -x "$SLUICE_BUILD/sluice-$d" ]; then
		echo "harness: $SLUICE_BUILD/sluice-$d not found: run make" >&2
		return 1
	fi
	rm -f "$sock"
	local wrap=()
	[ "$d" = policyd ] && read -ra wrap <<<"${HARNESS_POLICYD_WRAP:-}"
	[ "$d" = milter ] && read -ra wrap <<<"${HARNESS_MILTER_WRAP:-}"
	_spawn "$d" "$T_STATE/$d.log" _sanitizer_env \
		"${wrap[@]}" "$SLUICE_BUILD/sluice-$d" -f -c "$T_CONF" || return 1
	_wait_ready "sluice-$d" "$d" test -S "$sock"
}

# harness_restart_sluice: rewrite sluice.conf (hooks) and restart both daemons
harness_restart_sluice() {
	local d rc=0
	_write_sluice_conf
	for d in milter policyd; do
		_daemon_enabled "$d" || continue
		harness_stop_daemon "$d"
		harness_start_daemon "$d" || rc=1
	done
	return $rc
}

harness_default_config() {
	cat <<EOF
user = "sluice";
redis = { socket = "$T_STATE/redis.sock"; timeout_ms = 100; ${HARNESS_REDIS_EXTRA:-} };
domains = { local = [ "example.test" ]; relay = [ "relay.test" ]; };
trusted_networks = [ "127.0.0.1/32", "127.0.1.0/24", "::1/128" ];
milter = { listen = "unix:$T_STATE/milter.sock"; pid_file = "$T_STATE/milter.pid"; authserv_id = "mx.example.test"; ${HARNESS_MILTER_EXTRA:-} };
policyd = { listen = "unix:$T_STATE/policyd.sock"; pid_file = "$T_STATE/policyd.pid"; ${HARNESS_POLICYD_EXTRA:-} };
EOF
}

# ------------------------------------------------------------- start ----

_harness_vars() {
	HARNESS_NAME=$1
	T_STATE=/run/sluice-t.$1
	T_PF=$T_STATE/pf
	T_CONF=$T_STATE/sluice.conf
	T_MAILLOG=$T_STATE/maillog
	T_SINK_INTERNAL=$T_STATE/sink-internal
	T_SINK_INTERNET=$T_STATE/sink-internet
	T_REDIS_SOCK=$T_STATE/redis.sock
	T_POLICYD_SOCK=$T_STATE/policyd.sock
	T_MILTER_SOCK=$T_STATE/milter.sock
	T_POLICYD_LOG=$T_STATE/policyd.log
	T_MILTER_LOG=$T_STATE/milter.log
}

_daemon_enabled() {
	case $1 in
	policyd) [ "${HARNESS_NO_POLICYD:-0}" != 1 ] ;;
	milter) [ "${HARNESS_NO_MILTER:-0}" != 1 ] ;;
	esac
}

_harness_fail() {
	echo "harness: $*" >&2
	return 1
}

harness_start() {
	local name=${1:?harness_start NAME}
	local d
	[ "$(id -u)" -eq 0 ] || _harness_fail "must run as root" || return 1
	case $name in
	*[!A-Za-z0-9._-]*) _harness_fail "bad name '$name'" || return 1 ;;
	esac
	for d in ip dnsmasq redis-server redis-cli smtp-sink postfix postconf swaks; do
		command -v "$d" >/dev/null ||
			_harness_fail "$d not installed (run tools/deps.sh)" || return 1
	done
	for d in policyd milter; do
		if _daemon_enabled $d && [ ! -x "$SLUICE_BUILD/sluice-$d" ]; then
			_harness_fail "$SLUICE_BUILD/sluice-$d not found: run make (or set HARNESS_NO_${d^^}=1)" ||
				return 1
		fi
	done
	getent passwd sluice >/dev/null ||
		_harness_fail "user sluice missing (run tools/deps.sh)" || return 1

	# A leftover of an earlier run with this name, and namespaces of test
	# runs whose shell is gone, must not get in the way.
	_harness_cleanup "$name" fresh
	_harness_reap_stale
	_harness_vars "$name"
	_T_STARTED=1

	umask 022
	mkdir -p -m 0755 "$T_STATE" "$T_STATE/run" || return 1
	chmod 0755 "$T_STATE"
	mkdir -p -m 0755 "$T_SINK_INTERNAL" "$T_SINK_INTERNET" "$T_STATE/redis"
	chown postfix: "$T_SINK_INTERNAL" "$T_SINK_INTERNET"
	if [ "${SLUICE_ASAN:-0}" = 1 ]; then
		mkdir -p -m 1777 "$T_STATE/asan"
		chmod 1777 "$T_STATE/asan"
	fi

	ip netns add "$name" || _harness_fail "ip netns add $name failed" || return 1
	ip -n "$name" link set lo up || return 1
	mkdir -p "/etc/netns/$name"
	echo "nameserver 127.0.0.1" >"/etc/netns/$name/resolv.conf"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		>"/etc/netns/$name/hosts"

	_start_dnsmasq || return 1
	_start_redis || return 1
	_start_sinks || return 1
	_write_sluice_conf || return 1
	for d in policyd milter; do
		_daemon_enabled $d || continue
		harness_start_daemon $d || return 1
	done
	_start_postfix || return 1
	return 0
}

# _spawn NAME LOG CMD...: run CMD in the namespace in the background, with
# no terminal, stdout and stderr to LOG; record its PID in run/NAME.pid.
# (setsid, ip netns exec and env exec the command: $! is the daemon itself.)
# Its own session: a signal to the test's process group (Ctrl-C, timeout)
# reaches the test, whose EXIT trap then stops everything in order.
_spawn() {
	local n=$1 log=$2 senv=()
	shift 2
	if [ "$1" = _sanitizer_env ]; then
		shift
		mapfile -t senv < <(_sanitizer_vars)
		set -- env "${senv[@]}" "$@"
	fi
	(cd "$T_STATE" && exec setsid ip netns exec "$HARNESS_NAME" "$@" </dev/null >>"$log" 2>&1) &
	echo $! >"$T_STATE/run/$n.pid"
	disown $! 2>/dev/null
	return 0
}

_sanitizer_vars() {
	[ "${SLUICE_ASAN:-0}" = 1 ] || return 0
	local supp=""
	[ -f "$T_REPO/t/lsan.supp" ] && supp=":suppressions=$T_REPO/t/lsan.supp"
	echo "ASAN_OPTIONS=log_path=$T_STATE/asan/asan:detect_leaks=1:abort_on_error=0"
	echo "UBSAN_OPTIONS=log_path=$T_STATE/asan/ubsan:print_stacktrace=1:halt_on_error=1"
	echo "LSAN_OPTIONS=log_path=$T_STATE/asan/asan$supp"
}

# _wait_ready LABEL PIDNAME CMD...: bounded wait for CMD while the process
# recorded as PIDNAME is alive.
_wait_ready() {
	local label=$1 pn=$2 n=$((T_WAIT * 10)) pid
	shift 2
	pid=$(cat "$T_STATE/run/$pn.pid" 2>/dev/null)
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		if [ -n "$pid" ] && ! _pid_alive "$pid"; then
			_harness_fail "$label exited during start-up"
			_harness_show_log "$label" "$T_STATE/$pn.log"
			return 1
		fi
		sleep 0.1
		n=$((n - 1))
	done
	"$@" >/dev/null 2>&1 && return 0
	_harness_fail "$label not ready after ${T_WAIT}s ($*)"
	_harness_show_log "$label" "$T_STATE/$pn.log"
	return 1
}

_harness_show_log() {
	[ -s "$2" ] || return 0
	echo "harness: --- last lines of $2 ---" >&2
	tail -n 20 "$2" >&2
}

# _banner PORT: a TCP server in the namespace greets with 220
_banner() {
	in_ns timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"' && head -c 3 <&3' |
		grep -q 220
}

_start_dnsmasq() {
	{
		echo "# written by t/lib.sh"
		echo "no-resolv"
		echo "no-hosts"
		echo "listen-address=127.0.0.1"
		echo "bind-interfaces"
		echo "port=53"
		echo "user=root"
		echo "pid-file=$T_STATE/run/dnsmasq.daemon.pid"
		echo "log-facility=$T_STATE/dnsmasq.log"
		echo "log-queries"
		cat "$T_REPO/t/zone.conf"
	} >"$T_STATE/dnsmasq.conf"
	_dnsmasq_run
}

_dnsmasq_run() {
	# -k: stay in the foreground, so that $! is dnsmasq itself.
	_spawn dnsmasq "$T_STATE/dnsmasq.log" dnsmasq -k --conf-file="$T_STATE/dnsmasq.conf"
	_wait_ready dnsmasq dnsmasq _dns_ready
}
_dns_ready() {
	dns_query mx.example.test A | grep -qx 127.0.0.1
}

_dnsmasq_restart() {
	_stop_pidfile "$T_STATE/run/dnsmasq.pid" 5
	_dnsmasq_run
}

_start_redis() {
	# shellcheck disable=SC2086
	_spawn redis "$T_STATE/redis.log" redis-server --save "" --appendonly no \
		--daemonize no --dir "$T_STATE/redis" --bind 127.0.0.1 --port 6379 \
		--unixsocket "$T_REDIS_SOCK" --unixsocketperm 777 \
		--protected-mode no --loglevel notice ${HARNESS_REDIS_ARGS:-}
	_wait_ready redis redis _redis_ready
}
_redis_ready() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

_start_sinks() {
	_spawn sink-internal "$T_STATE/sink-internal.log" \
		smtp-sink -u postfix -d "$T_SINK_INTERNAL/%H%M%S." 127.0.0.1:2526 1000
	_spawn sink-internet "$T_STATE/sink-internet.log" \
		smtp-sink -u postfix -d "$T_SINK_INTERNET/%H%M%S." 127.0.0.1:2527 1000
	_wait_ready smtp-sink-internal sink-internal _banner 2526 || return 1
	_wait_ready smtp-sink-internet sink-internet _banner 2527
}

_write_sluice_conf() {
	{
		if declare -F harness_config >/dev/null; then
			harness_config
		else
			harness_default_config
		fi
		if declare -F harness_config_extra >/dev/null; then
			harness_config_extra
		fi
	} >"$T_CONF.new" && mv "$T_CONF.new" "$T_CONF" && chmod 0644 "$T_CONF"
}

_start_postfix() {
	local policy="" milters="" kv
	_daemon_enabled policyd && policy="check_policy_service unix:$T_POLICYD_SOCK"
	_daemon_enabled milter && milters="unix:$T_MILTER_SOCK"
	# queue and data directories outside the config directory: postfix
	# check wants everything under config_directory owned by root.
	mkdir -p -m 0755 "$T_PF" "$T_STATE/spool" "$T_STATE/data"
	chown postfix: "$T_STATE/data"
	sed -e "s|@STATE@|$T_STATE|g" -e "s|@POLICY@|$policy|" -e "s|@MILTERS@|$milters|" \
		"$T_REPO/t/postfix/main.cf" >"$T_PF/main.cf" || return 1
	cp "$T_REPO/t/postfix/master.cf" "$T_PF/master.cf" || return 1
	[ -z "${HARNESS_MASTER_CF_EXTRA:-}" ] ||
		printf '%s\n' "$HARNESS_MASTER_CF_EXTRA" >>"$T_PF/master.cf"
	if [ -n "${HARNESS_POSTCONF:-}" ]; then
		while IFS= read -r kv; do
			[ -n "$kv" ] || continue
			postconf -c "$T_PF" -e "$kv" ||
				_harness_fail "postconf -e '$kv' failed" || return 1
		done <<<"$HARNESS_POSTCONF"
	fi
	: >"$T_MAILLOG"
	if ! in_ns postfix -c "$T_PF" start </dev/null >>"$T_STATE/postfix.log" 2>&1; then
		_harness_fail "postfix -c $T_PF start failed"
		_harness_show_log postfix "$T_STATE/postfix.log"
		# Postfix reports configuration errors on a terminal only.
		script -qec "postfix -c $T_PF check" /dev/null </dev/null >&2
		return 1
	fi
	_wait_ready postfix postfix _banner 25
}

# -------------------------------------------------------------- stop ----

_pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _pidfile_pid FILE: the PID in FILE if that process is alive and is ours
# (its command line or working directory names our state directory: no
# stray PID reuse; redis-server rewrites its command line).
_pidfile_pid() {
	local pid st
	pid=$(cat "$1" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	_pid_alive "$pid" || return 1
	st=${1%/run/*}
	if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$st"; then
		case $(readlink "/proc/$pid/cwd" 2>/dev/null) in
		"$st" | "$st"/*) ;;
		*) return 1 ;;
		esac
	fi
	echo "$pid"
}

# _stop_pidfile FILE TIMEOUT: SIGTERM, wait, SIGKILL. Status 1 if killed.
_stop_pidfile() {
	local pid n=$(($2 * 10))
	pid=$(_pidfile_pid "$1") || {
		rm -f "$1"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null
	while [ "$n" -gt 0 ] && _pid_alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	rm -f "$1"
	if _pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		sleep 0.1
		return 1
	fi
	return 0
}

_harness_dump_logs() {
	local f
	for f in "$T_MAILLOG" "$T_POLICYD_LOG" "$T_MILTER_LOG"; do
		[ -s "$f" ] || continue
		diag "----- last 30 lines of $f -----"
		diag "$(tail -n 30 "$f")"
	done
}

# harness_stop [NAME]: stop everything of the harness NAME (default: the
# current one), remove the namespace, /etc/netns/NAME and the state dir.
# Without NAME (as in "trap harness_stop EXIT") it also ends the test: when
# done_testing did not run, it prints the "N passed, N failed" line and sets
# the exit status.
harness_stop() {
	# shellcheck disable=SC2319 # the status the test (or the EXIT trap) left
	local rc=$?
	local name=${1:-$HARNESS_NAME} ending=
	[ $# -eq 0 ] && ending=1
	if [ -n "$name" ] && [ "$name" = "$HARNESS_NAME" ] && [ -n "${_T_STARTED:-}" ]; then
		_harness_stop_current "$rc"
	elif [ -n "$name" ]; then
		_harness_cleanup "$name"
	fi
	if [ -n "$ending" ] && [ -z "$_T_DONE" ]; then
		_T_DONE=1
		[ "$rc" -eq 0 ] || not_ok "test script ended early (exit status $rc)"
		echo "$T_PASS passed, $T_FAIL failed"
		[ "$T_FAIL" -eq 0 ] && exit "$rc"
		exit 1
	fi
	return 0
}

_harness_stop_current() {
	local rc=$1 d pid f
	_T_STARTED=
	# Postfix first: it holds connections to both daemons.
	_stop_postfix "$T_STATE"
	for d in milter policyd; do
		[ -e "$T_STATE/run/$d.pid" ] || continue
		if ! pid=$(_pidfile_pid "$T_STATE/run/$d.pid"); then
			not_ok "sluice-$d was still running at the end of the test"
			rm -f "$T_STATE/run/$d.pid"
			continue
		fi
		if ! _stop_pidfile "$T_STATE/run/$d.pid" 10; then
			not_ok "sluice-$d stops within 10 s of SIGTERM (it had to be killed)"
		fi
	done
	if [ "${SLUICE_ASAN:-0}" = 1 ]; then
		for f in "$T_STATE"/asan/asan.* "$T_STATE"/asan/ubsan.*; do
			[ -e "$f" ] || continue
			not_ok "sanitizer report $(basename "$f")" "$(head -n 60 "$f")"
		done
	fi
	if [ "$T_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
		_harness_dump_logs
	fi
	_harness_cleanup "$HARNESS_NAME"
	HARNESS_NAME=
}

_stop_postfix() {
	local st=$1 name=${1#/run/sluice-t.} pid n=100
	[ -f "$st/pf/main.cf" ] || return 0
	pid=$(tr -d ' ' <"$st/spool/pid/master.pid" 2>/dev/null)
	if [ -n "$pid" ] && _pid_alive "$pid"; then
		if [ -e "/run/netns/$name" ]; then
			ip netns exec "$name" postfix -c "$st/pf" stop </dev/null >>"$st/postfix.log" 2>&1
		else
			postfix -c "$st/pf" stop </dev/null >>"$st/postfix.log" 2>&1
		fi
		while [ $n -gt 0 ] && _pid_alive "$pid"; do
			sleep 0.1
			n=$((n - 1))
		done
		if _pid_alive "$pid"; then
			# master's PID file names no state dir: check it is Postfix's master.
			grep -q master "/proc/$pid/comm" 2>/dev/null && kill -KILL "$pid"
		fi
	fi
}

# _harness_cleanup NAME [fresh]: stop every process of harness NAME and
# remove its namespace, /etc/netns/NAME and state directory (kept with
# SLUICE_T_KEEP=1, unless "fresh": before a start). Quiet; used before a
# start (leftovers) and at the end.
_harness_cleanup() {
	local name=$1 st=/run/sluice-t.$1 f pids n
	if [ -d "$st" ]; then
		_stop_postfix "$st"
		for f in milter policyd sink-internal sink-internet redis dnsmasq; do
			_stop_pidfile "$st/run/$f.pid" 5
		done
	fi
	if [ -e "/run/netns/$name" ]; then
		# Whatever is left in the namespace was started by the harness.
		pids=$(ip netns pids "$name" 2>/dev/null)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill -TERM $pids 2>/dev/null
			n=30
			while [ $n -gt 0 ] && [ -n "$(ip netns pids "$name" 2>/dev/null)" ]; do
				sleep 0.1
				n=$((n - 1))
			done
			pids=$(ip netns pids "$name" 2>/dev/null)
			# shellcheck disable=SC2086
			[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
		fi
		ip netns del "$name" 2>/dev/null
	fi
	rm -rf "/etc/netns/$name"
	if [ -d "$st" ] && { [ "${SLUICE_T_KEEP:-0}" != 1 ] || [ "${2:-}" = fresh ]; }; then
		rm -rf "$st"
	elif [ -d "$st" ]; then
		echo "harness: kept $st" >&2
	fi
	return 0
}

# Namespaces sluice-t-PID whose test shell PID is gone: remove them.
_harness_reap_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in
		sluice-t-*) ;;
		*) continue ;;
		esac
		pid=${ns#sluice-t-}
		case $pid in '' | *[!0-9]*) continue ;; esac
		_pid_alive "$pid" && continue
		_harness_cleanup "$ns"
	done
	# State directories without a namespace (interrupted clean-up).
	for ns in /run/sluice-t.sluice-t-*; do
		[ -d "$ns" ] || continue
		pid=${ns#/run/sluice-t.sluice-t-}
		case $pid in '' | *[!0-9]*) continue ;; esac
		_pid_alive "$pid" && continue
		_harness_cleanup "${ns#/run/sluice-t.}"
	done
}

# scratch_start NAME: a test's own directory, for tests that run the
# daemons without the harness's Postfix. STATE=/run/sluice-t.NAME-PID
# (made 0755), RUN=$STATE/run; the PIDs the test adds to pids are killed
# and waited for at exit, STATE is removed (kept with SLUICE_T_KEEP), and
# harness_stop runs too. Call it after the test's root checks.
scratch_start() {
	STATE=/run/sluice-t.$1-$$
	RUN=$STATE/run
	pids=()
	trap 'scratch_cleanup; harness_stop' EXIT
	mkdir -p -m 0755 "$STATE" || bail_out "mkdir $STATE"
}
scratch_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "${SLUICE_T_KEEP:-}" ]; then
		echo "# kept $STATE"
	else
		rm -rf "$STATE"
	fi
}
