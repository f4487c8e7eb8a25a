#!/bin/bash
# t_postconf.sh - `sluice-ctl postconf` applied to the test Postfix: its
# main.cf lines (postconf -e) and master.cf lines (postconf -Me) pass
# `postfix check` with no output, Postfix reloads, and mail flows through
# the result:
#   - inbound mail to a relay domain reaches that domain's next hop from
#     domains.relay, with policyd and the milter consulted;
#   - a sender rule's mail goes to its relay host (before: to the internet);
#   - a sender rule with SASL and tls = "encrypt": the admin's table answers
#     the key Postfix looks up (postmap -q), Postfix logs in to the rule's
#     smarthost inside TLS with it (t/tools/smarthost.py), a host without
#     STARTTLS gets no password, and sluice-ctl never prints the password;
#   - the default rule with implicit TLS and SASL: relayhost through the
#     sluice-smtps transport (smtp_tls_wrappermode), the login by [host]:port;
#   - an unresolvable sender domain is refused (before: accepted);
#   - the rate-limit hooks: a 4th connection of a client gets 421 4.7.0 at
#     CONNECT, a 2nd message of a sender 450 4.7.1 at end of DATA;
#   - postscreen's greeting pause: a client talking before the banner is
#     refused at RCPT (550 5.5.1), one that waits is not;
#   - policyd.fail_open = false: with policyd down, 451 4.3.5 at RCPT.
set -u
. "$(dirname "$0")/../lib.sh"

CTL=$SLUICE_BUILD/sluice-ctl
[ -x "$CTL" ] || bail_out "$CTL not found: run make"

harness_config() {
	cat <<EOF
user = "sluice";
redis = { socket = "$T_STATE/redis.sock"; timeout_ms = 100; };
domains = { local = [ "example.test" ]; relay = [ "relay.test|127.0.0.1:2526" ]; };
trusted_networks = [ "127.0.0.1/32", "127.0.1.0/24" ];
milter = { listen = "unix:$T_STATE/milter.sock"; pid_file = "$T_STATE/milter.pid"; authserv_id = "mx.example.test"; };
policyd = { listen = "unix:$T_STATE/policyd.sock"; pid_file = "$T_STATE/policyd.pid";
  ratelimit = (
    { name = "pc-conn"; subject = "client"; count = "connections"; limit = 3; window = "60s"; },
    { name = "pc-msgs"; subject = "sender"; count = "messages"; limit = 1; window = "60s"; }
  );
};
postfix = {
  queue_lifetime = "2d";
  postscreen = { enabled = true; service = "127.0.0.1:25"; greet_wait = "2s"; };
  client_limits = { enabled = true; connections = 10; rate = 100; };
  relay_rules = (
    { type = "sender"; match = "boss@example.test"; host = "127.0.0.1"; port = 2528; },
    { type = "sender"; match = "sales.test"; host = "127.0.0.1"; port = 2530;
      tls = "encrypt"; sasl_user = "sales-login"; sasl_password_file = "$T_STATE/sasl_passwd"; },
    { type = "sender"; match = "plain.test"; host = "127.0.0.1"; port = 2531;
      tls = "encrypt"; sasl_user = "plain-login"; sasl_password_file = "$T_STATE/sasl_passwd"; },
    { type = "default"; host = "127.0.0.1"; port = 2532; tls = "encrypt"; implicit_tls = true;
      sasl_user = "smart-login"; sasl_password_file = "$T_STATE/sasl_passwd"; }
  );
};
EOF
}

trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"
# Two more servers: the sender rules' relay hosts.
mkdir -m 0755 "$T_STATE/sink-rule" && chown postfix: "$T_STATE/sink-rule"
_spawn sink-rule "$T_STATE/sink-rule.log" \
	smtp-sink -u postfix -d "$T_STATE/sink-rule/%H%M%S." 127.0.0.1:2528 1000
secret="pw-$$-Secret"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=smarthost.test \
	-keyout "$T_STATE/smarthost.key" -out "$T_STATE/smarthost.crt" 2>/dev/null ||
	bail_out "openssl: test certificate"
_spawn smarthost "$T_STATE/smarthost.out" "$T_PY" "$T_REPO/t/tools/smarthost.py" 2530 \
	"$T_STATE/smarthost.crt" "$T_STATE/smarthost.key" "$T_STATE/smarthost.log" sales-login "$secret"
