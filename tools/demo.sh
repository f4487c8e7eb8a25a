#!/bin/bash
# demo.sh start|stop [BUILD] - a private Postfix with sluice-policyd and
# sluice-milter in the network namespace "sluice-demo" (t/lib.sh), one
# message per feature through it, and for each the one log line and the
# SMTP reply or header that proves it; then how to send your own.
# "start" leaves it running; "stop" (make demo-stop) removes it.
#
# The features, each with its own sender so that its log line is its own:
#   greylisting (deferred, then passed after the demo's 5 s delay),
#   SPF bypass, outbound DKIM signing verified by python3-dkim, inbound
#   Authentication-Results (spf/dkim/dmarc), an alias expanded, a
#   forbidden sender (550 5.7.1), a rate limit (450 4.7.1), max_recipients
#   (452 4.5.3), an unknown recipient (550 5.1.1), the relaying list's
#   REJECT (554 5.7.1), and sluice-ctl explain on the forbidden sender.
# The greylisting retry waits for its delay while the others run.
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

# ------------------------------------------------------------ config ----
# Greylisting as an admin would see it, with a short delay so the demo
# does not wait minutes: loopback clients are not allowlisted here.
# A rate limit of 3 recipients an hour per sender (many@example.test is
# exempt: it shows max_recipients), recipient validation from the lists,
# and a relaying-list entry refusing relay.test.
HARNESS_POLICYD_EXTRA='
  greylist = { delay = "5s"; allow_networks = [ ]; };
  ratelimit = ( { name = "demo-burst"; subject = "sender"; count = "recipients";
                  limit = 3; window = "1h"; direction = "any"; } );
  ratelimit_exempt = { senders = [ "many@example.test" ]; };
  max_recipients = 5;
  recipients = { validate = "list"; };
  relay = ( { match = "relay.test"; option = "to"; action = "reject"; } );'
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true;'
KEY_CONF=
harness_config_extra() { [ -z "$KEY_CONF" ] || printf '%s\n' "$KEY_CONF"; }

# An old demo goes first (harness_start would also clean it).
harness_stop "$NAME"
started=$SECONDS
if ! harness_start "$NAME"; then
	echo "demo: the harness did not start" >&2
	harness_stop "$NAME"
	exit 1
fi

