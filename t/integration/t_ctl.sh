#!/bin/bash
# t_ctl.sh - sluice-ctl explain, lists check and greylist show|forget
# against a real Redis, Postfix and both daemons (t/lib.sh).
#
# explain: one case per verdict kind (forbidden, permitted, greylisted
# new / deferred / passed, rate-limited, unknown recipient, relay refused,
# alias expanded, copy added, signed with key s1, A-R checks), parsed from
# --json with python3; for each refusal the same message is then sent
# through Postfix and the daemon's SMTP code must be explain's. Proof that
# explain changes nothing: every key's DUMP and PEXPIRETIME before and
# after all explain runs are identical, and the same snapshot does change
# when the daemon handles one message (so the comparison can fail).
# lists check: a bad CIDR, a bad regex, a wrong key type, a bad map entry,
# exit 1; clean lists, exit 0. greylist show/forget: the state the daemon
# wrote, and forget makes the next attempt a new triplet (450 again).
set -u
. "$(dirname "$0")/../lib.sh"

CTL="$SLUICE_BUILD/sluice-ctl"
[ -x "$CTL" ] || bail_out "$CTL not built"
KEYS=/run/sluice-t-ctl-keys.$$
mkdir -p -m 0755 "$KEYS"
"$SLUICE_BUILD/sluice-keygen" -d example.test -s s1 -a rsa -o "$KEYS" >/dev/null 2>&1 ||
	bail_out "sluice-keygen failed"
chown sluice "$KEYS/example.test.s1.key"
echo "t-ctl-srs-secret" >"$KEYS/srs.secret"
chmod 0644 "$KEYS/srs.secret"

HARNESS_POLICYD_EXTRA='test_clock = true;
  greylist = { enabled = true; delay = "2m"; allow_networks = [ ]; spf_bypass = false;
    spf_domain_triplet = false; };
  ratelimit = ( { name = "sender-rcpts"; subject = "sender"; count = "recipients";
    limit = 4; window = "1h"; direction = "inbound"; } );
  recipients = { validate = "list"; };
  relay = ( { match = "bad.test"; option = "from"; action = "reject"; } );'
