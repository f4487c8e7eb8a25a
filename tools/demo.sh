#!/bin/bash
# demo.sh start|stop [BUILD] - a private Postfix with sluice-policyd and
# sluice-milter in the network namespace "sluice-demo" (t/lib.sh), one
# message through it, and how to send your own. "start" leaves it running;
# "stop" (make demo-stop) removes it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 1
cmd=${1:-}
build=${2:-build}
case $build in
/*) ;;
*) build=$PWD/$build ;;
esac
export SLUICE_BUILD=$build
# shellcheck source=t/lib.sh
. t/lib.sh
NAME=sluice-demo

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, Postfix)" >&2
	exit 1
fi

case $cmd in
stop)
	harness_stop "$NAME"
	echo "demo: stopped (namespace $NAME removed)"
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 start|stop [BUILD]" >&2
	exit 2
	;;
esac

# An old demo goes first (harness_start would also clean it).
# Greylisting as an admin would see it, with a short delay so the demo
# does not wait minutes: loopback clients are not allowlisted here.
HARNESS_POLICYD_EXTRA='greylist = { delay = "5s"; allow_networks = [ ]; };'
harness_stop "$NAME"
if ! harness_start "$NAME"; then
	echo "demo: the harness did not start" >&2
	harness_stop "$NAME"
	exit 1
fi

subject="sluice demo $(date +%H:%M:%S)"
show() { printf '%s\n' "$1" | grep -E '^(<-|<~|<\*\*| ->) ' | grep -vE '^ -> .{60,}'; }
send() {
	send_mail --local-interface 127.0.0.20 --from bob@nowhere.test --to user@example.test \
		--header "Subject: $subject"
}
echo "== greylisting: a first message from a client never seen before [127.0.0.20]"
out=$(send)
show "$out"
echo
echo "== 6 seconds later (the demo's delay is 5 s), the same message again"
sleep 6
out=$(send)
show "$out"
qid=$(queue_id_of "$out")
echo
echo "== a message from mail.sender.test [127.0.0.9], whose SPF passes: not delayed"
show "$(send_mail --local-interface 127.0.0.9 --helo mail.sender.test \
	--from alice@sender.test --to user@example.test --header "Subject: SPF $subject")"
echo

if f=$(wait_delivered internal "^Subject: $subject" 15); then
	echo
	echo "== headers of the delivered message ($f)"
	sed '/^$/q' "$f"
else
	echo "demo: the message did not reach the internal server" >&2
fi

echo "== maillog ($T_MAILLOG)"
if [ -n "$qid" ]; then
	maillog_grep "$qid: .*status=" 10 >/dev/null
	grep -E "$qid|127\.0\.0\.(9|20)" "$T_MAILLOG"
else
	tail -n 15 "$T_MAILLOG"
fi
echo
echo "== sluice-policyd ($T_POLICYD_LOG)"
grep -v ' listening on ' "$T_POLICYD_LOG" | tail -n 10
echo
echo "== sluice-milter ($T_MILTER_LOG)"
grep -v ' listening on ' "$T_MILTER_LOG" | tail -n 10

cat <<EOF

The demo keeps running in the network namespace $NAME
(state, logs, sink directories and configs under $T_STATE).
Send your own message:

  ip netns exec $NAME swaks --server 127.0.0.1 --to user@example.test --from you@nowhere.test --local-interface 127.0.0.21

(127.0.0.20-.29 are clients without SPF: greylisted for 5 s; 127.0.0.9 is
mail.sender.test, whose SPF passes; 127.0.0.1 is a trusted client.)

Delivered mail: $T_SINK_INTERNAL (internal server), $T_SINK_INTERNET (internet)
Redis:          ip netns exec $NAME redis-cli -s $T_REDIS_SOCK
Logs:           tail -f $T_MAILLOG $T_POLICYD_LOG $T_MILTER_LOG
Stop it with:   make demo-stop
EOF
