#!/bin/bash
# t_access_relay.sh - the relaying list (policyd.relay) through a real
# Postfix: REJECT, OK and RELAY with the options from, to, connect and
# none, IP/CIDR and host entries, exact_domain on and off, the first entry
# winning; then the open-relay matrix: every entry kind and action, with
# sluice trusting the client, the client or sender permitted, the other
# access checks on, without and with a failed SASL login, from an outside
# client to an outside domain: refused every time, under the documented
# Postfix layout and under a wrong one that asks sluice before
# reject_unauth_destination (sluice never answers OK). Positive controls
# (a trusted and an authenticated client do relay) show the matrix can
# see a relayed message.
set -u
. "$(dirname "$0")/../lib.sh"

GL='greylist = { enabled = false; };'
HARNESS_POLICYD_EXTRA=$GL
HARNESS_NO_MILTER=1
TRUSTED='"127.0.0.1/32", "127.0.1.0/24", "::1/128"'
harness_config() {
	harness_default_config | sed "s|^trusted_networks = .*|trusted_networks = [ $TRUSTED ];|"
}
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

N=0
mail() {	# mail CLIENT FROM TO [swaks args]: Subject "relay-test-N" (N: the caller's)
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: relay-test-$N" "$@"
}
queued='<- +250 2\.0\.0 Ok: queued'
listed='<\*\* +554 5\.7\.1 .*Rejected by the relaying list'
localonly='<\*\* +554 5\.7\.1 .*accepted for local delivery only'
pfrelay='<\*\* +554 5\.7\.1 .*Relay access denied'
# reconfigure POLICYD_EXTRA: rewrite sluice.conf, SIGHUP, wait for the reload
reconfigure() {
	local n
	n=$(log_lines "$T_POLICYD_LOG")
	HARNESS_POLICYD_EXTRA="$GL $1"
	_write_sluice_conf
	harness_sighup policyd
	wait_for 5 _policyd_reloaded "$n" || bail_out "policyd did not reload ($1): $(tail -3 "$T_POLICYD_LOG")"
}
_policyd_reloaded() { tail -n +"$(($1 + 1))" "$T_POLICYD_LOG" | grep -q 'configuration reloaded'; }
relay() {	# relay EXACT ENTRY...: the relaying list
	local IFS=,
	reconfigure "relay = ( $* ); relay_exact_domain = $EXACT;"
}
EXACT=false

# --- REJECT, by option ------------------------------------------------------
relay '{ match = "sender.test"; option = "from"; action = "reject"; }'
assert_match "$(mail 127.0.0.11 a@sender.test u@example.test)" "$listed" "REJECT from: the sender domain is refused, 554 5.7.1"
policyd_log_grep 'relay=reject client=.*from=<a@sender\.test> .*relay_entry=1' 5 >/dev/null
check "log: relay=reject relay_entry=1" test $? -eq 0
assert_match "$(mail 127.0.0.11 a@lists.sender.test u@example.test)" "$listed" "REJECT from, exact_domain off: a subdomain too"
assert_match "$(mail 127.0.0.11 a@notsender.test u@example.test)" "$queued" "REJECT from: another domain ending in the same letters passes"
assert_match "$(mail 127.0.0.11 a@other.test sender.test@example.test)" "$queued" "REJECT from: the recipient is not looked at"
EXACT=true relay '{ match = "sender.test"; option = "from"; action = "reject"; }'
assert_match "$(mail 127.0.0.11 a@lists.sender.test u@example.test)" "$queued" "REJECT from, exact_domain on: the subdomain passes"
assert_match "$(mail 127.0.0.11 a@sender.test u@example.test)" "$listed" "REJECT from, exact_domain on: the domain itself is refused"

relay '{ match = "relay.test"; option = "to"; action = "reject"; }'
assert_match "$(mail 127.0.0.11 a@other.test x@relay.test)" "$listed" "REJECT to: the recipient domain is refused"
assert_match "$(mail 127.0.0.11 a@relay.test u@example.test)" "$queued" "REJECT to: the sender is not looked at"

