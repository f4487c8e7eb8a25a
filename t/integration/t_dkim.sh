#!/bin/bash
# t_dkim.sh - DKIM signing through a real Postfix: which mail is signed
# (trusted network, SASL login; not an outside client, not a domain
# without a key, not twice), RSA, Ed25519 and both at once, relaxed and
# simple, oversigning, key rotation by SIGHUP (a session open across the
# reload keeps its key), a key file others may read, absurd headers, From:
# fields readers take apart differently, a sender our parser refuses.
# Every signature is checked on the delivered message, as a receiver
# sees it, with python3-dkim and opendkim-testmsg against the test DNS,
# where the records are sluice-keygen's own output.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
trap harness_stop EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

KEYS=$T_STATE/keys
SASL=$T_STATE/sasl
mkdir -p -m 0755 "$KEYS" "$SASL"

# --------------------------------------------------------------- keys ----
# sluice-keygen writes the keys and prints BIND records; the same strings
# become dnsmasq records (txt-record=NAME,"part","part").
records=()
keygen() {	# SELECTOR ALG
	local out name strings
	out=$("$SLUICE_BUILD/sluice-keygen" -d example.test -s "$1" -a "$2" -o "$KEYS" 2>/dev/null) ||
		bail_out "sluice-keygen -s $1 failed"
	name=$(printf '%s\n' "$out" | awk '{ sub(/\.$/, "", $1); print $1 }')
	strings=$(printf '%s\n' "$out" | grep -o '"[^"]*"' | paste -sd, -)
	records+=("txt-record=$name,$strings")
	chown sluice "$KEYS/example.test.$1.key"
}
keygen rsa1 rsa
keygen rsa2 rsa
keygen ed1 ed25519
zone_add "${records[@]}" || bail_out "dnsmasq did not take the keygen records"
assert_match "$(dns_query rsa1._domainkey.example.test TXT)" 'v=DKIM1; k=rsa; p=MII' \
	"keygen's split RSA record resolves as one value"

# --------------------------------------------------------------- SASL ----
# Cyrus SASL with an sasldb, as Debian's Postfix offers it. Debian's
# Postfix reads smtpd.conf from $config_directory/sasl whatever
# cyrus_sasl_config_path says, so it goes there (and that is named too).
echo secret | saslpasswd2 -p -c -f "$SASL/sasldb2" -u example.test alice ||
	bail_out "saslpasswd2 failed"
chown postfix "$SASL/sasldb2"
chmod 600 "$SASL/sasldb2"
mkdir -p -m 0755 "$T_PF/sasl"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
	"$SASL/sasldb2" >"$T_PF/sasl/smtpd.conf"
harness_postconf "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" \
	"smtpd_sasl_path = smtpd" "cyrus_sasl_config_path = $T_PF/sasl" \
	"smtpd_sasl_security_options = noanonymous" || bail_out "postconf for SASL failed"
sleep 1

# ------------------------------------------------------------ helpers ----
# dkim_config HEADER_CANON BODY_CANON OVERSIGN SELECTOR...: the dkim group
dkim_config() {
	local hc=$1 bc=$2 over=$3 s keys=""
	shift 3
	for s in "$@"; do
		keys="$keys { domain = \"example.test\"; selector = \"$s\"; key = \"$KEYS/example.test.$s.key\"; },"
	done
	harness_default_config
	printf 'dkim = { header_canon = "%s"; body_canon = "%s"; oversign = [ %s ];\n  keys = ( %s ); };\n' \
		"$hc" "$bc" "$over" "${keys%,}"
}

# reconfigure ARGS...: write sluice.conf with dkim_config ARGS, SIGHUP the
# milter, wait for its "reloaded" line.
reconfigure() {
	local n
	n=$(log_lines "$T_MILTER_LOG")
	dkim_config "$@" >"$T_CONF"
	harness_sighup milter
	if ! wait_for 5 _reloaded "$n"; then
		not_ok "milter reloads ($*)" "$(tail -3 "$T_MILTER_LOG")"
		return 1
	fi
}
_reloaded() { tail -n +"$(($1 + 1))" "$T_MILTER_LOG" | grep -q 'configuration reloaded\|reload failed'; }

