#!/bin/bash
# t_access.sh - policyd's access checks through a real Postfix, seen from
# the sending side: permitted/forbidden IP, mailbox and domain with the
# SafeUTM priority rules (its four examples), a permitted sender skipping
# greylisting; require_reverse_dns (no PTR, PTR not forward-confirmed,
# 450 and 550, trusted/SASL/permitted exempt); enforce_sender_login with
# Cyrus SASL (sasldb): own mailbox, alias, the login's Redis set accepted,
# anything else 553 5.7.1.
set -u
. "$(dirname "$0")/../lib.sh"

GL='greylist = { delay = 120; auto_allowlist_clients = 0; allow_networks = [ ]; spf_bypass = false; spf_domain_triplet = false; };'
HARNESS_POLICYD_EXTRA=$GL
HARNESS_NO_MILTER=1
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

mail() {	# mail CLIENT FROM TO [swaks args]
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: access test $from $to" "$@"
}
expect() {	# expect OUTPUT REGEX DESC: the reply to RCPT (or the queue)
	assert_match "$1" "$2" "$3"
}
queued='<- +250 2\.0\.0 Ok: queued'
forbidden='<\*\* +550 5\.7\.1 '
greylisted='<\*\* +450 4\.7\.1 .*Greylisted'
policy_log() {	# policy_log REGEX DESC
	if policyd_log_grep "$1" 5 >/dev/null; then ok "$2"; else
		not_ok "$2" "no policyd log line matching: $1" "$(tail -5 "$T_POLICYD_LOG")"
	fi
}
# reconfigure POLICYD_EXTRA: rewrite sluice.conf, SIGHUP, wait for the reload
reconfigure() {
	local n
	n=$(log_lines "$T_POLICYD_LOG")
	HARNESS_POLICYD_EXTRA="$GL $1"
	_write_sluice_conf
	harness_sighup policyd
	wait_for 5 _policyd_reloaded "$n" || bail_out "policyd did not reload: $(tail -3 "$T_POLICYD_LOG")"
}
_policyd_reloaded() { tail -n +"$(($1 + 1))" "$T_POLICYD_LOG" | grep -q 'configuration reloaded'; }

