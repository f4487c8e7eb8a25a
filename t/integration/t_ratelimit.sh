#!/bin/bash
# t_ratelimit.sh - rate limits and the recipient limit through a real
# Postfix, seen from the sending side (swaks) and the sink: the 6th
# connection in 60 s from one client is refused at CONNECT (421 4.7.0);
# another client is not; a Redis exemption lifts it; the 3rd message of a
# sender in a minute gets 450 4.7.1 at END-OF-MESSAGE; the 26th recipient
# gets 452 4.5.3 and a new transaction delivers it; two sluice-policyd
# processes sharing Redis enforce one limit; rate-limit keys carry their
# window as TTL and expire.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_MILTER=1
HARNESS_POLICYD_EXTRA='greylist = { enabled = false; };
  max_recipients = 25;
  ratelimit = (
    { name = "client-connections"; subject = "client"; count = "connections";
      limit = 5; window = "60s"; direction = "inbound"; },
    { name = "sender-messages"; subject = "sender"; count = "messages";
      limit = 2; window = "60s"; },
    { name = "sasl-short"; subject = "sasl_user"; count = "recipients";
      limit = 2; window = "2s"; direction = "outbound"; }
  );'
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-rl-$$" || bail_out "harness did not start"
# Connections are counted at CONNECT: Postfix asks there only from
# smtpd_client_restrictions, and only with smtpd_delay_reject = no.
harness_postconf "smtpd_delay_reject = no" \
	"smtpd_client_restrictions = check_policy_service unix:$T_POLICYD_SOCK" \
	"smtpd_end_of_data_restrictions = check_policy_service unix:$T_POLICYD_SOCK" ||
	bail_out "postconf"

mail() {	# mail CLIENT FROM TO [swaks args]
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: rl test $ip $from $to" "$@"
}
accepted() { assert_match "$1" '<- +250 2\.0\.0 Ok: queued' "$2"; }
policy_log() {	# policy_log REGEX DESC
	if policyd_log_grep "$1" 5 >/dev/null; then ok "$2"; else
		not_ok "$2" "no policyd log line matches: $1" "$(tail -3 "$T_POLICYD_LOG")"; fi
}

# --- 5 connections per 60 s per client -----------------------------------
for i in 1 2 3 4 5; do
	out=$(mail 127.0.0.20 "c$i@nowhere.test" u1@example.test)
	accepted "$out" "connection $i of 127.0.0.20 in 60 s: accepted"
done
out=$(mail 127.0.0.20 c6@nowhere.test u1@example.test)
assert_match "$out" '<\*\* +421 4\.7\.0 .*Rate limit exceeded \(client-connections\), try again in 1[0-2] seconds' \
	"6th connection in 60 s: 421 4.7.0 at CONNECT"
assert_no_match "$out" 'Ok: queued' "6th connection: nothing queued"
policy_log 'ratelimit=over client=unknown\[127\.0\.0\.20\] .*rule=client-connections retry_in=1[0-2]' \
	"log: ratelimit=over with the rule and the wait"
out=$(mail 127.0.0.21 c7@nowhere.test u1@example.test)
accepted "$out" "another client is counted apart: accepted"
key='sluice:rl:{ip:127.0.0.20}:in:conn:5/60'
ttl=$(redis_cli PTTL "$key")
if [ "$ttl" -gt 0 ] 2>/dev/null && [ "$ttl" -le 60000 ]; then
	ok "the client's key $key has a TTL within the window ($ttl ms)"
else
	not_ok "the client's key has a TTL within the window" "PTTL $key: $ttl" \
		"$(redis_cli --scan --pattern 'sluice:rl:*')"
fi
redis_cli SADD sluice:ratelimit:exempt:ip 127.0.0.20 >/dev/null
sleep 1.5
out=$(mail 127.0.0.20 c8@nowhere.test u1@example.test)
accepted "$out" "in sluice:ratelimit:exempt:ip (redis-cli SADD): accepted at once"
redis_cli SREM sluice:ratelimit:exempt:ip 127.0.0.20 >/dev/null
sleep 1.5
out=$(mail 127.0.0.20 c9@nowhere.test u1@example.test)
assert_match "$out" '421 4\.7\.0 .*Rate limit exceeded' "SREM: the limit applies again"
redis_cli SADD sluice:permit:ip 127.0.0.20 >/dev/null
sleep 1.5
out=$(mail 127.0.0.20 c10@nowhere.test u1@example.test)
accepted "$out" "a permitted client (sluice:permit:ip) skips the inbound rules"
redis_cli SREM sluice:permit:ip 127.0.0.20 >/dev/null
# trusted_networks (127.0.0.1) are outbound: the inbound rule is not theirs
for i in 1 2 3 4 5 6; do
	out=$(mail 127.0.0.1 "t$i@example.test" "x$i@example.test")