_spawn sink-notls "$T_STATE/sink-notls.log" smtp-sink -u postfix 127.0.0.1:2531 1000
_spawn smarthost465 "$T_STATE/smarthost465.out" "$T_PY" "$T_REPO/t/tools/smarthost.py" 2532 \
	"$T_STATE/smarthost.crt" "$T_STATE/smarthost.key" "$T_STATE/smarthost465.log" smart-login \
	"$secret" implicit
_wait_ready smtp-sink-rule sink-rule _banner 2528 || bail_out "rule sink"
_wait_ready smarthost smarthost _banner 2530 || bail_out "test smarthost"
_wait_ready smtp-sink-notls sink-notls _banner 2531 || bail_out "sink without TLS"
wait_for 10 in_ns "$T_PY" -c 'import socket; socket.create_connection(("127.0.0.1", 2532), 1)' ||
	bail_out "implicit-TLS smarthost"

mail() {	# mail CLIENT FROM TO [swaks args]
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: pc $$ $ip $from $to" "$@"
}
rule_sink_has() { grep -lE -- "$1" "$T_STATE"/sink-rule/* >/dev/null 2>&1; }

# --- before: what the test Postfix does without our lines --------------------
out=$(mail 127.0.0.1 boss@example.test before@outside.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "before: trusted client's mail to the internet accepted"
wait_delivered internet "^X-Rcpt-Args: <before@outside\.test>" >/dev/null
check "before: boss@'s mail goes to the internet sink (no sender rule yet)" test $? -eq 0
out=$(mail 127.0.0.9 someone@nowhere.test pre@relay.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "before: unresolvable sender domain accepted"

# --- generate ----------------------------------------------------------------
"$CTL" -c "$T_CONF" postconf --main >"$T_STATE/main.lines" 2>"$T_STATE/ctl.err"
rc=$?
assert_eq "$rc" 1 "sluice-ctl postconf: exit 1 while the SASL table is missing"
assert_match "$(cat "$T_STATE/ctl.err")" "sasl_passwd: No such file" "it says the table is missing"

printf '@sales.test sales-login:%s\n@plain.test plain-login:%s\n[127.0.0.1]:2532 smart-login:%s\n' \
	"$secret" "$secret" "$secret" >"$T_STATE/sasl_passwd"
chmod 0600 "$T_STATE/sasl_passwd"
"$CTL" -c "$T_CONF" postconf --main >/dev/null 2>"$T_STATE/ctl.err"
assert_eq "$?" 1 "exit 1 while the table has no .db"
assert_match "$(cat "$T_STATE/ctl.err")" "no \.db yet: run postmap hash:$T_STATE/sasl_passwd" \
	"it says which postmap to run"
postmap -c "$T_PF" "hash:$T_STATE/sasl_passwd" || bail_out "postmap"
"$CTL" -c "$T_CONF" postconf --main >"$T_STATE/main.lines" 2>"$T_STATE/ctl.err"
assert_eq "$?" 0 "exit 0 once the table has the entry and its .db"
"$CTL" -c "$T_CONF" postconf --master >"$T_STATE/master.lines" 2>>"$T_STATE/ctl.err"
assert_eq "$?" 0 "--master: exit 0"
"$CTL" -c "$T_CONF" --json postconf >"$T_STATE/all.json" 2>>"$T_STATE/ctl.err"
check "--json: valid JSON with main and master" "$T_PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["main"] and d["master"], d' "$T_STATE/all.json"
all=$(cat "$T_STATE/main.lines" "$T_STATE/master.lines" "$T_STATE/ctl.err" "$T_STATE/all.json")
assert_no_match "$all" "$secret" "the password appears nowhere in sluice-ctl's output"

main=$(cat "$T_STATE/main.lines")
assert_match "$main" "^relay_domains = relay\.test$" "relay_domains from domains.relay"
assert_match "$main" "^transport_maps = inline:\{ relay\.test=smtp:\[127\.0\.0\.1\]:2526 \}$" \
	"transport_maps: the relay domain's next hop"
assert_match "$main" "^smtpd_recipient_restrictions = check_policy_service \{ unix:$T_STATE/policyd\.sock, default_action=DUNNO \}$" \
	"policy service at RCPT (fail_open: DUNNO)"
assert_match "$main" "^smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination$" \
	"relay control before the policy service"
assert_match "$main" "^smtpd_milters = unix:$T_STATE/milter\.sock$" "smtpd_milters from milter.listen"
assert_match "$main" "^maximal_queue_lifetime = 2d$" "maximal_queue_lifetime from queue_lifetime"

# --- apply -------------------------------------------------------------------
n=0
while IFS= read -r l; do
	postconf -c "$T_PF" -e "$l" || not_ok "postconf -e '$l'"
	n=$((n + 1))
done <"$T_STATE/main.lines"
while IFS= read -r l; do
	postconf -c "$T_PF" -Me "$l" || not_ok "postconf -Me '$l'"
	n=$((n + 1))
done <"$T_STATE/master.lines"
diag "applied $n lines"
out=$(script -qec "postfix -c $T_PF check" /dev/null </dev/null 2>&1)
rc=$?
assert_eq "$rc" 0 "postfix check: exit 0"
assert_eq "$out" "" "postfix check: no warnings"
out=$(postconf -c "$T_PF" -n 2>&1 >/dev/null)
assert_eq "$out" "" "postconf -n: no warnings about the new settings"
assert_match "$(postconf -c "$T_PF" -M 127.0.0.1:25/inet)" 'postscreen$' "master.cf: the listener is postscreen"
assert_eq "$(postconf -c "$T_PF" -h smtpd_client_connection_count_limit)" 10 "anvil: connection count limit"
harness_postconf || bail_out "postfix reload"
ok "postfix reloaded with the result"

# SASL: what Postfix will look up, answered by the admin's table.
assert_eq "$(postmap -c "$T_PF" -q @sales.test "hash:$T_STATE/sasl_passwd")" "sales-login:$secret" \
	"postmap -q: the sender rule's key gives its login"
sdr=$(postconf -c "$T_PF" -h sender_dependent_default_transport_maps)
assert_eq "$(postmap -c "$T_PF" -q @sales.test "$sdr")" "smtp:[127.0.0.1]:2530" \
	"postmap -q: sender_dependent_default_transport_maps routes @sales.test"
assert_eq "$(postmap -c "$T_PF" -q boss@example.test "$sdr")" "smtp:[127.0.0.1]:2528" \
	"postmap -q: and boss@example.test"
tlsp=$(postconf -c "$T_PF" -h smtp_tls_policy_maps)
assert_eq "$(postmap -c "$T_PF" -q '[127.0.0.1]:2530' "$tlsp")" encrypt "postmap -q: TLS policy encrypt"
assert_eq "$(postconf -c "$T_PF" -h smtp_sender_dependent_authentication)" yes \
	"smtp_sender_dependent_authentication = yes"

# --- inbound to the relay domain ---------------------------------------------
out=$(mail 127.0.0.9 alice@sender.test "in-$$@relay.test")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "inbound to the relay domain: accepted (after postscreen)"
qid=$(queue_id_of "$out")
if wait_delivered internal "^X-Rcpt-Args: <in-$$@relay\.test>" >/dev/null; then
	ok "inbound: delivered to the relay domain's next hop (127.0.0.1:2526)"
else
	not_ok "inbound: delivered to the relay domain's next hop (127.0.0.1:2526)"
fi
policyd_log_grep "to=<in-$$@relay\.test>" >/dev/null
check "inbound: policyd was asked" test $? -eq 0
milter_log_grep "$qid: .*from=<alice@sender\.test>" >/dev/null
check "inbound: the milter saw it ($qid)" test $? -eq 0
maillog_grep "postfix/postscreen.*PASS NEW \[127\.0\.0\.9\]" >/dev/null
check "inbound: postscreen let the waiting client pass" test $? -eq 0

out=$(mail 127.0.0.9 someone@nowhere.test post@relay.test)
assert_match "$out" '<\*\* +450 4\.1\.8 .*Sender address rejected: Domain not found' \
	"unresolvable sender domain: 450 4.1.8 (accept_unresolvable_domains = false)"

# --- sender rules --------------------------------------------------------------
out=$(mail 127.0.0.1 boss@example.test "out-$$@outside.test")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "boss@: accepted"
if wait_for "$T_WAIT" rule_sink_has "^X-Rcpt-Args: <out-$$@outside\.test>"; then
	ok "sender rule: boss@'s mail went to its relay host (127.0.0.1:2528)"
else
	not_ok "sender rule: boss@'s mail went to its relay host (127.0.0.1:2528)"
fi
assert_eq "$(sink_count internet "out-$$@outside")" 0 "sender rule: nothing went to the internet sink"

out=$(mail 127.0.0.1 rep@sales.test "deal-$$@outside.test")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "sales.test: accepted"
qid=$(queue_id_of "$out")
line=$(maillog_grep "$qid: to=<deal-$$@outside\.test>.*status=sent" 15)
assert_match "$line" 'relay=127\.0\.0\.1\[127\.0\.0\.1\]:2530' \
	"SASL sender rule: delivered to its smarthost (127.0.0.1:2530)"
sh_log=$(cat "$T_STATE/smarthost.log" 2>/dev/null)
assert_match "$sh_log" '^tls$' "the smarthost saw STARTTLS"
assert_match "$sh_log" '^auth=ok user=sales-login$' \
	"the smarthost got the login and password of the admin's table (inside TLS)"
assert_match "$sh_log" "^message rcpt=<deal-$$@outside\.test>" "the smarthost got the message"

out=$(mail 127.0.0.1 rep@plain.test "plain-$$@outside.test")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "plain.test: accepted"
qid=$(queue_id_of "$out")
line=$(maillog_grep "$qid: .*TLS is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]" 15)
assert_match "$line" 'status=deferred' \
	"SASL rule to a host without STARTTLS: deferred, the password never sent in clear"

# The default rule: relayhost with implicit TLS (sluice-smtps) and SASL by [host]:port.
out=$(mail 127.0.0.1 user@example.test "far-$$@outside.test")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "other outbound mail: accepted"
qid=$(queue_id_of "$out")
line=$(maillog_grep "$qid: to=<far-$$@outside\.test>.*status=sent" 15)
assert_match "$line" 'postfix/sluice-smtps/smtp\[[0-9]+\]: .*relay=127\.0\.0\.1\[127\.0\.0\.1\]:2532' \
	"default rule: delivered by sluice-smtps to the smarthost (127.0.0.1:2532)"
sh_log=$(cat "$T_STATE/smarthost465.log" 2>/dev/null)
assert_match "$sh_log" '^auth=ok user=smart-login$' "implicit-TLS smarthost: login from the table"
assert_match "$sh_log" "^message rcpt=<far-$$@outside\.test>" "implicit-TLS smarthost: got the message"
assert_eq "$(sink_count internet "far-$$@outside")" 0 "default rule: nothing went to the internet sink"

# --- rate-limit hooks ------------------------------------------------------------
for i in 1 2 3; do
	out=$(mail 127.0.0.23 "c$i@sender.test" "rl$i@relay.test")
	assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "connection $i of 127.0.0.23: accepted"
done
out=$(mail 127.0.0.23 c4@sender.test rl4@relay.test)
assert_match "$out" '<\*\* +421 4\.7\.0 .*Rate limit exceeded \(pc-conn\)' \
	"4th connection: 421 4.7.0 at CONNECT (smtpd_client_restrictions hook)"
out=$(mail 127.0.0.10 twice@sender.test m1@relay.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "1st message of a sender: accepted"
out=$(mail 127.0.0.10 twice@sender.test m2@relay.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*pc-msgs' \
	"2nd message: 450 4.7.1 at end of DATA (smtpd_end_of_data_restrictions hook)"

# --- postscreen: talking before the banner ---------------------------------------
out=$(in_ns "$T_PY" - <<'EOF'
import socket, time
s = socket.socket()
s.bind(("127.0.0.22", 0))
s.settimeout(10)
s.connect(("127.0.0.1", 25))
s.sendall(b"EHLO early.test\r\n")          # before the greeting: pregreet
time.sleep(3)
s.sendall(b"MAIL FROM:<x@sender.test>\r\nRCPT TO:<y@relay.test>\r\nQUIT\r\n")
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.decode(errors="replace"))
EOF
)
assert_match "$out" '550 5\.5\.1 Protocol error' "postscreen: a client talking first gets 550 5.5.1 at RCPT"
maillog_grep "postfix/postscreen.*PREGREET .* \[127\.0\.0\.22\]" >/dev/null
check "maillog: postscreen logged the PREGREET" test $? -eq 0

# --- policyd.fail_open = false: the policy service's own default_action -----------
sed "s|pid_file = \"$T_STATE/policyd.pid\";|& fail_open = false;|" "$T_CONF" >"$T_STATE/closed.conf"
line=$("$CTL" -c "$T_STATE/closed.conf" postconf --main 2>/dev/null | grep '^smtpd_recipient_restrictions = ')
assert_match "$line" 'default_action = 451 4\.3\.5 ' "fail_open = false: default_action 451 4.3.5"
harness_postconf "$line" || bail_out "postconf"
harness_stop_daemon policyd
out=$(mail 127.0.0.11 x@softfail.test closed@relay.test)
assert_match "$out" '<\*\* +451 4\.3\.5 .*Policy service unavailable' \
	"policyd down: 451 4.3.5 at RCPT (Postfix parsed the nested default_action)"
harness_start_daemon policyd || bail_out "policyd restart"

done_testing
