#!/bin/bash
# t_smoke.sh - one message through Postfix, sluice-policyd and sluice-milter
# to the internal server; no open relay; trusted clients relay to the
# internet.
set -u
. "$(dirname "$0")/../lib.sh"
trap harness_stop EXIT

harness_start "sluice-t-$$" || bail_out "harness starts"
ok "harness started ($HARNESS_NAME)"

# The test zone answers inside the namespace.
assert_eq "$(dns_query mail.sender.test A)" 127.0.0.9 "DNS: A mail.sender.test"
assert_eq "$(dns_query 127.0.0.9 PTR)" mail.sender.test. "DNS: PTR 127.0.0.9"
assert_eq "$(dns_query 127.0.0.20 PTR)" NXDOMAIN "DNS: 127.0.0.20 has no PTR"
assert_eq "$(dns_query sender.test TXT)" "v=spf1 ip4:127.0.0.9 ip4:127.0.0.10 -all" "DNS: SPF of sender.test"
assert_eq "$(redis_cli ping)" PONG "redis answers on its unix socket"

# --- inbound: outside client to a local mailbox --------------------------
rcpt="smoke-$$@example.test"
subj="smoke test $$"
out=$(send_mail --local-interface 127.0.0.9 --from "alice@sender.test" \
	--to "$rcpt" --header "Subject: $subj")
assert_match "$out" '^<-  250 [0-9.]+ .*[Qq]ueued as [0-9A-Za-z]+' "inbound: 250 at end of DATA"
qid=$(queue_id_of "$out")
if [ -n "$qid" ]; then ok "queue ID $qid"; else not_ok "queue ID in the 250 reply"; fi

if f=$(wait_delivered internal "^Subject: $subj"); then
	ok "inbound: message arrived at the internal server"
	assert_match "$(cat "$f")" "^X-Rcpt-Args: <$rcpt>" "inbound: envelope recipient kept"
else
	not_ok "inbound: message arrived at the internal server"
	not_ok "inbound: envelope recipient kept"
fi
assert_eq "$(sink_count internet "^Subject: $subj")" 0 "inbound: nothing went to the internet"

line=$(maillog_grep "$qid: to=<$rcpt>.*status=sent")
assert_match "$line" 'relay=127\.0\.0\.1\[127\.0\.0\.1\]:2526' "maillog: delivered to the internal server"
line=$(maillog_grep "$qid: client=mail\.sender\.test\[127\.0\.0\.9\]")
assert_match "$line" "$qid: client=" "maillog: client name from the test zone (forward-confirmed PTR)"

line=$(policyd_log_grep "to=<$rcpt>")
assert_match "$line" 'sluice-policyd\[[0-9]+\]: ' "policyd: logged the request"
# The decision comes first, key=value, after NOQUEUE (no queue ID at RCPT);
# which decision depends on the configured checks (all pass here).
assert_match "$line" 'sluice-policyd\[[0-9]+\]: NOQUEUE: [a-z_]+=[A-Za-z_-]+ ' "policyd: NOQUEUE: decision=... first"
assert_no_match "$line" '(action=(defer|reject)|=defer |=reject )' "policyd: no defer/reject decision"
assert_match "$line" 'client=mail\.sender\.test\[127\.0\.0\.9\]' "policyd: client name[addr]"
assert_match "$line" 'from=<alice@sender\.test>' "policyd: sender"
assert_eq "$(printf '%s\n' "$line" | grep -c .)" 1 "policyd: one line for one request"

line=$(milter_log_grep "$qid: ")
assert_match "$line" "sluice-milter\[[0-9]+\]: $qid: .*milter=" "milter: logged the message by queue ID"
assert_match "$line" 'from=<alice@sender\.test>' "milter: sender"
assert_match "$line" 'nrcpt=1' "milter: nrcpt=1"
assert_eq "$(printf '%s\n' "$line" | grep -c .)" 1 "milter: one line for one message"

# --- no open relay -------------------------------------------------------
out=$(send_mail --local-interface 127.0.0.9 --from "alice@sender.test" \
	--to "relay-$$@outside.test")
assert_match "$out" '^<\*\* 554 5\.7\.1 .*[Rr]elay access denied' "outside client to outside domain: 554 5.7.1 relay access denied"
maillog_grep "NOQUEUE: reject: RCPT from mail\.sender\.test\[127\.0\.0\.9\]: 554 5\.7\.1 <relay-$$@outside\.test>" >/dev/null
check "maillog: relay attempt rejected" test $? -eq 0

# --- trusted client relays to the internet -------------------------------
subj2="outbound $$"
out=$(send_mail --local-interface 127.0.0.1 --from "user@example.test" \
	--to "far-$$@outside.test" --header "Subject: $subj2")
assert_match "$out" '^<-  250 [0-9.]+ .*[Qq]ueued as' "trusted client to outside domain: accepted"
if f=$(wait_delivered internet "^Subject: $subj2"); then
	ok "outbound: message went to the internet sink"
	assert_match "$(cat "$f")" "^X-Rcpt-Args: <far-$$@outside\.test>" "outbound: envelope recipient"
else
	not_ok "outbound: message went to the internet sink"
	not_ok "outbound: envelope recipient"
fi
assert_eq "$(sink_count internal "^Subject: $subj2")" 0 "outbound: nothing went to the internal server"
policyd_log_grep "to=<far-$$@outside\.test>" >/dev/null
check "policyd: asked for the trusted relay recipient" test $? -eq 0
# Postfix rejected the open-relay attempt before asking the policy service.
assert_no_match "$(cat "$T_POLICYD_LOG")" "to=<relay-$$@outside\.test>" "policyd: never asked about the refused relay recipient"

done_testing
