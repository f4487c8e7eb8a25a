#!/bin/bash
# t_greylist.sh - greylisting through a real Postfix, seen from the sending
# side (swaks), with Redis and DNS (SPF) real. The clock is moved with the
# test aid policyd.test_clock (Redis key sluice:test:clock_offset), so no
# test sleeps for minutes.
set -u
. "$(dirname "$0")/../lib.sh"

GL_BASE='delay = 120; auto_allowlist_clients = 2;
  allow_networks = [ "127.0.0.40/32" ];
  allow_client_domains = [ "softfail.test" ];
  allow_senders = [ "friend@nowhere.test", "/.*@list[0-9]+\\.test/" ];
  allow_recipients = [ "abuse@example.test" ];'
HARNESS_POLICYD_EXTRA="test_clock = true; greylist = { $GL_BASE };"
HARNESS_NO_MILTER=1
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

offset=0
advance() {	# advance SECONDS: move the daemons' clock, wait for them to see it
	offset=$((offset + $1))
	redis_cli SET sluice:test:clock_offset "$offset" >/dev/null
	sleep 1.2
}
mail() {	# mail CLIENT FROM TO [swaks args]
	local ip=$1 from=$2 to=$3
	shift 3
	send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: greylist test $from $to" "$@"
}
expect_greylisted() {	# expect_greylisted OUTPUT DESC
	assert_match "$1" '<\*\* +450 4\.7\.1 .*Greylisted, retry in [0-9]+ seconds' "$2"
}
expect_accepted() {
	assert_match "$1" '<- +250 2\.0\.0 Ok: queued' "$2"
}
policy_log() {	# policy_log REGEX DESC
	if policyd_log_grep "$1" 5 >/dev/null; then ok "$2"; else
		not_ok "$2" "no policyd log line matches: $1" "$(tail -3 "$T_POLICYD_LOG")"; fi
}

# --- the basic flow ----------------------------------------------------
out=$(mail 127.0.0.20 a@nowhere.test u1@example.test)
expect_greylisted "$out" "first attempt: 450 4.7.1 Greylisted"
assert_match "$out" 'retry in 120 seconds' "first attempt: retry in the whole delay"
policy_log 'greylist=new client=unknown\[127\.0\.0\.20\] from=<a@nowhere\.test> to=<u1@example\.test> spf=none retry_in=120' \
	"log: greylist=new with client, from, to and the delay"
advance 30
out=$(mail 127.0.0.20 a@nowhere.test u1@example.test)
expect_greylisted "$out" "early retry: 450 again"
assert_match "$out" 'retry in (8[0-9]|9[0-9]) seconds' "early retry: the remaining seconds"
policy_log 'greylist=early .*to=<u1@example\.test> spf=none retry_in=' "log: greylist=early"
advance 100
out=$(mail 127.0.0.20 a@nowhere.test u1@example.test)
expect_accepted "$out" "retry after the delay: 250"
qid=$(queue_id_of "$out")
f=$(wait_delivered internal "greylist test a@nowhere.test u1@example.test") &&
	ok "retry after the delay: delivered" || not_ok "retry after the delay: not delivered"
assert_match "$(cat "$f" 2>/dev/null)" '^X-Greylist: delayed 1[23][0-9] seconds by sluice-policyd at [^;]+; [A-Z][a-z]{2}, [0-9]+ [A-Z][a-z]{2} 20[0-9]{2} ' \
	"X-Greylist header on the delayed message"
policy_log "greylist=pass .*to=<u1@example\.test> spf=none delayed=1[23][0-9]" "log: greylist=pass delayed=N"
out=$(mail 127.0.0.20 a@nowhere.test u1@example.test)
expect_accepted "$out" "a passed triplet passes at once"

# Bounce and list senders: BATV, SRS, VERP and +ext are one sender.
out=$(mail 127.0.0.20 prvs=1234abcd=a@nowhere.test u1@example.test)
expect_accepted "$out" "BATV-tagged sender is the same triplet"
out=$(mail 127.0.0.20 'a+news@nowhere.test' u1@example.test)
expect_accepted "$out" "+extension sender is the same triplet"

# --- auto-allowlist of the client (after 2 passed triplets) -------------
out=$(mail 127.0.0.20 b@nowhere.test u2@example.test)
expect_greylisted "$out" "second triplet of the client: greylisted"
advance 130
out=$(mail 127.0.0.20 b@nowhere.test u2@example.test)
expect_accepted "$out" "second triplet passes after the delay"
out=$(mail 127.0.0.20 c@other.test u3@example.test)
expect_accepted "$out" "another sender from the auto-allowlisted client passes at once"
policy_log 'greylist=awl client=unknown\[127\.0\.0\.20\] from=<c@other\.test>' "log: greylist=awl"