relay '{ match = "sender.test"; option = "connect"; action = "reject"; }'
assert_match "$(mail 127.0.0.9 a@other.test u@example.test)" "$listed" "REJECT connect: mail.sender.test (exact_domain off) is refused"
assert_match "$(mail 127.0.0.12 a@sender.test u@example.test)" "$queued" "REJECT connect: another client with that sender domain passes"
EXACT=true relay '{ match = "sender.test"; option = "connect"; action = "reject"; }'
assert_match "$(mail 127.0.0.9 a@other.test u@example.test)" "$queued" "REJECT connect, exact_domain on: mail.sender.test is not sender.test"
EXACT=true relay '{ match = "mail.sender.test"; option = "connect"; action = "reject"; }'
assert_match "$(mail 127.0.0.9 a@other.test u@example.test)" "$listed" "REJECT connect, exact_domain on: the host itself is refused"
relay '{ match = "unconfirmed.test"; option = "connect"; action = "reject"; }'
assert_match "$(mail 127.0.0.30 a@other.test u@example.test)" "$queued" "connect: a PTR name that is not forward-confirmed is not the client's name"

relay '{ match = "127.0.0.8/30"; action = "reject"; }'
assert_match "$(mail 127.0.0.9 a@other.test u@example.test)" "$listed" "REJECT CIDR: a client inside is refused"
assert_match "$(mail 127.0.0.12 a@other.test u@example.test)" "$queued" "REJECT CIDR: a client outside passes"

relay '{ match = "outside.test"; action = "reject"; }'
assert_match "$(mail 127.0.0.1 a@example.test x@outside.test)" "$listed" "REJECT none: by recipient domain"
assert_match "$(mail 127.0.0.11 a@outside.test u@example.test)" "$listed" "REJECT none: by sender domain"

# --- OK: local delivery only ------------------------------------------------
relay
assert_match "$(mail 127.0.1.5 a@example.test x@outside.test)" "$queued" "control: without the list a trusted client relays"
relay '{ match = "127.0.1.0/24"; action = "ok"; }'
N=$((N + 1))
out=$(mail 127.0.1.5 a@example.test u@example.test)
assert_match "$out" "$queued" "OK: a trusted client's mail to our domain is accepted"
check "OK: and delivered to the internal server" wait_delivered internal "relay-test-$N"
assert_match "$(mail 127.0.1.5 a@example.test x@outside.test)" "$localonly" "OK: its mail to an outside domain is refused (not forwarded)"
policyd_log_grep 'relay=ok-local-only .*to=<x@outside\.test>' 5 >/dev/null
check "log: relay=ok-local-only" test $? -eq 0
relay '{ match = "example.test"; option = "from"; action = "ok"; }'
assert_match "$(mail 127.0.0.1 a@example.test x@relay.test)" "$queued" "OK from: to a relay domain of ours: accepted"
assert_match "$(mail 127.0.0.1 a@example.test x@outside.test)" "$localonly" "OK from: to an outside domain: refused"

# --- RELAY ------------------------------------------------------------------
relay '{ match = "127.0.1.0/24"; action = "relay"; }' \
	'{ match = "example.test"; option = "from"; action = "reject"; }'
N=$((N + 1))
assert_match "$(mail 127.0.1.5 a@example.test x@outside.test)" "$queued" "RELAY: the first entry wins over a later REJECT"
check "RELAY: the message is relayed to the outside" wait_delivered internet "relay-test-$N"
assert_match "$(mail 127.0.0.1 a@example.test x@outside.test)" "$listed" "RELAY: a client outside the entry meets the second entry"
relay '{ match = "outside.test"; option = "to"; action = "relay"; }'
out=$(mail 127.0.0.9 a@sender.test y@outside.test)
assert_match "$out" "$pfrelay" "RELAY to from an untrusted client: Postfix still refuses (554 Relay access denied)"
assert_no_match "$(cat "$T_POLICYD_LOG")" 'to=<y@outside\.test>' "policyd was never asked about it"
out=$(mail 127.0.0.9 a@sender.test u@example.test)
assert_match "$out" "$queued" "RELAY to: an unmatched message passes as without the list"

# --- SASL, for the matrix ---------------------------------------------------
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