# --- permitted and forbidden: the SafeUTM manual's examples ----------------
# client 127.0.0.9 is mail.sender.test, 127.0.0.10 mail2.sender.test
out=$(mail 127.0.0.9 a@ttt-point.test u1@example.test)
expect "$out" "$greylisted" "control: an unlisted sender is greylisted"
redis_cli SADD sluice:forbid:ip 127.0.0.9 >/dev/null
redis_cli SADD sluice:permit:domain ttt-point.test >/dev/null
redis_cli SADD sluice:forbid:domain spam.test >/dev/null
redis_cli SADD sluice:permit:mailbox boss@spam.test >/dev/null
redis_cli SADD sluice:forbid:mailbox '/bad.*@ttt-point\.test/' >/dev/null
redis_cli SADD sluice:permit:ip 127.0.0.10 >/dev/null
redis_cli SADD sluice:forbid:ip 127.0.0.10 >/dev/null
sleep 1.1
out=$(mail 127.0.0.9 a@ttt-point.test u2@example.test)
expect "$out" "$forbidden.*[Aa]ccess denied" "1. a forbidden IP blocks mail from a permitted domain: 550 5.7.1"
policy_log 'access=forbid-ip client=mail\.sender\.test\[127\.0\.0\.9\] from=<a@ttt-point\.test>' "log: access=forbid-ip"
out=$(mail 127.0.0.11 boss@spam.test u3@example.test)
expect "$out" "$queued" "2. a permitted mailbox passes although its domain is forbidden (and is not greylisted)"
policy_log 'from=<boss@spam\.test> to=<u3@example\.test> .*access=permit-mailbox' "log: access=permit-mailbox"
out=$(mail 127.0.0.11 badguy@ttt-point.test u4@example.test)
expect "$out" "$forbidden" "3. a forbidden mailbox is blocked although its domain is permitted"
policy_log 'access=forbid-mailbox .*from=<badguy@ttt-point\.test>' "log: access=forbid-mailbox"
out=$(mail 127.0.0.10 x@spam.test u5@example.test)
expect "$out" "$queued" "4. at one level permitted wins: an IP in both lists passes, though its sender domain is forbidden"
out=$(mail 127.0.0.11 y@spam.test u6@example.test)
expect "$out" "$forbidden" "a forbidden domain is refused"
policy_log 'access=forbid-domain .*from=<y@spam\.test>' "log: access=forbid-domain"
out=$(mail 127.0.0.11 z@ttt-point.test u7@example.test)
expect "$out" "$queued" "a permitted domain skips greylisting"
policy_log 'greylist=allowlisted .*from=<z@ttt-point\.test>.*access=permit-domain' "log: greylisting skipped for the permitted domain"
out=$(mail 127.0.0.11 y@sub.spam.test u8@example.test)
expect "$out" "$greylisted" "a subdomain of a forbidden domain is not forbidden (exact domains)"
# the trusted network is not above the lists: a forbidden sender from
# the inside is refused too (it is the admin's explicit word)
out=$(mail 127.0.0.1 y@spam.test someone@outside.test)
expect "$out" "$forbidden" "a forbidden domain is refused from a trusted client too"
redis_cli SREM sluice:forbid:ip 127.0.0.9 >/dev/null
sleep 1.1
out=$(mail 127.0.0.9 a@ttt-point.test u9@example.test)
expect "$out" "$queued" "SREM of the forbidden IP: the permitted domain passes within 1 s"
# the earliest stage: a request at CONNECT (no sender yet) already knows the IP
redis_cli SADD sluice:forbid:ip 127.0.0.13 >/dev/null
sleep 1.1
assert_match "$(policy_request "$T_POLICYD_SOCK" protocol_state=CONNECT client_address=127.0.0.13 '!sender' '!recipient')" \
	'action=550 5\.7\.1 ' "a forbidden IP is refused at CONNECT"
redis_cli DEL sluice:forbid:ip sluice:permit:ip sluice:forbid:domain sluice:permit:domain \
	sluice:forbid:mailbox sluice:permit:mailbox >/dev/null

# --- require_reverse_dns ---------------------------------------------------
# 127.0.0.20: no PTR at all; 127.0.0.30: PTR mail.unconfirmed.test whose A
# record is 127.0.0.31; 127.0.0.9: forward-confirmed; 127.0.1.5 trusted.
out=$(mail 127.0.0.20 r1@nowhere.test u1@example.test)
expect "$out" "$greylisted" "control: off, a client without PTR is only greylisted"
reconfigure 'require_reverse_dns = true;'
out=$(mail 127.0.0.20 r2@nowhere.test u1@example.test)
expect "$out" '<\*\* +450 4\.7\.25 .*no reverse DNS' "no PTR: 450 4.7.25"
policy_log 'reverse_dns=defer client=unknown\[127\.0\.0\.20\].* reason=no-ptr' "log: reverse_dns=defer reason=no-ptr"
out=$(mail 127.0.0.30 r3@nowhere.test u1@example.test)
expect "$out" '<\*\* +450 4\.7\.25 .*does not resolve back' "PTR not forward-confirmed: 450 4.7.25"
policy_log 'reverse_dns=defer .*\[127\.0\.0\.30\].* reason=ptr-mismatch' "log: reason=ptr-mismatch"
out=$(mail 127.0.0.9 r4@nowhere.test u1@example.test)
expect "$out" "$greylisted" "forward-confirmed PTR: on to greylisting"
out=$(mail 127.0.1.5 r5@nowhere.test someone@outside.test)
expect "$out" "$queued" "trusted client without PTR: exempt"
redis_cli SADD sluice:permit:ip 127.0.0.21 >/dev/null
sleep 1.1
out=$(mail 127.0.0.21 r6@nowhere.test u1@example.test)
expect "$out" "$queued" "permitted client without PTR: exempt"
reconfigure 'require_reverse_dns = true; reverse_dns_code = 550;'
out=$(mail 127.0.0.22 r7@nowhere.test u1@example.test)
expect "$out" '<\*\* +550 5\.7\.25 ' "reverse_dns_code = 550: 550 5.7.25"
redis_cli DEL sluice:permit:ip >/dev/null