# --- SPF ----------------------------------------------------------------
out=$(mail 127.0.0.9 s@sender.test u1@example.test)
expect_accepted "$out" "SPF-passing sender is not delayed"
policy_log 'greylist=bypass-spf client=mail\.sender\.test\[127\.0\.0\.9\] from=<s@sender\.test>' \
	"log: greylist=bypass-spf"
out=$(mail 127.0.0.21 s@sender.test u1@example.test)
expect_greylisted "$out" "the same sender from an IP its SPF does not authorize is greylisted"

# --- allowlists from the config -----------------------------------------
out=$(mail 127.0.0.40 x@nowhere.test u1@example.test)
expect_accepted "$out" "config allow_networks"
policy_log 'greylist=allowlisted client=unknown\[127\.0\.0\.40\].* reason=allow_networks' "log: reason=allow_networks"
out=$(mail 127.0.0.11 x@nowhere.test u1@example.test)
expect_accepted "$out" "config allow_client_domains (verified client name, parent domain)"
policy_log 'greylist=allowlisted client=mail\.softfail\.test\[127\.0\.0\.11\].* reason=allow_client_domain' \
	"log: reason=allow_client_domain"
out=$(mail 127.0.0.21 friend@nowhere.test u1@example.test)
expect_accepted "$out" "config allow_senders (address)"
out=$(mail 127.0.0.21 news@list42.test u1@example.test)
expect_accepted "$out" "config allow_senders (/regex/)"
out=$(mail 127.0.0.21 y@nowhere.test abuse@example.test)
expect_accepted "$out" "config allow_recipients"
policy_log 'greylist=allowlisted .*to=<abuse@example\.test> reason=allow_recipient' "log: reason=allow_recipient"

# --- allowlists from Redis: in effect within a second, no restart --------
redis_list() {	# redis_list KEY MEMBER CLIENT FROM TO REASON
	local out
	out=$(mail "$3" "$4" "$5")
	expect_greylisted "$out" "$1: before SADD, greylisted"
	redis_cli SADD "sluice:$1" "$2" >/dev/null
	sleep 1.1
	out=$(mail "$3" "$4" "$5")
	expect_accepted "$out" "$1: SADD $2 takes effect within 1 s"
	policy_log "greylist=allowlisted .*from=<$(re_escape "$4")> to=<$(re_escape "$5")> (access=permit-[a-z]+ )?reason=$6" "log: reason=$6"
}
redis_list greylist:allow:ip 127.0.0.22/31 127.0.0.22 r1@nowhere.test u1@example.test allow_ip
redis_list greylist:allow:client_domain nodmarc.test 127.0.0.12 r2@nowhere.test u1@example.test allow_client_domain
redis_list greylist:allow:sender r3@nowhere.test 127.0.0.24 r3@nowhere.test u1@example.test allow_sender
redis_list greylist:allow:recipient u9@example.test 127.0.0.24 r4@nowhere.test u9@example.test allow_recipient
redis_list permit:ip 127.0.0.25 127.0.0.25 r5@nowhere.test u1@example.test permit_ip
redis_list permit:mailbox '/r6@.*/' 127.0.0.24 r6@nowhere.test u1@example.test permit_mailbox
redis_list permit:domain permitted.test 127.0.0.24 r7@permitted.test u1@example.test permit_domain
redis_cli SREM sluice:permit:ip 127.0.0.25 >/dev/null
sleep 1.1
out=$(mail 127.0.0.25 r8@nowhere.test u1@example.test)
expect_greylisted "$out" "SREM takes effect within 1 s too"

# Bad list contents: an invalid member is skipped, a key of the wrong type
# keeps nothing from breaking the other lists; both are logged.
redis_cli SET sluice:forbid:domain "not a set" >/dev/null
redis_cli SADD sluice:permit:ip 10.0.0.0/99 127.0.0.29 >/dev/null
sleep 1.1
out=$(mail 127.0.0.29 r9@nowhere.test u1@example.test)
expect_accepted "$out" "an invalid member and a wrong-type key do not stop the other lists"
policy_log 'redis lists: [0-9]+ invalid member\(s\) or key\(s\) skipped: sluice:forbid:domain: WRONGTYPE' \
	"bad list contents are logged"
redis_cli DEL sluice:forbid:domain >/dev/null

# --- Redis state: every key has a TTL, keys are hash-tagged ---------------
keys=$(redis_cli --scan --pattern 'sluice:gl:*')
assert_match "$keys" '^sluice:gl:\{127\.0\.0\.20/32\}:a@nowhere\.test:u1@example\.test$' "triplet key tagged on the client network"
assert_match "$keys" '^sluice:gl:\{127\.0\.0\.20/32\}:awl$' "auto-allowlist key tagged on the client network"
nottl=0
for k in $keys; do
	t=$(redis_cli TTL "$k")
	[ "$t" -gt 0 ] 2>/dev/null || nottl=$((nottl + 1))
