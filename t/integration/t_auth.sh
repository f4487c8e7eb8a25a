#!/bin/bash
# t_auth.sh - SPF, DKIM, DMARC and the Authentication-Results header through a
# real Postfix with the test DNS zone: every SPF result (pass, fail,
# softfail, neutral, none, permerror from two records, temperror from a
# DNS server that never answers, within the budget, mail accepted), the
# HELO identity for <>, DKIM pass (python3-dkim's signature), fail (body
# changed), a failing signature next to a passing one, Ed25519 pass
# (python3-dkim with PyNaCl; fail when changed), DMARC pass by
# DKIM alignment with SPF failing, DMARC pass by relaxed SPF alignment, fail of a
# p=reject domain refused 550 5.7.1 with dmarc_reject and only marked
# without, the same accepted unchecked from a permitted client, mailbox or
# domain (no A-R of ours, forged ones still removed), p=quarantine held (postqueue -j), a subdomain under sp=, pct=0,
# an internationalized From domain (A-label), forged A-R fields with our
# authserv-id removed and others kept, no A-R for trusted and SASL
# clients, and malformed From fields (none, two, two addresses): a
# permerror, mail accepted. Each A-R is read by t/tools/authres.py, an
# RFC 8601 parser written from the ABNF.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "2s";'
trap 'kill_silent; harness_stop' EXIT
harness_start "sluice-t-auth-$$" || bail_out "harness did not start"

# A DNS server that reads queries and never answers: dead.test goes there.
SILENT_PID=
kill_silent() { [ -z "$SILENT_PID" ] || kill "$SILENT_PID" 2>/dev/null; }
in_ns "$T_PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.53", 53))
while True:
    s.recv(4096)
' &
SILENT_PID=$!

zone_add \
	'host-record=mail.other.test,127.0.0.13' \
	'txt-record=neutral.test,"v=spf1 ?all"' \
	'txt-record=twospf.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=twospf.test,"v=spf1 -all"' \
	'txt-record=mail.sender.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=quar.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=_dmarc.quar.test,"v=DMARC1; p=quarantine"' \
	'txt-record=_dmarc.org.test,"v=DMARC1; p=none; sp=reject"' \
	'txt-record=sub.org.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=pct.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=_dmarc.pct.test,"v=DMARC1; p=quarantine; pct=0"' \
	'txt-record=junk.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=_dmarc.junk.test,"v=DMARC1; p=bogus; ;;; x"' \
	'txt-record=xn--bcher-kva.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=_dmarc.xn--bcher-kva.test,"v=DMARC1; p=reject"' \
	'server=/dead.test/127.0.0.53' ||
	bail_out "dnsmasq did not take the records"

