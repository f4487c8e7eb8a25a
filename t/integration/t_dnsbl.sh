#!/bin/bash
# t_dnsbl.sh - DNSBL/DNSWL through a real Postfix, seen from the sending
# side (swaks), with the zones in the test DNS (dnsmasq) and the cache in
# the test Redis. One zone is forwarded to a server that reads queries and
# never answers: it must cost the requests no more than the budget.
#   127.0.0.50  listed in bl.test (127.0.0.2)          -> 554 5.7.1
#   127.0.0.51  listed in bl.test and in wl.test       -> score -2, passes
#   127.0.0.52  bl.test answers 127.0.0.1 (filtered)   -> passes
#   127.0.0.53  listed nowhere                         -> passes
#   127.0.0.60  only in a Redis cache entry we write   -> 554 (cache read first)
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_POLICYD_EXTRA='greylist = { enabled = false; };
  dnsbl = { threshold = 3; budget = "1500ms";
    zones = ( "bl.test=127.0.0.[2..11]*3", "wl.test*-5", "dead.test*1" ); };'
HARNESS_NO_MILTER=1
B_SOCK=
bpid=
blackhole=
cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	[ -n "$blackhole" ] && kill "$blackhole" 2>/dev/null && wait "$blackhole" 2>/dev/null
	harness_stop "$HARNESS_NAME"
}
trap cleanup EXIT
harness_start "sluice-t-dnsbl-$$" || bail_out "harness did not start"
B_SOCK="$T_STATE/policyd-b.sock"
B_LOG="$T_STATE/policyd-b.log"

# A DNS server for dead.test that reads every query and answers none.
in_ns python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5399))
while True:
    s.recvfrom(4096)
' &
blackhole=$!
zone_add "local-ttl=600" \
	"address=/50.0.0.127.bl.test/127.0.0.2" \
	"address=/51.0.0.127.bl.test/127.0.0.2" \
	"address=/51.0.0.127.wl.test/127.0.0.2" \
	"address=/52.0.0.127.bl.test/127.0.0.1" \
	"server=/dead.test/127.0.0.1#5399" || bail_out "zones not added"
assert_eq "$(dns_query 50.0.0.127.bl.test A)" "127.0.0.2" "the test DNS lists 127.0.0.50 in bl.test"