done
assert_eq "$nottl" 0 "every greylisting key has a TTL ($(printf '%s\n' "$keys" | wc -l) keys)"

# --- two MX hosts sharing one Redis ---------------------------------------
second_conf=$T_STATE/sluice-b.conf
sed -e "s|$T_STATE/policyd.sock|$T_STATE/policyd-b.sock|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$second_conf"
in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$second_conf" 2>"$T_STATE/policyd-b.log" &
bpid=$!
wait_for 5 test -S "$T_STATE/policyd-b.sock"
pc() { in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$1" request \
	client_address=127.0.0.26 client_name=unknown sender=mx@nowhere.test recipient=u1@example.test; }
assert_match "$(pc "$T_POLICYD_SOCK")" 'action=DEFER_IF_PERMIT Greylisted' "host A: first attempt deferred"
assert_match "$(pc "$T_STATE/policyd-b.sock")" 'action=DEFER_IF_PERMIT Greylisted, retry in 1[012][0-9] seconds' \
	"host B: still deferred"
if log_wait "$T_STATE/policyd-b.log" 'greylist=early client=unknown\[127\.0\.0\.26\]' 3 >/dev/null; then
	ok "host B: sees host A's triplet (greylist=early, not new)"
else
	not_ok "host B: sees host A's triplet (greylist=early, not new)" "$(cat "$T_STATE/policyd-b.log")"
fi
advance 130
assert_match "$(pc "$T_STATE/policyd-b.sock")" 'action=PREPEND X-Greylist: delayed' "host B: passes after the delay"
assert_match "$(pc "$T_POLICYD_SOCK")" 'action=DUNNO' "host A: the triplet host B passed passes"
kill "$bpid"; wait "$bpid" 2>/dev/null
# An odd sender that Postfix would pass on but our parser refuses is
# still greylisted, never waved through.
assert_match "$(in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_POLICYD_SOCK" request \
	client_address=127.0.0.26 client_name=unknown 'sender= odd@nowhere.test' recipient=u1@example.test)" \
	'action=DEFER_IF_PERMIT Greylisted' "an unparseable sender is greylisted, not skipped"

# --- Redis down and back: fail_open ---------------------------------------
harness_stop_daemon redis
# The list refresh notices first (within a second); its warning must not
# use up greylisting's own (each warning has its own once-a-minute limit).
policy_log 'redis lists not refreshed' "Redis down: the list refresh warns"
out=$(mail 127.0.0.27 down@nowhere.test u1@example.test)
expect_accepted "$out" "Redis down, fail_open: mail passes"
policy_log 'greylisting without Redis \(fail_open: mail passes\)' \
	"Redis down: greylisting's own warning, after the refresh's"
policy_log 'greylist=error .*from=<down@nowhere\.test>.* reason=redis' "Redis down: greylist=error"
_start_redis || bail_out "redis did not restart"
offset=0	# a new Redis has no clock offset
n=0
while :; do
	n=$((n + 1))
	out=$(mail 127.0.0.27 "back$n@nowhere.test" u1@example.test)
	printf '%s\n' "$out" | grep -q '450 4\.7\.1' && break
	[ "$n" -ge 12 ] && break
	sleep 0.5
done
expect_greylisted "$out" "Redis back: greylisting resumes without a restart (after $n tries)"

# --- SPF-authorized domain as the triplet's subject -----------------------
HARNESS_POLICYD_EXTRA="test_clock = true; greylist = { $GL_BASE spf_bypass = false; };"
harness_restart_sluice || bail_out "policyd did not restart"
out=$(mail 127.0.0.9 d@sender.test u5@example.test)
expect_greylisted "$out" "spf_bypass off: an SPF-passing sender is greylisted"
advance 130
out=$(mail 127.0.0.10 d@sender.test u5@example.test)
expect_accepted "$out" "retry from another SPF-authorized IP of the domain: not delayed again"
keys=$(redis_cli --scan --pattern 'sluice:gl:*')
assert_match "$keys" '^sluice:gl:\{spf:sender\.test\}:d@sender\.test:u5@example\.test$' "triplet keyed on the SPF domain"

# --- fail_open = false: 451 4.3.0 -----------------------------------------
HARNESS_POLICYD_EXTRA="test_clock = true; fail_open = false; greylist = { $GL_BASE };"
harness_restart_sluice || bail_out "policyd did not restart"
harness_stop_daemon redis
out=$(mail 127.0.0.28 closed@nowhere.test u1@example.test)
assert_match "$out" '<\*\* +451 4\.3\.0 ' "Redis down, fail_open off: 451 4.3.0"
_start_redis || bail_out "redis did not restart"

done_testing
