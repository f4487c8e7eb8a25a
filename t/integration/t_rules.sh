#!/bin/bash
# t_rules.sh - sluice-milter's permitted/forbidden addresses and internal
# addresses through a real Postfix: the SafeUTM manual's four worked
# priority examples, /regex/ mailboxes, a redis-cli change effective within
# a second, an internal address refused from outside and accepted from a
# trusted or a SASL-authenticated client, and Redis down since start under both milter.fail_open
# settings. Codes are seen by the sending client (swaks), deliveries at
# the sink. policyd is off: these are the milter's answers.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-rules-$$" || bail_out "harness did not start"

n=0
# mail FROM_IP SENDER RCPT... [--swaks-options]: one message with a unique subject (number
# $n); swaks' transcript in $out
mail() {
	local ip=$1 from=$2 to=$3 extra=()
	shift 3
	while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do to="$to,$1"; shift; done
	extra=("$@")	# swaks options after the recipients
	n=$((n + 1))
	out=$(send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: rules-$$-$n" --body "test $n" "${extra[@]}")
}
# reply_to VERB: the server's first reply line after the client's VERB
# command ("MAIL FROM", "RCPT TO") in $out
reply_to() { printf '%s\n' "$out" | awk -v v=" -> $1:" 'index($0, v) == 1 { f = 1; next } f && /^<(\*\*|-) / { print; exit }'; }
delivered() { wait_delivered internal "Subject: rules-$$-$1" "${2:-10}" >/dev/null; }
never_delivered() { sleep 1; [ "$(sink_count internal "Subject: rules-$$-$1")" = 0 ]; }
# wait_list KEY MEMBER: the milter's cache saw the change (its log says so)
wait_list() { milter_log_grep "lists: $1 reloaded" 5 >/dev/null; }

# --- the manual's four worked examples --------------------------------------
redis_cli SADD sluice:forbid:ip 127.0.0.20 >/dev/null
redis_cli SADD sluice:permit:domain good.test >/dev/null
redis_cli SADD sluice:permit:ip 127.0.0.21 >/dev/null
redis_cli SADD sluice:forbid:domain bad.test >/dev/null
redis_cli SADD sluice:forbid:mailbox spammer@good.test '/.*@ttt-point\.test/' >/dev/null
redis_cli SADD sluice:permit:mailbox boss@bad.test >/dev/null
wait_for 5 milter_log_grep 'lists: sluice:permit:mailbox reloaded' 1 || sleep 1

# 1. forbidden IP, permitted domain: blocked (the IP is decided first)
mail 127.0.0.20 someone@good.test user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *550 5\.7\.1' "ex.1 forbidden IP + permitted domain: 550 5.7.1 at MAIL FROM"
assert_no_match "$out" 'queued as' "ex.1: not queued"
check "ex.1: log rules=forbid-ip" milter_log_grep 'milter=reject rules=forbid-ip client=[^ ]*\[127\.0\.0\.20\]' 5
check "ex.1: nothing delivered" never_delivered $n

# 2. permitted IP, forbidden domain: blocked, at MAIL FROM
mail 127.0.0.21 someone@bad.test user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *550 5\.7\.1' "ex.2 permitted IP + forbidden domain: 550 5.7.1 at MAIL FROM"
check "ex.2: log rules=forbid-domain" milter_log_grep 'rules=forbid-domain .*from=<someone@bad\.test>' 5
check "ex.2: nothing delivered" never_delivered $n

# 3. permitted domain, forbidden mailbox of it: blocked
mail 127.0.0.22 spammer@good.test user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *550 5\.7\.1' "ex.3 permitted domain + forbidden mailbox: 550 5.7.1 at MAIL FROM"
check "ex.3: log rules=forbid-mailbox" milter_log_grep 'rules=forbid-mailbox .*from=<spammer@good\.test>' 5
check "ex.3: nothing delivered" never_delivered $n

# 4. permitted mailbox, forbidden domain: passes, and is marked permitted
mail 127.0.0.22 boss@bad.test user@example.test
assert_match "$out" 'queued as' "ex.4 permitted mailbox + forbidden domain: accepted"
qid=$(queue_id_of "$out")
check "ex.4: delivered" delivered $n
check "ex.4: log rules=permit-mailbox permitted=yes" \
	milter_log_grep "$qid: milter=accept .*rules=permit-mailbox permitted=yes" 5

# the others of the domain stay forbidden; a /regex/ mailbox; a permitted
# domain's other mailboxes pass and are permitted; no rule: not permitted
mail 127.0.0.22 other@bad.test user@example.test
assert_match "$out" '<\*\* *550 5\.7\.1' "another mailbox of the forbidden domain: 550 5.7.1"
mail 127.0.0.22 anyone@TTT-point.test user@example.test
assert_match "$out" '<\*\* *550 5\.7\.1' "/regex/ forbidden mailbox (any case): 550 5.7.1"
check "regex: log rules=forbid-mailbox" milter_log_grep 'rules=forbid-mailbox .*from=<anyone@ttt-point\.test>' 5
mail 127.0.0.22 friend@good.test user@example.test
qid=$(queue_id_of "$out")
assert_match "$out" 'queued as' "permitted domain: accepted"
check "permitted domain: log rules=permit-domain permitted=yes" \
	milter_log_grep "$qid: .*rules=permit-domain permitted=yes" 5
mail 127.0.0.21 friend@nowhere.test user@example.test
qid=$(queue_id_of "$out")
check "permitted IP alone: log rules=permit-ip permitted=yes" \
	milter_log_grep "$qid: .*rules=permit-ip permitted=yes" 5
mail 127.0.0.22 friend@nowhere.test user@example.test
qid=$(queue_id_of "$out")
line=$(milter_log_grep "$qid: milter=accept" 5)
assert_no_match "$line" 'rules=|permitted=' "no rule matched: neither rules= nor permitted= in the log"
# the null sender has no mailbox nor domain: only IP rules apply
mail 127.0.0.22 '' user@example.test
assert_match "$out" 'queued as' "null sender <> from an unlisted IP: accepted"

# --- a redis-cli change is effective within a second, without restart -------
mail 127.0.0.22 fresh@new.test user@example.test
assert_match "$out" 'queued as' "before the change: fresh@new.test accepted"
redis_cli SADD sluice:forbid:mailbox fresh@new.test >/dev/null
sleep 1
mail 127.0.0.22 fresh@new.test user@example.test
assert_match "$out" '<\*\* *550 5\.7\.1' "SADD forbid:mailbox: refused 1 s later"
redis_cli SREM sluice:forbid:mailbox fresh@new.test >/dev/null
redis_cli SADD sluice:forbid:ip 127.0.0.23 >/dev/null
sleep 1
mail 127.0.0.22 fresh@new.test user@example.test
assert_match "$out" 'queued as' "SREM: accepted again 1 s later"
mail 127.0.0.23 fresh@new.test user@example.test
assert_match "$out" '<\*\* *550 5\.7\.1' "SADD forbid:ip: refused 1 s later"

# --- internal addresses -------------------------------------------------------
redis_cli SADD sluice:internal staff@example.test >/dev/null
sleep 1
mail 127.0.0.22 someone@outside.test staff@example.test
assert_match "$(reply_to 'RCPT TO')" '^<\*\* *550 5\.7\.1' "internal address from outside: 550 5.7.1 at RCPT"
check "internal: log rules=internal" milter_log_grep 'milter=reject rules=internal .*rcpt=<staff@example\.test>' 5
check "internal from outside: nothing delivered" never_delivered $n
mail 127.0.0.22 someone@outside.test Staff@Example.test user@example.test
assert_match "$out" 'queued as' "internal + normal recipient from outside: the message is queued"
f=$(wait_delivered internal "Subject: rules-$$-$n" 10)
check "... for the normal recipient only" grep -qi '^X-Rcpt-Args: <user@example.test>' "$f"
if grep -qi '^X-Rcpt-Args: <staff@example.test>' "$f"; then not_ok "... the internal one is not delivered"; else ok "... the internal one is not delivered"; fi
mail 127.0.0.1 colleague@example.test staff@example.test
assert_match "$out" 'queued as' "internal address from a trusted client: accepted"
check "internal from trusted: delivered" delivered $n
# a SASL-authenticated client outside the trusted networks is inside too
# (Cyrus SASL with an sasldb, set up as t_dkim.sh does)
SASL=$T_STATE/sasl
mkdir -p -m 0755 "$SASL" "$T_PF/sasl"
echo secret | saslpasswd2 -p -c -f "$SASL/sasldb2" -u example.test alice || bail_out "saslpasswd2 failed"
chown postfix "$SASL/sasldb2"
chmod 600 "$SASL/sasldb2"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
	"$SASL/sasldb2" >"$T_PF/sasl/smtpd.conf"
harness_postconf "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" \
	"smtpd_sasl_path = smtpd" "cyrus_sasl_config_path = $T_PF/sasl" \
	"smtpd_sasl_security_options = noanonymous" || bail_out "postconf for SASL failed"
sleep 1
mail 127.0.0.22 alice@example.test staff@example.test --auth PLAIN --auth-user alice@example.test --auth-password secret
assert_match "$out" 'queued as' "internal address from a SASL-authenticated outside client: accepted"
check "internal from authenticated: delivered" delivered $n
check "... seen by the milter as authenticated" \
	milter_log_grep "$(queue_id_of "$out"): .*client=unknown\[127\.0\.0\.22\].*direction=outbound sasl_username=alice" 5

# a sender whose local part is too long to parse (Postfix takes it) is
# still matched by its domain, not let through as if it had none
long=$(printf 'x%.0s' $(seq 1 70))
mail 127.0.0.22 "$long@bad.test" user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *550 5\.7\.1' "unparsable sender (70-octet local part) of a forbidden domain: 550 5.7.1"

# --- Redis down after the lists loaded: the last snapshot stays ---------------
harness_stop_daemon redis
mail 127.0.0.20 someone@nowhere.test user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *550 5\.7\.1' "Redis down, lists loaded before: forbidden IP still refused"
mail 127.0.0.22 boss@bad.test user@example.test
assert_match "$out" 'queued as' "Redis down, lists loaded before: permitted mailbox still accepted"

# --- Redis down since start: milter.fail_open ---------------------------------
harness_stop_daemon milter
harness_start_daemon milter || bail_out "milter did not start without Redis"
mail 127.0.0.20 someone@good.test user@example.test
assert_match "$out" 'queued as' "fail_open=true, no lists ever loaded: accepted without rules (even a forbidden IP)"
qid=$(queue_id_of "$out")
check "fail_open=true: delivered" delivered $n
check "fail_open=true: a warning" milter_log_grep 'rules: the Redis lists were never loaded' 5
check "fail_open=true: log rules=unavailable" milter_log_grep "$qid: .*rules=unavailable" 5

HARNESS_MILTER_EXTRA='fail_open = false;'
_write_sluice_conf
harness_stop_daemon milter
harness_start_daemon milter || bail_out "milter did not start without Redis"
mail 127.0.0.22 someone@nowhere.test user@example.test
assert_match "$(reply_to 'MAIL FROM')" '^<\*\* *451 4\.3\.0' "fail_open=false, no lists ever loaded: 451 4.3.0"
check "fail_open=false: nothing delivered" never_delivered $n
# Redis back: the lists load and the rules apply again, no restart
before=$(log_lines "$T_MILTER_LOG")
_start_redis || bail_out "redis did not restart"
redis_cli SADD sluice:forbid:ip 127.0.0.20 >/dev/null
_loaded_again() { tail -n +"$((before + 1))" "$T_MILTER_LOG" | grep -Eq 'lists: (loaded|sluice:forbid:ip reloaded)'; }
check "Redis back: the milter loads the lists" wait_for 10 _loaded_again
mail 127.0.0.22 someone@nowhere.test user@example.test
assert_match "$out" 'queued as' "Redis back: accepted again"
mail 127.0.0.20 someone@nowhere.test user@example.test
assert_match "$out" '<\*\* *550 5\.7\.1' "Redis back: rules apply again"

done_testing