mail() {	# mail CLIENT
	send_mail --local-interface "$1" --from "someone@nowhere.test" --to "user@example.test" \
		--header "Subject: dnsbl test $1"
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# --- listed client rejected, with the zone named ---------------------------
t0=$(ms)
out=$(mail 127.0.0.50)
t1=$(ms)
assert_match "$out" '<\*\* +554 5\.7\.1 .*Service unavailable; client \[127\.0\.0\.50\] blocked using bl\.test' \
	"a client listed in bl.test is refused with 554 5.7.1 naming the zone"
policyd_log_grep 'dnsbl=reject .*client=.*127\.0\.0\.50.* dnsbl_score=3' 5 >/dev/null &&
	ok "the decision is logged with its score" || not_ok "the decision is logged with its score" "$(tail -3 "$T_POLICYD_LOG")"
policyd_log_grep 'dnsbl_unanswered=dead\.test' 5 >/dev/null &&
	ok "the silent zone is logged as unanswered" || not_ok "the silent zone is logged as unanswered"
# The budget is 1.5 s; c-ares alone would wait 2 tries x 1 s per server.
elapsed=$((t1 - t0))
if [ "$elapsed" -ge 1400 ] && [ "$elapsed" -lt 4000 ]; then
	ok "a zone that never answers costs the message about the budget ($elapsed ms)"
else
	not_ok "a zone that never answers costs the message about the budget" "took $elapsed ms"
fi

# Straight to the socket, without SMTP around it: the budget (1.5 s) ends
# the wait, before c-ares's own 2 tries of 1 s would.
# The client's own cost (a Python start) is measured first, with a
# trusted client that asks no DNS, and taken off.
t0=$(ms)
policy_request "$T_POLICYD_SOCK" request=smtpd_access_policy protocol_state=RCPT \
	client_address=127.0.0.1 sender=someone@nowhere.test recipient=user@example.test >/dev/null
t1=$(ms)
out=$(policy_request "$T_POLICYD_SOCK" request=smtpd_access_policy protocol_state=RCPT \
	client_address=127.0.0.54 sender=someone@nowhere.test recipient=user@example.test)
t2=$(ms)
assert_match "$out" 'action=DUNNO' "a client listed nowhere, one zone silent: DUNNO"
elapsed=$(( (t2 - t1) - (t1 - t0) ))
if [ "$elapsed" -ge 1300 ] && [ "$elapsed" -lt 1850 ]; then
	ok "the request is answered when its 1.5 s budget ends ($elapsed ms more than a request without DNS)"
else
	not_ok "the request is answered when its 1.5 s budget ends" "took $elapsed ms more than a request without DNS"
fi

# --- the cache: in Redis, with a TTL, only the answered zones -------------
ttl=$(redis_cli TTL 'sluice:dnsbl:{127.0.0.50}')
if [ "$ttl" -gt 0 ] 2>/dev/null && [ "$ttl" -le 600 ]; then ok "the answers are cached in Redis for their TTL ($ttl s)"
else not_ok "the answers are cached in Redis for their TTL" "TTL $ttl"; fi
fields=$(redis_cli HKEYS 'sluice:dnsbl:{127.0.0.50}' | sort | tr '\n' ' ')
assert_eq "$fields" "bl.test wl.test " "the answered zones are cached, the silent one is not"
assert_match "$(redis_cli HGET 'sluice:dnsbl:{127.0.0.50}' bl.test)" '^[0-9]+ 127\.0\.0\.2$' \
	"the cached bl.test answer is the A record"

# --- DNSWL outweighs the DNSBL; a filtered reply does not count ------------
out=$(mail 127.0.0.51)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "a client also listed in the allowlist zone passes (score -2)"
out=$(mail 127.0.0.52)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "a reply outside the filter 127.0.0.[2..11] does not count"
out=$(mail 127.0.0.53)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "a client listed nowhere passes"
wait_delivered internal 'dnsbl test 127\.0\.0\.51' >/dev/null && ok "the DNSWL-listed client's mail is delivered" ||
	not_ok "the DNSWL-listed client's mail is delivered"

# --- a second policyd (another MX host) shares the cache -------------------
sed -e "s|$T_STATE/policyd.sock|$B_SOCK|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$T_STATE/sluice-b.conf"
in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$T_STATE/sluice-b.conf" >>"$B_LOG" 2>&1 &
bpid=$!
wait_for 10 test -S "$B_SOCK" || not_ok "second sluice-policyd started" "$(tail -5 "$B_LOG")"
queries_before=$(grep -c 'query\[A\] 50\.0\.0\.127\.bl\.test' "$T_STATE/dnsmasq.log")
out=$(policy_request "$B_SOCK" request=smtpd_access_policy protocol_state=RCPT \
	client_address=127.0.0.50 sender=someone@nowhere.test recipient=user@example.test)
assert_match "$out" 'action=554 5\.7\.1 Service unavailable; client \[127\.0\.0\.50\] blocked using bl\.test' \
	"the second daemon refuses the listed client"
assert_eq "$(grep -c 'query\[A\] 50\.0\.0\.127\.bl\.test' "$T_STATE/dnsmasq.log")" "$queries_before" \
	"the second daemon took bl.test's answer from Redis, without asking DNS"
# A cache entry written by hand (the DNS does not list .60): read first.
redis_cli EVAL "redis.call('HSET', KEYS[1], 'bl.test', (tonumber(redis.call('TIME')[1]) + 300) .. ' 127.0.0.4', 'wl.test', (tonumber(redis.call('TIME')[1]) + 300) .. ' -', 'dead.test', (tonumber(redis.call('TIME')[1]) + 300) .. ' -') redis.call('EXPIRE', KEYS[1], 300)" 1 'sluice:dnsbl:{127.0.0.60}' >/dev/null
t0=$(ms)
for s in "$T_POLICYD_SOCK" "$B_SOCK"; do
	out=$(policy_request "$s" request=smtpd_access_policy protocol_state=RCPT \
		client_address=127.0.0.60 sender=someone@nowhere.test recipient=user@example.test)
	assert_match "$out" 'action=554 5\.7\.1 .*\[127\.0\.0\.60\] blocked using bl\.test' \
		"a Redis cache entry decides on $(basename "$s") (no DNS lists .60)"
done
t1=$(ms)
[ $((t1 - t0)) -lt 1400 ] && ok "fully cached answers wait for no DNS ($((t1 - t0)) ms for two)" ||
	not_ok "fully cached answers wait for no DNS" "$((t1 - t0)) ms"
# An expired field is not used: the .60 entry for bl.test, expired.
redis_cli HSET 'sluice:dnsbl:{127.0.0.60}' bl.test "1 127.0.0.4" >/dev/null
out=$(policy_request "$B_SOCK" request=smtpd_access_policy protocol_state=RCPT instance=another \
	client_address=127.0.0.60 sender=someone@nowhere.test recipient=user@example.test)
assert_match "$out" 'action=DUNNO' "an expired cache field is asked again (DNS does not list .60)"

# --- permitted and trusted clients skip; other stages are not checked ------
out=$(policy_request "$T_POLICYD_SOCK" request=smtpd_access_policy protocol_state=RCPT \
	client_address=127.0.0.1 sender=someone@nowhere.test recipient=user@example.test)
assert_match "$out" 'action=DUNNO' "a trusted client is not looked up"
out=$(policy_request "$T_POLICYD_SOCK" request=smtpd_access_policy protocol_state=DATA \
	client_address=127.0.0.50 sender=someone@nowhere.test recipient=user@example.test)
assert_match "$out" 'action=DUNNO' "DATA is not a DNSBL stage"

# --- the daemon stays up -----------------------------------------------------
kill -0 "$(harness_pid policyd)" 2>/dev/null && ok "sluice-policyd still runs" || not_ok "sluice-policyd still runs"
done_testing