# mail SUBJECT [swaks args]: a message to user@example.test from the
# "internet"; prints the delivered file. The default sender and client
# are sender.test's (SPF pass, DMARC p=reject).
mail() {
	local subj=$1 out msgno
	shift
	msgno=$(date +%s%N)
	out=$(send_mail --local-interface 127.0.0.9 --helo mail.sender.test \
		--from a@sender.test --to user@example.test \
		--header "Subject: $subj [$msgno]" "$@")
	if ! printf '%s\n' "$out" | grep -q '250 2\.0\.0 Ok: queued'; then
		not_ok "message '$subj' accepted" "$(printf '%s\n' "$out" | tail -5)"
		return 1
	fi
	if ! wait_for "$T_WAIT" sink_find "\[$msgno\]"; then
		not_ok "message '$subj' delivered"
		return 1
	fi
	sink_find "\[$msgno\]"
}
sink_find() { grep -lE -- "$1" "$T_SINK_INTERNAL"/* 2>/dev/null | head -n 1 | grep .; }

# ar FILE: our A-R as authres.py reads it ("count=N", "other=N", resinfos)
ar() { "$T_PY" "$T_REPO/t/tools/authres.py" "$1" mx.example.test; }

# expect_ar DESC FILE REGEX...: one A-R of ours that parses, and a resinfo
# line matching each REGEX
expect_ar() {
	local desc=$1 f=$2 out re
	shift 2
	if ! out=$(ar "$f" 2>&1); then
		not_ok "$desc: A-R parses (RFC 8601)" "$out" "$(grep -A4 '^Authentication-Results' "$f")"
		return 1
	fi
	if ! printf '%s\n' "$out" | grep -qx 'count=1'; then
		not_ok "$desc: exactly one A-R of ours" "$out"
		return 1
	fi
	for re in "$@"; do
		if ! printf '%s\n' "$out" | grep -qE -- "$re"; then
			not_ok "$desc: $re" "$out"
			return 1
		fi
	done
	ok "$desc"
}
last_milter_line() { milter_log_grep "$1" | tail -1; }
_reloaded() { tail -n +"$(($1 + 1))" "$T_MILTER_LOG" | grep -q 'configuration reloaded\|reload failed'; }

# raw_mail TAG DATA: a message given whole (swaks --data) from sender.test's
# client; prints the delivered file (found by TAG in the data).
raw_mail() {
	local out
	out=$(send_mail --local-interface 127.0.0.9 --helo mail.sender.test \
		--from a@sender.test --to user@example.test --data "$2")
	if ! printf '%s\n' "$out" | grep -q '250 2\.0\.0 Ok: queued'; then
		not_ok "message '$1' accepted" "$(printf '%s\n' "$out" | tail -5)"
		return 1
	fi
	if ! wait_for "$T_WAIT" sink_find "$1"; then
		not_ok "message '$1' delivered"
		return 1
	fi
	sink_find "$1"
}

# ---------------------------------------------------------------- SPF ----
f=$(mail "spf pass" --header "From: Anna <a@sender.test>") || bail_out "no delivery"
expect_ar "spf=pass, dmarc=pass via SPF" "$f" '^spf=pass smtp\.mailfrom=a@sender\.test$' \
	'^dmarc=pass header\.from=sender\.test$'
# header names in order, after smtp-sink's own (X-Client-*, ..., its Received:)
names=$(sed '/^$/q' "$f" | grep -oE '^[A-Za-z-]+:' | grep -vE '^X-(Client|Helo|Mail|Rcpt)-' | sed -n '2,3p' | tr '\n' ' ')
assert_eq "$names" "Received: Authentication-Results: " "A-R at the top, just below Postfix's own Received:"
assert_match "$(last_milter_line 'spf=pass')" 'direction=inbound spf=pass dkim=none dmarc=pass from_domain=sender\.test' \
	"log: spf= dmarc= from_domain= on the message's line"

f=$(mail "spf softfail" --local-interface 127.0.0.13 --from a@softfail.test \
	--header "From: a@softfail.test") || bail_out "no delivery"
expect_ar "spf=softfail, dmarc=fail (p=none) only marked" "$f" \
	'^spf=softfail smtp\.mailfrom=a@softfail\.test$' '^dmarc=fail header\.from=softfail\.test$'
assert_match "$(grep -A3 '^Authentication-Results' "$f" | tr -d '\n')" 'dmarc=fail \(p=none dis=none\)' \
	"the DMARC policy in a comment"

f=$(mail "spf neutral" --local-interface 127.0.0.13 --from a@neutral.test \
	--header "From: a@neutral.test") || bail_out "no delivery"
expect_ar "spf=neutral, dmarc=none" "$f" '^spf=neutral smtp\.mailfrom=a@neutral\.test$' \
	'^dmarc=none header\.from=neutral\.test$'

f=$(mail "spf none" --local-interface 127.0.0.13 --from a@nospf.example.test \
	--header "From: a@nospf.example.test") || bail_out "no delivery"
expect_ar "spf=none" "$f" '^spf=none smtp\.mailfrom=a@nospf\.example\.test$'

f=$(mail "spf permerror" --from a@twospf.test --header "From: a@twospf.test") ||
	bail_out "no delivery"
expect_ar "two v=spf1 records: spf=permerror" "$f" '^spf=permerror smtp\.mailfrom=a@twospf\.test$'

start=$(date +%s%N)
f=$(mail "spf temperror" --from a@dead.test --header "From: a@dead.test") || bail_out "no delivery"
took=$((($(date +%s%N) - start) / 1000000))
expect_ar "a DNS server that never answers: spf=temperror, mail accepted" "$f" \
	'^spf=temperror smtp\.mailfrom=a@dead\.test$' '^dmarc=(temperror|none)'
if [ "$took" -lt 6000 ]; then
	ok "... within the 2 s budget (the whole transaction took $took ms)"
else
	not_ok "... within the 2 s budget (the whole transaction took $took ms)"
fi
assert_match "$(last_milter_line 'from_domain=dead\.test')" 'dns=timeout' "log: dns=timeout"

f=$(mail "helo identity" --from '<>' --header "From: MAILER-DAEMON@mail.sender.test") ||
	bail_out "no delivery"
expect_ar "null sender: the HELO identity" "$f" '^spf=pass smtp\.helo=mail\.sender\.test$' \
	'^dmarc=pass header\.from=mail\.sender\.test$'

# -------------------------------------------------------------- DMARC ----
f=$(mail "relaxed SPF alignment" --from bounce@mail.sender.test --header "From: a@sender.test") ||
	bail_out "no delivery"
expect_ar "SPF of mail.sender.test aligns (relaxed) with From sender.test" "$f" \
	'^spf=pass smtp\.mailfrom=bounce@mail\.sender\.test$' '^dmarc=pass header\.from=sender\.test$'

out=$(send_mail --local-interface 127.0.0.13 --from a@sender.test --to user@example.test \
	--header "From: a@sender.test" --header "Subject: dmarc reject")
assert_match "$out" '<\*\* 550 5\.7\.1 Message rejected by the DMARC policy of sender\.test' \
	"SPF fail, p=reject, dmarc_reject on: 550 5.7.1"
assert_match "$(last_milter_line 'action=reject')" 'milter=reject .*spf=fail dkim=none dmarc=fail from_domain=sender\.test dmarc_policy=reject' \
	"log: the rejection"
# A permitted client skips the spam checks (issue 11): the same failing
# message from a client in sluice:permit:ip is accepted, not checked.
redis_cli SADD sluice:permit:ip 127.0.0.13 >/dev/null
sleep 1.2
out=$(send_mail --local-interface 127.0.0.13 --from a@sender.test --to user@example.test \
	--header "From: a@sender.test" --header "Subject: dmarc reject permitted")
assert_match "$out" '250 2\.0\.0 Ok: queued' "the same from a permitted client (sluice:permit:ip): accepted"
assert_match "$(last_milter_line 'auth=skipped-permitted')" 'rules=permit-ip.* permitted=yes' \
	"log: rules=permit-ip, auth=skipped-permitted"
redis_cli SREM sluice:permit:ip 127.0.0.13 >/dev/null
sleep 1.2
# A permitted sender (sluice:permit:mailbox, then sluice:permit:domain):
# the same; no A-R of ours is added, and a forged one claiming our
# authserv-id is still removed (the mail comes from outside; RFC 8601 5).
for kind in mailbox domain; do
	case $kind in mailbox) member=a@sender.test ;; domain) member=sender.test ;; esac
	redis_cli SADD "sluice:permit:$kind" "$member" >/dev/null
	sleep 1.2
	out=$(send_mail --local-interface 127.0.0.13 --from a@sender.test --to user@example.test \
		--header "From: a@sender.test" --header "Subject: permitted-$kind-$$" \
		--add-header "Authentication-Results: mx.example.test; dmarc=pass header.from=paypal.test")
	assert_match "$out" '250 2\.0\.0 Ok: queued' "the same from a permitted sender (sluice:permit:$kind): accepted"
	if wait_for "$T_WAIT" sink_find "permitted-$kind-$$"; then
		f=$(sink_find "permitted-$kind-$$")
		assert_match "$(ar "$f")" 'count=0' "... no A-R of ours (no checks)"
		assert_no_match "$(cat "$f")" 'paypal' "... the forged A-R with our authserv-id removed"
	else
		not_ok "permitted-$kind delivered"
	fi
	assert_match "$(last_milter_line "rules=permit-$kind")" "permitted=yes auth=skipped-permitted ar_removed=1" \
		"log: rules=permit-$kind, auth=skipped-permitted, ar_removed=1"
	redis_cli SREM "sluice:permit:$kind" "$member" >/dev/null
	sleep 1.2
done

out=$(send_mail --local-interface 127.0.0.9 --from a@sub.org.test --to user@example.test \
	--header "From: a@sub.org.test" --header "Subject: sp")
assert_match "$out" '250 2\.0\.0 Ok: queued' "subdomain with SPF pass under sp=reject: accepted"
out=$(send_mail --local-interface 127.0.0.13 --from a@sub.org.test --to user@example.test \
	--header "From: a@sub.org.test" --header "Subject: sp")
assert_match "$out" '<\*\* 550 5\.7\.1 .*DMARC policy of sub\.org\.test' \
	"subdomain failing under the org domain's sp=reject (p=none): 550"

f=$(mail "pct" --local-interface 127.0.0.13 --from a@pct.test --header "From: a@pct.test") ||
	bail_out "no delivery"
expect_ar "p=quarantine with pct=0: not sampled, delivered (RFC 7489 6.6.4)" "$f" '^dmarc=fail header\.from=pct\.test$'
assert_match "$(grep -A3 '^Authentication-Results' "$f" | tr -d '\n')" '\(p=quarantine dis=none\)' \
	"... dis=none in the comment"

f=$(mail "junk record" --from a@junk.test --header "From: a@junk.test") || bail_out "no delivery"
expect_ar "a DMARC record with junk: permerror" "$f" '^dmarc=permerror header\.from=junk\.test$'

f=$(mail "idn" --from a@xn--bcher-kva.test --header "From: =?utf-8?q?B=C3=BCcher?= <a@bücher.test>" \
	--header "Content-Type: text/plain; charset=utf-8") || bail_out "no delivery"
expect_ar "UTF-8 From domain: DMARC of its A-label" "$f" '^dmarc=pass header\.from=xn--bcher-kva\.test$'

# p=quarantine: held in Postfix's hold queue, not delivered
out=$(send_mail --local-interface 127.0.0.13 --from a@quar.test --to user@example.test \
	--header "From: a@quar.test" --header "Subject: quarantine")
assert_match "$out" '250 2\.0\.0 Ok: queued' "p=quarantine failure: accepted"
qid=$(queue_id_of "$out")
held() { in_ns postqueue -c "$T_PF" -j | grep "\"queue_id\": *\"$qid\"" | grep -q '"queue_name": *"hold"'; }
if wait_for 10 held; then
	ok "... and on hold (postqueue -j)"
else
	not_ok "... and on hold (postqueue -j)" "$(in_ns postqueue -c "$T_PF" -j)"
fi

# dmarc_reject off: a p=reject failure is only marked
n=$(log_lines "$T_MILTER_LOG")
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = false; dns_timeout = "2s";'
_write_sluice_conf
harness_sighup milter
wait_for 5 _reloaded "$n" || not_ok "milter reloads"
f=$(mail "dmarc marked" --local-interface 127.0.0.13 --header "From: a@sender.test") ||
	bail_out "no delivery"
expect_ar "dmarc_reject off: p=reject failure delivered, marked" "$f" '^spf=fail' \
	'^dmarc=fail header\.from=sender\.test$'
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "2s";'
n=$(log_lines "$T_MILTER_LOG")
_write_sluice_conf
harness_sighup milter
wait_for 5 _reloaded "$n" || not_ok "milter reloads"


# --------------------------------------------------------------- DKIM ----
# An RSA key for sender.test from sluice-keygen, in the test DNS; messages
# signed by python3-dkim (a signer we did not write).
KEYS=$T_STATE/keys
mkdir -p -m 0755 "$KEYS"
kout=$("$SLUICE_BUILD/sluice-keygen" -d sender.test -s k1 -a rsa -o "$KEYS" 2>/dev/null) ||
	bail_out "sluice-keygen failed"
zone_add "txt-record=k1._domainkey.sender.test,$(printf '%s\n' "$kout" | grep -o '"[^"]*"' | paste -sd, -)" ||
	bail_out "dnsmasq did not take the key"
# signed TAG [tamper|twice|twicefail]: a signed message (d=sender.test s=k1) on stdout
signed() {
	"$T_PY" - "$KEYS/sender.test.k1.key" "$1" "${2:-}" <<'PYSIGN'
import sys, dkim
key = open(sys.argv[1], "rb").read()
tag, how = sys.argv[2].encode(), sys.argv[3]
head = (b"From: Anna <a@sender.test>\r\nTo: user@example.test\r\nSubject: " + tag +
        b"\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <" + tag + b"@sender.test>\r\n")
body = b"Hello,\r\nthis is signed.\r\n"
msg = head + b"\r\n" + body
sig = dkim.sign(msg, b"k1", b"sender.test", key, include_headers=[b"from", b"to", b"subject", b"date"])
if how == "twice":	# a second signature, by a key nobody published
    sig = dkim.sign(msg, b"gone", b"sender.test", key, include_headers=[b"from", b"subject"]) + sig
if how == "twicefail":	# a second one by the same key, made over another Subject: it fails
    other = msg.replace(b"Subject: " + tag, b"Subject: not " + tag)
    sig = dkim.sign(other, b"k1", b"sender.test", key, include_headers=[b"from", b"subject"]) + sig
if how == "tamper":
    body = b"Hello,\r\nthis was changed after signing.\r\n"
sys.stdout.write((sig + head + b"\r\n" + body).decode().replace("\r\n", "\n"))
PYSIGN
}
f=$(raw_mail "dkim-pass-$$" "$(signed "dkim-pass-$$")") || bail_out "no delivery"
expect_ar "dkim=pass (rsa-sha256, python3-dkim's signature)" "$f" \
	'^dkim=pass header\.d=sender\.test header\.s=k1 header\.a=rsa-sha256 header\.b=' \
	'^dmarc=pass header\.from=sender\.test$'
f=$(raw_mail "dkim-tamper-$$" "$(signed "dkim-tamper-$$" tamper)") || bail_out "no delivery"
expect_ar "body changed after signing: dkim=fail" "$f" '^dkim=fail header\.d=sender\.test'
f=$(raw_mail "dkim-twice-$$" "$(signed "dkim-twice-$$" twice)") || bail_out "no delivery"
expect_ar "a failing signature next to a passing one: both reported" "$f" \
	'^dkim=permerror header\.d=sender\.test header\.s=gone' '^dkim=pass header\.d=sender\.test header\.s=k1'
f=$(raw_mail "dkim-twicefail-$$" "$(signed "dkim-twicefail-$$" twicefail)") || bail_out "no delivery"
expect_ar "a signature that fails (dkim=fail, same key) next to one that passes" "$f" \
	'^dkim=fail header\.d=sender\.test header\.s=k1' '^dkim=pass header\.d=sender\.test header\.s=k1' \
	'^dmarc=pass header\.from=sender\.test$'
# Ed25519 (RFC 8463): a key made and a message signed by python3-dkim
# (with PyNaCl), the key in the test DNS.
ed_pub=$("$T_PY" - "$KEYS/ed1.seed" <<'PYKEY'
import sys, base64, nacl.signing
sk = nacl.signing.SigningKey.generate()
open(sys.argv[1], "wb").write(base64.b64encode(bytes(sk)))
print(base64.b64encode(bytes(sk.verify_key)).decode())
PYKEY
) || bail_out "could not make an Ed25519 key"
zone_add "txt-record=ed1._domainkey.sender.test,\"v=DKIM1; k=ed25519; p=$ed_pub\"" ||
	bail_out "dnsmasq did not take the Ed25519 key"
# ed_signed TAG [tamper]: a message signed with a=ed25519-sha256 d=sender.test s=ed1
ed_signed() {
	"$T_PY" - "$KEYS/ed1.seed" "$1" "${2:-}" <<'PYSIGN'
import sys, dkim
seed = open(sys.argv[1], "rb").read()
tag, how = sys.argv[2].encode(), sys.argv[3]
head = (b"From: Anna <a@sender.test>\r\nTo: user@example.test\r\nSubject: " + tag +
        b"\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <" + tag + b"@sender.test>\r\n")
body = b"Hello,\r\nthis is signed with Ed25519.\r\n"
msg = head + b"\r\n" + body
sig = dkim.sign(msg, b"ed1", b"sender.test", seed, signature_algorithm=b"ed25519-sha256",
                include_headers=[b"from", b"to", b"subject", b"date"])
if how == "tamper":
    body = b"Hello,\r\nthis was changed after signing.\r\n"
sys.stdout.write((sig + head + b"\r\n" + body).decode().replace("\r\n", "\n"))
PYSIGN
}
f=$(raw_mail "dkim-ed-$$" "$(ed_signed "dkim-ed-$$")") || bail_out "no delivery"
expect_ar "dkim=pass (ed25519-sha256, python3-dkim's signature)" "$f" \
	'^dkim=pass header\.d=sender\.test header\.s=ed1 header\.a=ed25519-sha256 header\.b=' \
	'^dmarc=pass header\.from=sender\.test$'
f=$(raw_mail "dkim-edtamper-$$" "$(ed_signed "dkim-edtamper-$$" tamper)") || bail_out "no delivery"
expect_ar "ed25519, body changed after signing: dkim=fail" "$f" '^dkim=fail header\.d=sender\.test header\.s=ed1'
# SPF fails (another client), DKIM aligned: DMARC passes through DKIM
out=$(send_mail --local-interface 127.0.0.13 --helo mail.other.test --from a@sender.test \
	--to user@example.test --data "$(signed "dkim-align-$$")")
assert_match "$out" '250 2\.0\.0 Ok: queued' "SPF fail, DKIM pass: accepted despite p=reject"
if wait_for "$T_WAIT" sink_find "dkim-align-$$"; then
	expect_ar "dmarc=pass via DKIM alignment" "$(sink_find "dkim-align-$$")" '^spf=fail' \
		'^dkim=pass' '^dmarc=pass header\.from=sender\.test$'
else
	not_ok "dkim-align delivered"
fi
assert_match "$(last_milter_line 'dkim=pass')" 'spf=fail dkim=pass dmarc=pass' "log: dkim= on the line"

# ------------------------------------------------------ forged A-R ----
f=$(mail "forged" --header "From: a@sender.test" \
	--add-header "Authentication-Results: mx.example.test; dmarc=pass header.from=paypal.test" \
	--add-header "Authentication-Results: other.example.test; spf=pass smtp.mailfrom=x@y.test" \
	--add-header "Authentication-Results: (comment) MX.Example.Test; dkim=pass header.d=paypal.test") ||
	bail_out "no delivery"
expect_ar "forged A-R fields with our id removed (case, comment), ours added" "$f" '^spf=pass'
assert_match "$(ar "$f")" 'other=1' "... the one of another authserv-id kept"
assert_no_match "$(cat "$f")" 'paypal' "... no trace of the forged results"
assert_match "$(last_milter_line 'ar_removed=')" 'ar_removed=2' "log: ar_removed=2"

# -------------------------------------------- skipped: trusted, SASL ----
f=$(mail "trusted" --local-interface 127.0.0.1 --from a@example.test --header "From: a@example.test") ||
	bail_out "no delivery"
assert_eq "$(grep -c '^Authentication-Results:' "$f")" 0 "trusted client: no A-R"

SASL=$T_STATE/sasl
mkdir -p -m 0755 "$SASL" "$T_PF/sasl"
echo secret | saslpasswd2 -p -c -f "$SASL/sasldb2" -u example.test alice || bail_out "saslpasswd2"
chown postfix "$SASL/sasldb2"
chmod 600 "$SASL/sasldb2"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
	"$SASL/sasldb2" >"$T_PF/sasl/smtpd.conf"
harness_postconf "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" \
	"smtpd_sasl_path = smtpd" "cyrus_sasl_config_path = $T_PF/sasl" \
	"smtpd_sasl_security_options = noanonymous" || bail_out "postconf for SASL failed"
sleep 1
f=$(mail "sasl" --local-interface 127.0.0.13 --from alice@example.test --header "From: alice@example.test" \
	--auth PLAIN --auth-user alice@example.test --auth-password secret) || bail_out "no delivery"
assert_eq "$(grep -c '^Authentication-Results:' "$f")" 0 "SASL-authenticated client: no A-R"

# ---------------------------------------------------- malformed From ----
f=$(raw_mail "nofrom-$$" "Subject: nofrom-$$
To: user@example.test

no From field
") || bail_out "no delivery"
expect_ar "no From: dmarc=permerror" "$f" '^spf=pass' '^dmarc=permerror$'
f=$(mail "two from" --header "From: a@sender.test" --add-header "From: b@evil.test") ||
	bail_out "no delivery"
expect_ar "two From fields: dmarc=permerror" "$f" '^dmarc=permerror$'
f=$(mail "two addresses" --header "From: a@sender.test, b@evil.test") || bail_out "no delivery"
expect_ar "From with two addresses: dmarc=permerror" "$f" '^dmarc=permerror$'
assert_match "$(grep -A3 '^Authentication-Results' "$f" | tr -d '\n')" 'dmarc=permerror \(several mailboxes\)' \
	"... the reason in a comment"

pid=$(harness_pid milter)
check "the milter still runs" kill -0 "$pid"
done_testing