done
accepted "$out" "6th connection from a trusted network: an inbound rule does not count it"

# --- messages per sender, at END-OF-MESSAGE -----------------------------
for i in 1 2; do
	out=$(mail 127.0.0.30 bulk@sender.test "m$i@example.test")
	accepted "$out" "message $i of bulk@sender.test: accepted"
done
out=$(mail 127.0.0.31 bulk@sender.test m3@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*Rate limit exceeded \(sender-messages\)' \
	"3rd message of the sender in 60 s (from another client): 450 4.7.1 after DATA"
policy_log 'ratelimit=over .*from=<bulk@sender\.test> .*rule=sender-messages' "log: sender-messages over"

# --- 26 recipients: the 26th gets 452 4.5.3, a new transaction delivers it --
rcpts=
for i in $(seq 1 26); do rcpts="$rcpts${rcpts:+,}r$i@example.test"; done
out=$(mail 127.0.0.40 many@sender.test "$rcpts" --header "Subject: rl many")
n250=$(printf '%s\n' "$out" | grep -cE '<- +250 2\.1\.5 Ok')
assert_eq "$n250" 25 "25 recipients accepted"
assert_match "$out" '<~?\*\* +452 4\.5\.3 .*Too many recipients' "the 26th recipient: 452 4.5.3 Too many recipients"
assert_match "$out" 'RCPT TO:<r26@example\.test>' "... and it is r26"
accepted "$out" "the message is queued for the first 25"
f=$(wait_delivered internal "Subject: rl many") && ok "delivered to the sink" || not_ok "not delivered"
out=$(mail 127.0.0.40 many@sender.test r26@example.test --header "Subject: rl the 26th")
accepted "$out" "a new transaction with the 26th recipient: accepted"
wait_delivered internal "Subject: rl the 26th" >/dev/null && ok "the 26th is delivered (sink side)" ||
	not_ok "the 26th is not delivered"
policy_log 'max_recipients=over .*to=<r26@example\.test> limit=25' "log: max_recipients=over"

# --- two daemons, one Redis, one limit ----------------------------------
second_conf=$T_STATE/sluice-b.conf
sed -e "s|$T_STATE/policyd.sock|$T_STATE/policyd-b.sock|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$second_conf"
in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$second_conf" 2>"$T_STATE/policyd-b.log" &
bpid=$!
wait_for 10 test -S "$T_STATE/policyd-b.sock"
B=$T_STATE/policyd-b.sock
answers=
for s in "$T_POLICYD_SOCK" "$B" "$T_POLICYD_SOCK" "$B" "$T_POLICYD_SOCK" "$B" "$B"; do
	a=$(policy_request "$s" protocol_state=CONNECT client_address=192.0.2.99)
	case $a in
	*'action=DUNNO'*) answers="${answers}d" ;;
	*'421 4.7.0'*) answers="${answers}R" ;;
	*) answers="${answers}?" ;;
	esac
done
assert_eq "$answers" "dddddRR" "CONNECT alternately on two daemons: 5 pass, the 6th and 7th refused by either"
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null

# --- keys expire ---------------------------------------------------------
for i in 1 2 3; do
	a=$(policy_request "$T_POLICYD_SOCK" protocol_state=RCPT client_address=192.0.2.98 \
		sasl_username=expirer sender=a@nowhere.test recipient="e$i@example.test")
done
assert_match "$a" 'action=450 4\.7\.1 Rate limit exceeded \(sasl-short\)' \
	"outbound per SASL user: the 3rd recipient in 2 s is refused"
k='sluice:rl:{sasl:expirer}:out:rcpt:2/2'
ttl=$(redis_cli PTTL "$k")
if [ "$ttl" -gt 0 ] 2>/dev/null && [ "$ttl" -le 2000 ]; then
	ok "the SASL user's key has a TTL within its 2 s window ($ttl ms)"
else
	not_ok "the SASL user's key has a TTL within its 2 s window" "PTTL $k: $ttl"
fi
sleep 2.2
assert_eq "$(redis_cli EXISTS "$k")" 0 "... and is gone 2.2 s later"
a=$(policy_request "$T_POLICYD_SOCK" protocol_state=RCPT client_address=192.0.2.98 \
	sasl_username=expirer sender=a@nowhere.test recipient=e4@example.test)
assert_match "$a" 'action=DUNNO' "after the window the SASL user may send again"
# PTTL -1: a key without a TTL; -2: gone since the scan (it expired: fine)
nottl=$(redis_cli --scan --pattern 'sluice:rl:*' | while read -r x; do
	[ "$(redis_cli PTTL "$x")" != -1 ] || echo "$x"; done)
assert_eq "$nottl" "" "every sluice:rl: key has a TTL"

done_testing