# --- the open-relay matrix --------------------------------------------------
# Every entry matches the outside message: client 127.0.0.9
# (mail.sender.test), sender a@sender.test, recipient victim-N@outside.test.
ENTRIES=(
	'match = "127.0.0.9"'
	'match = "127.0.0.0/8"; option = "connect"'
	'match = "mail.sender.test"; option = "connect"'
	'match = "sender.test"; option = "connect"'
	'match = "sender.test"; option = "from"'
	'match = "outside.test"; option = "to"'
	'match = "outside.test"; option = "none"'
	'match = "sender.test"; option = "none"'
)
refused() {	# refused DESC: the last message was refused at RCPT
	if printf '%s\n' "$out" | grep -Eq '<\*\* +[45][0-9][0-9] ' &&
		! printf '%s\n' "$out" | grep -Eq "$queued"; then
		ok "$1"
	else
		not_ok "$1" "$(printf '%s\n' "$out" | grep -E '^ *(<|<\*\*) ' | tail -3)"
	fi
}
probe() {	# probe DESC: plain, then after a failed AUTH
	N=$((N + 1))
	out=$(mail 127.0.0.9 a@sender.test "victim-$N@outside.test")
	refused "$1"
	out=$(mail 127.0.0.9 a@sender.test "victim-$N@outside.test" --auth-optional PLAIN \
		--auth-user alice@example.test --auth-password wrong)
	refused "$1, after a failed SASL login"
}
matrix() {	# matrix LAYOUT
	local e a
	for EXACT in false true; do
		for e in "${ENTRIES[@]}"; do
			for a in relay ok reject; do
				relay "{ $e; action = \"$a\"; }"
				probe "$1: { $e; action = $a; } exact_domain=$EXACT"
			done
		done
	done
	EXACT=false
	# every RELAY entry at once, with sluice trusting and permitting the
	# client and the sender, and the other access checks on
	TRUSTED='"127.0.0.0/8", "::1/128"'
	redis_cli SADD sluice:permit:ip 127.0.0.9 >/dev/null
	redis_cli SADD sluice:permit:mailbox a@sender.test >/dev/null
	redis_cli SADD sluice:permit:domain sender.test outside.test >/dev/null
	sleep 1.1
	local all="" i
	for i in "${!ENTRIES[@]}"; do all="$all{ ${ENTRIES[$i]}; action = \"relay\"; },"; done
	reconfigure "relay = ( ${all%,} );"
	probe "$1: all RELAY entries, sluice trusts 127.0.0.0/8, client and sender permitted"
	reconfigure "relay = ( ${all%,} ); require_reverse_dns = true; enforce_sender_login = true;"
	probe "$1: the same with require_reverse_dns and enforce_sender_login"
	reconfigure ""
	probe "$1: no relaying list, sluice trusts the client, permitted"
	TRUSTED='"127.0.0.1/32", "127.0.1.0/24", "::1/128"'
	redis_cli DEL sluice:permit:ip sluice:permit:mailbox sluice:permit:domain >/dev/null
	sleep 1.1
}
matrix "documented layout"
# A wrong layout: sluice asked before reject_unauth_destination, where an
# OK would permit relaying. sluice never answers OK, so still no relay.
harness_postconf "smtpd_relay_restrictions = check_policy_service unix:$T_POLICYD_SOCK, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" ||
	bail_out "postconf failed"
matrix "policy before reject_unauth_destination"

# positive controls: the matrix would see a relayed message
relay '{ match = "outside.test"; action = "relay"; }'
out=$(mail 127.0.0.1 a@example.test "victim-control-1@outside.test")
assert_match "$out" "$queued" "control: a trusted client relays to the outside"
out=$(mail 127.0.0.20 alice@example.test "victim-control-2@outside.test" --auth PLAIN \
	--auth-user alice@example.test --auth-password secret)
assert_match "$out" "$queued" "control: an authenticated client relays to the outside"
check "control: both reach the outside sink" wait_for 10 test "$(sink_count internet 'victim-control-')" -eq 2
sleep 2
assert_eq "$(sink_count internet 'To: victim-[0-9]+@outside\.test')" 0 "matrix: no probe reached the outside sink"
assert_no_match "$(grep -E 'to=<victim-[0-9]+@outside\.test>.*status=sent' "$T_MAILLOG")" . "matrix: the maillog shows no probe sent"
check "policyd still running" harness_pid policyd
done_testing