# A DKIM key for example.test: made by sluice-keygen, its record published
# in the demo's DNS, the milter restarted with it.
KEYS=$T_STATE/keys
mkdir -p -m 0755 "$KEYS"
rec=$("$SLUICE_BUILD/sluice-keygen" -d example.test -s demo -o "$KEYS" 2>/dev/null) || {
	echo "demo: sluice-keygen failed" >&2
	exit 1
}
chown sluice "$KEYS/example.test.demo.key"
zone_add "txt-record=demo._domainkey.example.test,$(printf '%s\n' "$rec" | grep -o '"[^"]*"' | paste -sd, -)" ||
	echo "demo: the DKIM record was not published" >&2
KEY_CONF="dkim = { keys = ( { domain = \"example.test\"; selector = \"demo\"; key = \"$KEYS/example.test.demo.key\"; } ); };"
harness_restart_sluice || {
	echo "demo: the daemons did not restart with the DKIM key" >&2
	exit 1
}

# The admin's lists, in Redis.
redis_cli sadd sluice:mailboxes user@example.test anna@example.test bob@example.test \
	r1@example.test r2@example.test r3@example.test r4@example.test r5@example.test >/dev/null
redis_cli sadd sluice:alias:sales@example.test anna@example.test bob@example.test >/dev/null
redis_cli sadd sluice:forbid:mailbox spammer@nowhere.test >/dev/null
sleep 1	# the list cache follows Redis within a second

# ----------------------------------------------------------- helpers ----
stamp=$(date +%H%M%S)
n=0
title() {
	n=$((n + 1))
	current=$*
	printf '\n== %d. %s\n' "$n" "$*"
}
# A feature whose proof did not show is counted, and named at the end.
missing=()
lacks() { missing+=("$n. $current: $1"); }
# reply OUT REGEX: the server's reply lines of a swaks transcript that match
reply() {
	local l
	l=$(printf '%s\n' "$1" | grep -E '^<(\*\*|-|~) ' | grep -E -- "$2")
	if [ -n "$l" ]; then
		printf '%s\n' "$l" | sed 's/^/   SMTP  /'
	else
		echo "   SMTP  (no reply matching $2)"
		lacks "reply $2"
	fi
}
# logline FILE REGEX: the last matching log line (waits for it)
logline() {
	local l
	if l=$(log_wait "$1" "$2" 10); then
		printf '%s\n' "$l" | tail -n 1 | sed 's/^/   log   /'
	else
		echo "   log   (no line matching $2 in $(basename "$1"))"
		lacks "log line $2"
	fi
}
# header FILE NAME: the header field NAME of a delivered message, unfolded
header() {
	awk -v h="$2" 'BEGIN { IGNORECASE = 1 } /^\r?$/ { exit } { sub(/\r$/, "") }
		tolower($0) ~ "^" tolower(h) ":" { p = 1; printf "%s", $0; next }
		p && /^[ \t]/ { printf " %s", $0; next } { if (p) print ""; p = 0 }
		END { if (p) print "" }' "$1" | sed 's/[ \t][ \t]*/ /g' | cut -c1-200 | sed 's/^/   head  /'
}
delivered() {
	wait_delivered "$1" "$2" 15 && return 0
	echo "   (not delivered to the $1 sink)"
	lacks "delivery to the $1 sink"
	return 1
}
send() { send_mail "$@" 2>&1; }

# ---------------------------------------------------------- features ----
title "greylisting: a first message from a client never seen before [127.0.0.20]"
grey_subject="demo greylist $stamp"
grey() {
	send --local-interface 127.0.0.20 --from bob@nowhere.test --to user@example.test \
		--header "Subject: $grey_subject"
}
grey_start=$SECONDS
out=$(grey)
reply "$out" '^<\*\* '
logline "$T_POLICYD_LOG" 'greylist=new .*from=<bob@nowhere\.test>'
echo "   (retried after the 5 s delay, at the end)"

title "SPF bypass: mail.sender.test [127.0.0.9], whose SPF passes, is not delayed"
out=$(send --local-interface 127.0.0.9 --helo mail.sender.test --from alice@sender.test \
	--to user@example.test --header "Subject: demo spf $stamp")
reply "$out" '^<- +250 .*queued'
logline "$T_POLICYD_LOG" 'bypass-spf.*from=<alice@sender\.test>'

title "outbound DKIM: a trusted client's message is signed, python3-dkim verifies it"
out=$(send --local-interface 127.0.0.1 --from ceo@example.test --to partner@internet.test \
	--header "From: ceo@example.test" --header "Subject: demo dkim $stamp")
reply "$out" '^<- +250 .*queued'
logline "$T_MILTER_LOG" 'dkim=signed.*s=demo|from=<ceo@example\.test>.*dkim='
if f=$(delivered internet "^Subject: demo dkim $stamp"); then
	header "$f" DKIM-Signature
	v=$(in_ns "$T_PY" "$T_REPO/t/dkim/verify.py" --dns "$f" 2>&1) || lacks "python3-dkim verification"
	printf '%s\n' "$v" | sed "s|$f|the delivered message|; s/^/   dkim  python3-dkim: /"
fi

title "inbound Authentication-Results: spf, dkim, dmarc of mail from sender.test"
out=$(send --local-interface 127.0.0.9 --helo mail.sender.test --from dave@sender.test \
	--to user@example.test --header "From: dave@sender.test" --header "Subject: demo ar $stamp")
reply "$out" '^<- +250 .*queued'
logline "$T_MILTER_LOG" 'from=<dave@sender\.test>'
if f=$(delivered internal "^Subject: demo ar $stamp"); then
	header "$f" Authentication-Results
fi

title "alias: sales@example.test expands to anna@ and bob@ (sluice:alias:sales@example.test)"
out=$(send --local-interface 127.0.0.1 --from erin@example.test --to sales@example.test \
	--header "Subject: demo alias $stamp")
reply "$out" '^<- +250 .*queued'
logline "$T_MILTER_LOG" 'from=<erin@example\.test>'
if f=$(delivered internal "^Subject: demo alias $stamp"); then
	# smtp-sink writes each RCPT TO it was given as an X-Rcpt-Args line.
	grep -i '^X-Rcpt-Args' "$f" | sed 's/^/   sink  /'
fi

title "forbidden sender: spammer@nowhere.test is in sluice:forbid:mailbox"
out=$(send --local-interface 127.0.0.21 --from spammer@nowhere.test --to user@example.test)
reply "$out" '^<\*\* 5'
# The milter refuses it at MAIL FROM, before Postfix asks the policy service.
logline "$T_MILTER_LOG" 'rules=forbid-mailbox.*spammer@nowhere\.test'

title "rate limit: 3 recipients an hour per sender, burst@sender.test sends to 4"
out=$(send --local-interface 127.0.0.9 --helo mail.sender.test --from burst@sender.test \
	--to user@example.test,anna@example.test,bob@example.test,r1@example.test)
reply "$out" '^<\*\* '
logline "$T_POLICYD_LOG" 'ratelimit=over.*burst@sender\.test'

title "max_recipients = 5: the 6th recipient of one message"
out=$(send --local-interface 127.0.0.1 --from many@example.test \
	--to r1@example.test,r2@example.test,r3@example.test,r4@example.test,r5@example.test,user@example.test)
reply "$out" '^<\*\* '
logline "$T_POLICYD_LOG" 'max_recipients=over.*many@example\.test'

title "unknown recipient: nobody@example.test is no mailbox (validate = \"list\")"
out=$(send --local-interface 127.0.0.9 --helo mail.sender.test --from carol@sender.test \
	--to nobody@example.test)
reply "$out" '^<\*\* '
logline "$T_POLICYD_LOG" 'to=<nobody@example\.test>'

title "relaying list: { match = \"relay.test\"; option = \"to\"; action = \"reject\"; }"
out=$(send --local-interface 127.0.0.1 --from frank@example.test --to someone@relay.test)
reply "$out" '^<\*\* '
logline "$T_POLICYD_LOG" 'relay=reject.*someone@relay\.test|someone@relay\.test.*relay=reject'

title "greylisting: the same message again, after the delay"
left=$((6 - (SECONDS - grey_start)))
[ "$left" -le 0 ] || sleep "$left"
out=$(grey)
reply "$out" '^<- +250 .*queued'
logline "$T_POLICYD_LOG" 'greylist=pass .*from=<bob@nowhere\.test>'
if f=$(delivered internal "^Subject: $grey_subject"); then
	header "$f" X-Greylist
fi

title "sluice-ctl explain: why was spammer@nowhere.test refused?"
ctl=$SLUICE_BUILD/sluice-ctl
if [ -x "$ctl" ] && "$ctl" -c "$T_CONF" help 2>&1 | grep -q explain; then
	in_ns "$ctl" -c "$T_CONF" explain --client 127.0.0.21 --from spammer@nowhere.test \
		--to user@example.test 2>&1 | head -n 40 | sed 's/^/   /'
else
	echo "   (this build's sluice-ctl has no explain command yet)"
fi
[ "${#missing[@]}" -eq 0 ]
demo_rc=$?

echo
if [ "${#missing[@]}" -eq 0 ]; then
	echo "== every feature showed its proof ($n sections, $((SECONDS - started)) s)"
else
	echo "== ${#missing[@]} proof(s) missing ($((SECONDS - started)) s):"
	printf '   %s\n' "${missing[@]}"
fi
cat <<EOF

The demo keeps running in the network namespace $NAME
(state, logs, sink directories and configs under $T_STATE).
Send your own message:

  ip netns exec $NAME swaks --server 127.0.0.1 --to user@example.test --from you@nowhere.test --local-interface 127.0.0.22

(127.0.0.20-.29 are clients without SPF: greylisted for 5 s; 127.0.0.9 is
mail.sender.test, whose SPF passes; 127.0.0.1 is a trusted client: its
mail From: @example.test is signed.)

Delivered mail: $T_SINK_INTERNAL (internal server), $T_SINK_INTERNET (internet)
Redis:          ip netns exec $NAME redis-cli -s $T_REDIS_SOCK
Logs:           tail -f $T_MAILLOG $T_POLICYD_LOG $T_MILTER_LOG
Stop it with:   make demo-stop
EOF
exit $demo_rc