# --- enforce_sender_login, with SASL through Postfix ---------------------
SASL=$T_STATE/sasl
mkdir -p -m 0755 "$SASL" "$T_PF/sasl"
for u in alice bob; do
	echo secret | saslpasswd2 -p -c -f "$SASL/sasldb2" -u example.test "$u" ||
		bail_out "saslpasswd2 failed"
done
chown postfix "$SASL/sasldb2"
chmod 600 "$SASL/sasldb2"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
	"$SASL/sasldb2" >"$T_PF/sasl/smtpd.conf"
harness_postconf "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" \
	"smtpd_sasl_path = smtpd" "cyrus_sasl_config_path = $T_PF/sasl" \
	"smtpd_sasl_security_options = noanonymous" || bail_out "postconf for SASL failed"
sleep 1
auth() {	# auth USER FROM [TO]: a SASL-authenticated message from outside
	mail 127.0.0.20 "$2" "${3:-friend@outside.test}" --auth PLAIN \
		--auth-user "$1@example.test" --auth-password secret
}
out=$(auth alice bob@example.test)
expect "$out" "$queued" "control: off, alice may send as bob"
reconfigure 'enforce_sender_login = true;'
redis_cli SADD sluice:alias:sales@example.test alice@example.test carol@example.test >/dev/null
redis_cli SADD sluice:alias:info@example.test bob@example.test >/dev/null
redis_cli SADD sluice:login:alice@example.test alice.smith@partner.test >/dev/null
sleep 1.1
out=$(auth alice alice@example.test)
expect "$out" "$queued" "alice as her own mailbox: accepted"
out=$(auth alice Alice@Example.TEST)
expect "$out" "$queued" "her own mailbox in other case: accepted"
out=$(auth alice sales@example.test)
expect "$out" "$queued" "alice as an alias whose targets include her: accepted"
policy_log 'from=<sales@example\.test>.* sender_login=alias' "log: sender_login=alias"
out=$(auth alice alice.smith@partner.test)
expect "$out" "$queued" "alice as a member of sluice:login:alice@example.test: accepted"
policy_log 'from=<alice\.smith@partner\.test>.* sender_login=login-set' "log: sender_login=login-set"
out=$(auth alice bob@example.test)
expect "$out" '<\*\* +553 5\.7\.1 ' "alice as bob: 553 5.7.1"
policy_log 'sender_login=mismatch .*from=<bob@example\.test>.* reason=not-owned' "log: sender_login=mismatch"
out=$(auth alice info@example.test)
expect "$out" '<\*\* +553 5\.7\.1 ' "alice as an alias of bob only: 553 5.7.1"
out=$(auth bob info@example.test)
expect "$out" "$queued" "bob as that alias: accepted"
out=$(auth bob alice.smith@partner.test)
expect "$out" '<\*\* +553 5\.7\.1 ' "bob as a member of alice's set: 553 5.7.1"
out=$(auth alice '<>')
expect "$out" "$queued" "the null sender passes"
out=$(mail 127.0.0.9 bob@example.test u1@example.test)
expect "$out" "$greylisted" "without SASL: not this check's business (greylisted as usual)"
# Redis gone: with fail_open (the default) a mismatch cannot be proven, the
# mail passes; the own mailbox needs no Redis at all
redis_cli SHUTDOWN NOSAVE >/dev/null 2>&1
sleep 0.5
out=$(auth alice alice@example.test)
expect "$out" "$queued" "Redis down: her own mailbox still passes (snapshot, no Redis)"
out=$(auth alice bob@example.test)
expect "$out" "$queued" "Redis down, fail_open: the unprovable case passes"
policy_log 'sender/login check without Redis \(fail_open: mail passes\)' "log: warned once"
check "policyd still running" harness_pid policyd
done_testing