# mail SUBJECT [swaks args]: a message from a trusted client, unless the
# args say otherwise. Prints the path of the delivered copy.
mail() {
	local subj=$1 out f msgno
	shift
	msgno=$(date +%s%N)
	subj="$subj [$msgno]"
	out=$(send_mail --from a@example.test --to user@example.test \
		--header "Subject: $subj" --header "From: Anna <a@example.test>" \
		--body "Hello,  this   is a test.
With two lines and 	tabs.
" "$@")
	if ! printf '%s\n' "$out" | grep -q '250 2\.0\.0 Ok: queued'; then
		not_ok "message '$subj' accepted" "$(printf '%s\n' "$out" | tail -5)"
		return 1
	fi
	if ! wait_for "$T_WAIT" delivered_anywhere "\[$msgno\]"; then
		not_ok "message '$subj' delivered"
		return 1
	fi
	delivered_anywhere "\[$msgno\]"
}
# delivered_anywhere REGEX: the first message file in either sink matching
delivered_anywhere() {
	grep -lE -- "$1" "$T_SINK_INTERNAL"/* "$T_SINK_INTERNET"/* 2>/dev/null | head -n 1 | grep .
}

# verified FILE N DESC: python3-dkim verifies N signatures (via DNS), and
# opendkim-testmsg accepts the message.
verified() {
	local out n
	out=$(in_ns "$T_PY" "$T_REPO/t/dkim/verify.py" --dns "$1" 2>&1)
	n=$(printf '%s\n' "$out" | grep -c '^ok ')
	if [ "$n" != "$2" ] || printf '%s\n' "$out" | grep -q FAIL; then
		not_ok "$3: python3-dkim verifies $2 signature(s)" "$out" "$(grep -A8 '^DKIM-Signature' "$1")"
		return 1
	fi
	ok "$3: python3-dkim verifies $2 signature(s)"
	out=$(in_ns opendkim-testmsg <"$1" 2>&1)
	if [ $? -eq 0 ]; then
		ok "$3: opendkim-testmsg verifies"
	else
		not_ok "$3: opendkim-testmsg verifies" "$out"
	fi
}

sigs() { grep -c '^DKIM-Signature:' "$1"; }
tag() { sed -n '/^DKIM-Signature:/,/^[^ \t]/p' "$1" | tr -d '\n\t ' | grep -o "[;:]$2=[^;]*" | head -1 | cut -d= -f2-; }
last_milter_line() { milter_log_grep "$1" | tail -1; }

# ------------------------------------------------- which mail is signed ----
reconfigure relaxed relaxed '' rsa1 || bail_out "no reload"
f=$(mail "trusted") || bail_out "no delivery"
assert_eq "$(sigs "$f")" 1 "trusted client: one DKIM-Signature"
assert_eq "$(tag "$f" a)" rsa-sha256 "RSA key signs rsa-sha256"
assert_eq "$(tag "$f" c)" relaxed/relaxed "c=relaxed/relaxed"
verified "$f" 1 "trusted, relaxed"
assert_match "$(last_milter_line 'dkim=')" \
	'milter=accept .*direction=outbound dkim=signed d=example\.test s=rsa1 a=rsa-sha256' \
	"log: dkim=signed d= s= a="
h=$(tag "$f" h)
assert_match "$h" '^from:subject:date:to' "h= starts with the spec's default list ($h)"

f=$(mail "sasl" --local-interface 127.0.0.9 --to someone@far.test \
	--auth PLAIN --auth-user alice@example.test --auth-password secret) || bail_out "no delivery"
assert_eq "$(sigs "$f")" 1 "SASL-authenticated client: signed"
verified "$f" 1 "SASL"
assert_match "$(last_milter_line 'sasl_username=')" 'sasl_username=alice@example\.test dkim=signed' \
	"log: authenticated mail is outbound and signed"

f=$(mail "outside" --local-interface 127.0.0.9) || bail_out "no delivery"
assert_eq "$(sigs "$f")" 0 "outside client (no login): not signed"
assert_match "$(last_milter_line 'client=mail\.sender\.test')" 'direction=inbound$' \
	"log: inbound mail has no dkim= verdict"

out=$(send_mail --from b@other.test --to user@example.test --header "From: b@other.test" \
	--header "Subject: nokey")
f=$(wait_delivered internal 'Subject: nokey') || not_ok "nokey delivered"
assert_eq "$(sigs "$f")" 0 "From domain without a key: not signed"
assert_match "$(last_milter_line 'from=<b@other\.test>')" 'dkim=skipped reason=no-key' \
	"log: dkim=skipped reason=no-key"

# Signed once, sent again through us: not signed twice.
signed=$(mail "to-resend") || bail_out "no delivery"
sed -n '/^DKIM-Signature:/,$p' "$signed" | sed 's/^Subject: .*/Subject: resent [resent]/' >"$T_STATE/resend.eml"
out=$(send_mail --from a@example.test --to user@example.test --data "$T_STATE/resend.eml")
f=$(wait_delivered internal 'Subject: resent \[resent\]') || not_ok "resent delivered"
assert_eq "$(sigs "$f")" 1 "mail with our signature already: not signed twice"
assert_match "$(milter_log_grep 'reason=already-signed')" 'dkim=skipped reason=already-signed' \
	"log: dkim=skipped reason=already-signed"

# -------------------------------------------------- algorithms, canons ----
reconfigure simple simple '' ed1
f=$(mail "ed25519 simple") || bail_out "no delivery"
assert_eq "$(tag "$f" a)" ed25519-sha256 "Ed25519 key signs ed25519-sha256"
assert_eq "$(tag "$f" c)" simple/simple "c=simple/simple"
verified "$f" 1 "Ed25519, simple"

reconfigure relaxed simple '' rsa1 ed1
f=$(mail "dual" --header "X-Folded: one
	two") || bail_out "no delivery"
assert_eq "$(sigs "$f")" 2 "two keys for one domain: two signatures"
verified "$f" 2 "RSA + Ed25519, relaxed/simple"
assert_match "$(last_milter_line 'dkim=signed')" 's=rsa1,ed1 a=rsa-sha256,ed25519-sha256' \
	"log names both selectors and algorithms"

reconfigure simple relaxed '' rsa1
f=$(mail "simple folded" --header "References: <a@example.test>
 <b@example.test>
	<c@example.test>") || bail_out "no delivery"
verified "$f" 1 "simple/relaxed with a folded header"

# ------------------------------------------------------------ oversign ----
reconfigure relaxed relaxed '"From", "Subject", "Reply-To"' rsa1
f=$(mail "oversigned") || bail_out "no delivery"
assert_match "$(tag "$f" h)" '^from:from:reply-to:subject:subject:date:to' \
	"oversigned names listed once more than present"
verified "$f" 1 "oversigned"
# A receiver's view after someone adds a second Subject:, or a Reply-To:
sed 's/^Subject: \(.*\)/Subject: \1\nSubject: cheap pills/' "$f" >"$T_STATE/added-subject.eml"
sed 's/^Subject: \(.*\)/Subject: \1\nReply-To: thief@evil.test/' "$f" >"$T_STATE/added-replyto.eml"
for x in added-subject added-replyto; do
	out=$(in_ns "$T_PY" "$T_REPO/t/dkim/verify.py" --dns "$T_STATE/$x.eml" 2>&1)
	assert_match "$out" '^FAIL' "oversigning: $x breaks the signature"
done
# without oversigning the same addition goes unnoticed (the test can fail)
reconfigure relaxed relaxed '' rsa1
f=$(mail "not oversigned") || bail_out "no delivery"
sed 's/^Subject: \(.*\)/Subject: \1\nReply-To: thief@evil.test/' "$f" >"$T_STATE/plain-replyto.eml"
out=$(in_ns "$T_PY" "$T_REPO/t/dkim/verify.py" --dns "$T_STATE/plain-replyto.eml" 2>&1)
assert_match "$out" '^ok' "control: without oversigning an added Reply-To still verifies"

# ------------------------------------------------------------ rotation ----
# A session opened before the SIGHUP keeps the key it started with (no
# dropped connection); the next message is signed with the new selector.
slow_session() {
	in_ns bash -c '
	exec 3<>/dev/tcp/127.0.0.1/25 || exit 1
	say() { printf "%s\r\n" "$1" >&3; while IFS= read -r l <&3; do
		case $l in [0-9][0-9][0-9]\ *) echo "$l"; break ;; esac; done; }
	read -r l <&3
	say "EHLO slow.test" >/dev/null; say "MAIL FROM:<a@example.test>" >/dev/null
	say "RCPT TO:<user@example.test>" >/dev/null; say DATA >/dev/null
	printf "From: a@example.test\r\nTo: user@example.test\r\nSubject: slow session\r\n" >&3
	sleep 3
	say "$(printf "\r\nbody\r\n.")"
	say QUIT >/dev/null'
}
slow_session >"$T_STATE/slow.out" 2>&1 &
slow=$!
sleep 1
reconfigure relaxed relaxed '' rsa2
f=$(mail "after rotation") || bail_out "no delivery"
assert_eq "$(tag "$f" s)" rsa2 "after SIGHUP the next message is signed with the new selector"
verified "$f" 1 "rotated key"
wait "$slow"
assert_match "$(cat "$T_STATE/slow.out")" '^250 2\.0\.0 Ok' "a session open across the SIGHUP is not dropped"
f=$(wait_delivered internal 'Subject: slow session') || not_ok "slow session delivered"
assert_eq "$(tag "$f" s)" rsa1 "... and its message is signed with the key of its connection"
verified "$f" 1 "slow session"

# ------------------------------------------------- unsafe key, reload ----
chmod 0640 "$KEYS/example.test.rsa1.key"
reconfigure relaxed relaxed '' rsa1
assert_match "$(milter_log_grep 'reload failed')" \
	"reload failed, keeping the running configuration: $T_CONF:[0-9]+: key $KEYS/example\.test\.rsa1\.key: readable by group or others \(chmod 600\)" \
	"SIGHUP with a group-readable key: refused with FILE:LINE, old config kept"
f=$(mail "after failed reload") || bail_out "no delivery"
assert_eq "$(tag "$f" s)" rsa2 "the running config (rsa2) still signs"
out=$("$SLUICE_BUILD/sluice-milter" -t -c "$T_CONF" 2>&1)
assert_eq "$?" 1 "sluice-milter -t refuses the key too (exit 1)"
assert_match "$out" "^$T_CONF:[0-9]+: key .*readable by group or others \(chmod 600\)" \
	"... saying FILE:LINE of the key entry and why"
chmod 0600 "$KEYS/example.test.rsa1.key"

# ------------------------------------------------------ absurd headers ----
reconfigure relaxed relaxed '' rsa1
{
	printf 'From: a@example.test\r\nSubject: many headers\r\n'
	for i in $(seq 1 1200); do printf 'To: u%d@example.test\r\n' "$i"; done
	printf '\r\nbody\r\n'
} >"$T_STATE/many.eml"
out=$(send_mail --from a@example.test --to user@example.test --data "$T_STATE/many.eml")
assert_match "$out" '250 2\.0\.0 Ok: queued' "1200 To: headers: the mail is accepted"
f=$(wait_delivered internal 'Subject: many headers') || not_ok "many headers delivered"
assert_eq "$(sigs "$f")" 0 "... delivered unsigned"
assert_match "$(milter_log_grep 'reason=too-many-headers')" 'dkim=skipped reason=too-many-headers' \
	"... with the reason in the log"
f=$(mail "still fine") || bail_out "no delivery"
verified "$f" 1 "the milter still signs afterwards"

# 300 To: fields: within the 1000 fields kept, beyond the 256 entries of
# h=. A limit like the one above: skipped, with the queue ID, no error.
{
	printf 'From: a@example.test\r\nSubject: three hundred To\r\n'
	for i in $(seq 1 300); do printf 'To: u%d@example.test\r\n' "$i"; done
	printf '\r\nbody\r\n'
} >"$T_STATE/300.eml"
out=$(send_mail --from a@example.test --to user@example.test --data "$T_STATE/300.eml")
id=$(queue_id_of "$out")
f=$(wait_delivered internal 'Subject: three hundred To') || not_ok "300 To: delivered"
assert_eq "$(sigs "$f")" 0 "300 To: fields (over 256 h= entries): delivered unsigned"
assert_match "$(milter_log_grep "$id: milter=")" "^.*$id: milter=accept .*dkim=skipped reason=too-many-headers\$" \
	"... logged with its queue ID as dkim=skipped reason=too-many-headers"
assert_no_match "$(cat "$T_MILTER_LOG")" 'header-hash-failed|header fields to sign' \
	"... and no error line"

# ------------------------------------------------- From: readers differ ----
# Python reads the author of the first as c@evil.test; the second has
# text after the address. Signing either would lend d=example.test to
# what a reader may show as another author (t/unit/test_dkim_from.c).
for from in 'c@evil.test <a@example.test>' '<a@example.test>c@evil.test'; do
	out=$(send_mail --from a@example.test --to user@example.test \
		--header "From: $from" --header "Subject: ambiguous $from")
	id=$(queue_id_of "$out")
	f=$(wait_delivered internal "Subject: ambiguous $(re_escape "$from")") ||
		not_ok "From: $from delivered"
	assert_eq "$(sigs "$f")" 0 "From: $from: delivered unsigned"
	assert_match "$(milter_log_grep "$id: milter=")" 'dkim=skipped reason=from-unparsable$' \
		"... logged dkim=skipped reason=from-unparsable"
done

# --------------------------------------------- a sender we cannot parse ----
# Postfix accepts a local part of 70 octets (RFC 5321 says 64); the
# milter's line must show that sender, as Postfix's does, never <>.
long=$(printf 'l%.0s' $(seq 1 70))
out=$(send_mail --from "$long@example.test" --to user@example.test --header "Subject: long sender")
assert_match "$out" '250 2\.0\.0 Ok: queued' "a 70-octet local part: Postfix accepts it"
id=$(queue_id_of "$out")
assert_match "$(maillog_grep "$id: from=<$long@example\.test>")" "$id: from=<$long@" \
	"... and logs it as the sender"
line=$(milter_log_grep "$id: milter=")
assert_match "$line" "$id: milter=accept .* from=<$long@example\.test> from_status=unparsable " \
	"the milter logs the same sender, marked unparsable"
assert_no_match "$line" 'from=<>' "... not as the null sender"
# 300 octets do not fit the milter's 256: cut, and the cut shown
huge=$(printf 'h%.0s' $(seq 1 300))
out=$(send_mail --from "$huge@example.test" --to user@example.test --header "Subject: huge sender")
id=$(queue_id_of "$out")
assert_match "$(milter_log_grep "$id: milter=")" " from=<h{253}\.\.\.> from_status=unparsable " \
	"a 300-octet sender: logged cut to 256 octets, ending in '...', marked unparsable"

done_testing