HARNESS_MILTER_EXTRA="always_bcc = \"archive@example.test\"; spf = true;
  srs = { domain = \"example.test\"; secret_file = \"$KEYS/srs.secret\"; reinject = \"inet:127.0.0.1:10026\"; };"
harness_config_extra() {
	printf 'dkim = { keys = ( { domain = "example.test"; selector = "s1"; key = "%s"; } ); };\n' \
		"$KEYS/example.test.s1.key"
}
trap 'harness_stop "$HARNESS_NAME"; rm -rf "$KEYS"' EXIT
harness_start "sluice-t-ctl-$$" || bail_out "harness did not start"

R() { redis_cli "$@" >/dev/null; }
R SADD sluice:mailboxes user@example.test a@example.test b@example.test archive@example.test
R SADD sluice:alias:sales@example.test a@example.test b@example.test
R SADD sluice:alias:ext@example.test boss@gmail.test
R SADD sluice:alias:team@example.test a@example.test boss@gmail.test
R SADD sluice:forbid:ip 127.0.0.66
R SADD sluice:permit:mailbox friend@sender.test
sleep 1.5	# the daemons' list caches have the lists

ctl() { in_ns "$CTL" -c "$T_CONF" "$@"; }
# explain_json ARGS...: explain --json; the output in $J, the status in $JRC
explain_json() { J=$(ctl --json explain --client-name unknown "$@" 2>"$T_STATE/ctl.err"); JRC=$?; }
# jq_py EXPR: a python expression on the parsed JSON (d), printed
jq_py() { printf '%s' "$J" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>&1; }
# finding DAEMON CHECK FIELD [STAGE-PREFIX]: one field of the first finding
finding() {
	jq_py "next((f['$3'] for f in d['$1'] if f['check'] == '$2' and f['stage'].startswith('${4:-}')), 'none')"
}
mail() {	# mail CLIENT FROM TO [swaks args]
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" "$@"
}
code_of() {	# the first refusal code swaks saw, or 250 when queued
	if printf '%s\n' "$1" | grep -q 'Ok: queued'; then echo 250; return; fi
	printf '%s\n' "$1" | sed -n 's/^<\*\* *\([0-9][0-9][0-9] [0-9]\.[0-9]*\.[0-9]*\).*/\1/p' | head -n 1
}
# snapshot: every key with its DUMP and absolute expiry, sorted
snapshot() {
	local k
	redis_cli --scan | sort | while IFS= read -r k; do
		printf '%s\t%s\t%s\n' "$k" "$(redis_cli --no-raw DUMP "$k")" "$(redis_cli PEXPIRETIME "$k")"
	done
}

# ------------------------------------------------------------ explain ----
before=$(snapshot)

# forbidden client
explain_json --client 127.0.0.66 --from x@sender.test --to user@example.test
assert_eq "$(finding policyd permit_forbid verdict RCPT)" "access=forbid-ip" \
	"explain: forbidden IP: permit_forbid says access=forbid-ip"
assert_match "$(finding policyd permit_forbid action RCPT)" '^550 5\.7\.1' "explain: ... with 550 5.7.1"
assert_match "$(finding milter rules action)" '^reject at MAIL FROM: 550 5\.7\.1' \
	"explain: the milter's rules refuse it at MAIL FROM"
assert_eq "$JRC" 1 "explain exits 1 for a refused message"
explain_forbid=$(jq_py "d['answer']['policyd']['user@example.test']")

# permitted sender: greylisting skipped
explain_json --client 127.0.0.9 --from friend@sender.test --to user@example.test
assert_match "$(finding policyd permit_forbid reason RCPT)" 'access=permit-mailbox' \
	"explain: permitted mailbox: access=permit-mailbox"
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=allowlisted" \
	"explain: permitted: greylist=allowlisted"
assert_match "$(finding policyd greylist reason RCPT)" 'reason=permit_mailbox' \
	"explain: ... reason=permit_mailbox"
assert_eq "$JRC" 0 "explain exits 0 for an accepted message"

# greylisted, new triplet; recipient valid (mailbox); rate limit passes
explain_json --client 127.0.0.9 --from a@sender.test --to user@example.test
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=new" "explain: a new triplet: greylist=new"
assert_match "$(finding policyd greylist reason RCPT)" \
	'reads: sluice:gl:\{127\.0\.0\.9/32\}:a@sender\.test:user@example\.test .*would-run: "SET sluice:gl:\{127\.0\.0\.9/32\}:a@sender\.test:user@example\.test [0-9]+ EX ' \
	"explain: ... the triplet key as policyd builds it, and the SET it would run"
assert_match "$(finding policyd greylist action RCPT)" '^DEFER_IF_PERMIT Greylisted, retry in 120 seconds' \
	"explain: ... DEFER_IF_PERMIT, retry in 120 s"
assert_match "$(finding policyd recipients reason RCPT)" 'rcpt=valid rcpt_by=mailbox' "explain: user@ is a valid mailbox"
assert_match "$(finding policyd ratelimit reason RCPT)" 'would-run: "SET sluice:rl:\{' \
	"explain: the rate limit's GCRA key would be set, not set"
explain_new=$(jq_py "d['answer']['policyd']['user@example.test']")

# unknown recipient
explain_json --client 127.0.0.9 --from a@sender.test --to nobody@example.test
assert_eq "$(finding policyd recipients verdict RCPT)" "rcpt=unknown" "explain: unknown recipient: rcpt=unknown"
explain_unknown=$(jq_py "d['answer']['policyd']['nobody@example.test']")

# relay list refuses the sender's domain
explain_json --client 127.0.0.9 --from x@bad.test --to user@example.test
assert_eq "$(finding policyd relay verdict RCPT)" "relay=reject" "explain: relaying list: relay=reject"
assert_match "$(finding policyd relay reason RCPT)" 'relay_entry=1' "explain: ... entry 1 matched"
explain_relay=$(jq_py "d['answer']['policyd']['user@example.test']")

# alias expanded, always_bcc, A-R checks of inbound mail
explain_json --client 127.0.0.9 --from b2@sender.test --to sales@example.test
assert_match "$(finding policyd recipients reason RCPT)" 'rcpt=valid rcpt_by=alias' "explain: an alias is a valid recipient"
alias_reason=$(finding milter alias reason)
assert_match "$alias_reason" 'remove-recipient=<sales@example\.test>' "explain: alias: sales@ removed"
assert_match "$alias_reason" 'add-recipient=<a@example\.test>.*add-recipient=<b@example\.test>|add-recipient=<b@example\.test>.*add-recipient=<a@example\.test>' \
	"explain: alias: expanded to a@ and b@"
assert_match "$(finding milter copies reason)" 'add-recipient=<archive@example\.test>' \
	"explain: copies: always_bcc archive@ added"
assert_match "$(finding milter auth reason)" 'add-header="Authentication-Results: *mx\.example\.test; +spf=' \
	"explain: inbound: the auth module writes A-R with spf="
assert_eq "$(finding milter dkim_sign reason)" "" "explain: inbound mail is not signed"

# SRS: an alias to an external target; a mixed one re-injects a copy
explain_json --client 127.0.0.9 --from b2@sender.test --to ext@example.test
assert_match "$(finding milter alias reason)" 'change-sender=<SRS0=[^=]+=[^=]+=sender\.test=b2@example\.test>.*add-recipient=<boss@gmail\.test>' \
	"explain: SRS: the envelope sender of a forwarded alias becomes SRS0"
explain_json --client 127.0.0.9 --from b2@sender.test --to team@example.test
assert_match "$(finding milter alias reason)" 'reinject-copy-from=<SRS0=.*reinject-copy-to=boss@gmail\.test' \
	"explain: SRS split: the external copy would be re-injected (recorded, not sent)"

# outbound, signed with example.test's key s1
explain_json --client 127.0.0.1 --from me@example.test --to someone@remote.test
assert_match "$(finding milter dkim_sign reason)" 'dkim=signed d=example\.test s=s1 a=rsa-sha256' \
	"explain: outbound: signed d=example.test s=s1"
assert_match "$(finding milter dkim_sign reason)" 'add-header="DKIM-Signature:.*d=example\.test' \
	"explain: ... with a DKIM-Signature header"
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=allowlisted" \
	"explain: a trusted client is not greylisted"

# text output: one block per check
text=$(ctl explain --client 127.0.0.66 --from x@sender.test --to user@example.test --client-name unknown)
assert_match "$text" 'check: +permit_forbid' "explain text: a block per check"
assert_match "$text" 'RCPT TO:<user@example\.test>: 550 5\.7\.1' "explain text: the answer"

# reverse DNS when no --client-name: the zone's forward-confirmed name
J=$(ctl --json explain --client 127.0.0.30 --from a@sender.test --to user@example.test 2>/dev/null)
assert_eq "$(jq_py "d['client_name_source'] + ' ' + d['reverse_client_name'] + ' ' + d['client_name']")" \
	"reverse DNS mail.unconfirmed.test unknown" \
	"explain: names from reverse DNS, unconfirmed PTR gives client_name unknown (as Postfix)"

after=$(snapshot)
if [ "$before" = "$after" ] && [ -n "$before" ]; then
	ok "explain changed nothing in Redis ($(printf '%s\n' "$before" | wc -l) keys, DUMP and PEXPIRETIME identical)"
else
	not_ok "explain changed nothing in Redis" "$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -5)"
fi

# ------------------------------------------- the daemons agree --------
out=$(mail 127.0.0.66 x@sender.test user@example.test)
assert_match "$explain_forbid $(code_of "$out")" '^550 5\.7\.1 .* 550 5\.7\.1$' \
	"forbidden: explain's 550 5.7.1 is what the daemons answer"
out=$(mail 127.0.0.9 x@bad.test user@example.test)
assert_match "$explain_relay $(code_of "$out")" '^554 5\.7\.1 .* 554 5\.7\.1$' \
	"relay refused: explain's 554 5.7.1 is the daemon's"
out=$(mail 127.0.0.9 a@sender.test nobody@example.test)
assert_match "$explain_unknown $(code_of "$out")" '^550 5\.1\.1 .* 550 5\.1\.1$' \
	"unknown recipient: explain's 550 5.1.1 is the daemon's"
out=$(mail 127.0.0.9 friend@sender.test user@example.test)
assert_eq "$(code_of "$out")" 250 "permitted: accepted at once, as explain said"

snap1=$(snapshot)
out=$(mail 127.0.0.9 a@sender.test user@example.test)
assert_match "$explain_new $(code_of "$out")" '^450 4\.7\.1 Greylisted, retry in 120 seconds.* 450 4\.7\.1$' \
	"greylist new: explain's DEFER_IF_PERMIT is the daemon's 450 4.7.1"
if [ "$(snapshot)" != "$snap1" ]; then
	ok "the snapshot does see a change when the daemon handles a message (the proof can fail)"
else
	not_ok "the snapshot sees the daemon's change" "no difference"
fi

# deferred: the state the daemon wrote
explain_json --client 127.0.0.9 --from a@sender.test --to user@example.test
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=early" "explain: retried early: greylist=early"
assert_match "$(finding policyd greylist reason RCPT)" 'retry_in=1[0-2][0-9]' "explain: ... retry_in about 120"
show=$(ctl greylist show --client 127.0.0.9 --from a@sender.test --to user@example.test)
assert_match "$show" 'state: deferred: first seen [0-9]+ s ago, passes in 1[0-2][0-9] s' \
	"greylist show: the triplet is deferred, with the time left"
J=$(ctl --json greylist show --client 127.0.0.9)
assert_eq "$(jq_py "[k['key'] for k in d if k['kind'] == 'triplet']")" \
	"['sluice:gl:{127.0.0.9/32}:a@sender.test:user@example.test']" \
	"greylist show --client (SCAN): the client's one triplet"

# passed: 200 s later (policyd.test_clock)
R SET sluice:test:clock_offset 200
sleep 1.5	# the daemon reads the offset once a second
explain_json --client 127.0.0.9 --from a@sender.test --to user@example.test
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=pass" "explain: after the delay: greylist=pass"
assert_match "$(finding policyd greylist reason RCPT)" 'would-run: "SET sluice:gl:\{127\.0\.0\.9/32\}:a@sender\.test:user@example\.test p[0-9]+ EX ' \
	"explain: ... it would mark the triplet passed"
out=$(mail 127.0.0.9 a@sender.test user@example.test)
assert_eq "$(code_of "$out")" 250 "greylist pass: the daemon accepts it too"
show=$(ctl greylist show --client 127.0.0.9 --from a@sender.test --to user@example.test)
assert_match "$show" 'state: passed' "greylist show: passed"

# rate limit: 4 recipients per hour per sender; the 5th is refused
for i in 1 2 3 4; do
	mail 127.0.0.9 rl@sender.test "user@example.test" >/dev/null
done
explain_json --client 127.0.0.9 --from rl@sender.test --to user@example.test
assert_eq "$(finding policyd ratelimit verdict RCPT)" "ratelimit=over" "explain: 5th recipient: ratelimit=over"
assert_match "$(finding policyd ratelimit reason RCPT)" 'rule=sender-rcpts' "explain: ... rule sender-rcpts"
explain_rl=$(jq_py "d['answer']['policyd']['user@example.test']")
out=$(mail 127.0.0.9 rl@sender.test user@example.test)
assert_match "$explain_rl | $(printf '%s\n' "$out" | grep '^<\*\*' | head -1)" \
	'^450 4\.7\.1 Rate limit exceeded.* \| <\*\* +450 4\.7\.1 .*Rate limit exceeded' \
	"rate limited: explain's 450 4.7.1 is the daemon's"

# forget: the next attempt is a new triplet
out=$(ctl greylist forget --client 127.0.0.9)
assert_match "$out" '^forgot [2-9] key\(s\)' "greylist forget --client: the triplets and the pass counter"
explain_json --client 127.0.0.9 --from a@sender.test --to user@example.test
assert_eq "$(finding policyd greylist verdict RCPT)" "greylist=new" "explain after forget: greylist=new"
R DEL sluice:test:clock_offset
out=$(mail 127.0.0.9 a@sender.test user@example.test)
assert_match "$(code_of "$out")" '^450 4\.7\.1' "after forget the daemon defers again (a new triplet)"

# usage errors
ctl explain --from a@b.test --to c@d.test >/dev/null 2>&1
assert_eq "$?" 2 "explain without --client: exit 2"
ctl explain --client 999.1.1.1 --from a@b.test --to c@d.test >/dev/null 2>&1
assert_eq "$?" 2 "explain with a bad --client: exit 2"

# --------------------------------------------------------- lists check ----
out=$(ctl lists check); rc=$?
assert_eq "$rc" 0 "lists check: clean lists exit 0"
assert_match "$out" 'all valid' "lists check: says so"
R SADD sluice:forbid:ip 10.0.0.0/99
R SADD sluice:permit:mailbox '/(unclosed/'
R SET sluice:greylist:allow:sender 'not a set'
R HSET sluice:domainmap '' example.test
out=$(ctl lists check); rc=$?
assert_eq "$rc" 1 "lists check: invalid members exit 1"
assert_match "$out" "sluice:forbid:ip: '10\.0\.0\.0/99': not an IP address or CIDR block" "lists check: the bad CIDR"
assert_match "$out" "sluice:permit:mailbox: '/\(unclosed/': invalid regular expression" "lists check: the bad regex"
assert_match "$out" "sluice:greylist:allow:sender: not a set" "lists check: the key of the wrong type"
assert_eq "$(printf '%s\n' "$out" | wc -l)" 4 "lists check: one line per skipped member (4)"
J=$(ctl --json lists check)
assert_eq "$(jq_py "sorted(m['key'] for m in d)")" \
	"['sluice:domainmap', 'sluice:forbid:ip', 'sluice:greylist:allow:sender', 'sluice:permit:mailbox']" \
	"lists check --json: parsed, one object per member"

done_testing
