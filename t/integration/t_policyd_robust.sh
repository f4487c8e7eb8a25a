#!/bin/bash
# t_policyd_robust.sh - sluice-policyd on its unix socket against well-formed,
# concurrent, hostile and broken clients (t/tools/policy_client.py). The
# daemon must answer what is valid, close what is not (no reply on a
# protocol error, as Postfix expects), log it, and keep running.
set -u
. "$(dirname "$0")/../lib.sh"
trap harness_stop EXIT

# Postfix is not needed to talk to the daemon, but the harness is the same.
harness_start "sluice-t-$$" || bail_out "harness starts"
pid=$(harness_pid policyd) || bail_out "sluice-policyd PID"
ok "sluice-policyd running (PID $pid)"

# pc SCENARIO [ARGS...]: run the client in the namespace; ok/not_ok on its
# PASS/FAIL line, its other lines as diagnostics on failure.
pc_out=
pc() {
	local desc=$1
	shift
	if pc_out=$(in_ns env POLICYD_PID="$pid" "$T_PY" "$T_REPO/t/tools/policy_client.py" \
		-s "unix:$T_POLICYD_SOCK" "$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "$pc_out"
		return 1
	fi
}

# still_fine WHAT: the same process answers a normal request.
still_fine() {
	local now
	now=$(harness_pid policyd)
	assert_eq "${now:-dead}" "$pid" "after $1: same sluice-policyd process alive"
	pc "after $1: a new connection is answered" normal
}

# logged WHAT N: the daemon logged something after line N of its log.
logged() {
	local new
	if new=$(log_grew "$T_POLICYD_LOG" "$2" 5); then
		ok "$1 was logged"
		diag "$new"
	else
		not_ok "$1 was logged" "no new line in $T_POLICYD_LOG"
	fi
}

pc "normal request: action=DUNNO then an empty line" normal
pc "request with a queue ID at END-OF-MESSAGE" request protocol_state=END-OF-MESSAGE \
	queue_id=4F1A2B3C recipient_count=1
pc "request with attributes absent (only request=)" request '!protocol_state' '!client_address' \
	'!client_name' '!reverse_client_name' '!helo_name' '!sender' '!recipient' '!instance' \
	'!queue_id' '!size'
pc "request with unknown attributes" request x_unknown=1 another_new_attribute=yes
pc "1000 requests on one connection" many 1000
diag "$(printf '%s\n' "$pc_out" | grep -m1 '^many:')"
pc "request written one byte at a time" split
pc "10 requests in one write (pipelined)" pipelined 10

pc "1000 connections open at once, each answered" concurrent 1000
diag "$(printf '%s\n' "$pc_out" | grep '^concurrent:')"
still_fine "1000 connections"

n=$(log_lines "$T_POLICYD_LOG")
pc "1 MiB line without newline: connection closed, no reply" longline 1048576
logged "the overlong line" "$n"
still_fine "the overlong line"

pc "binary garbage with NULs: connection closed, no reply" garbage 65536
still_fine "binary garbage"

n=$(log_lines "$T_POLICYD_LOG")
pc "request without request=: connection closed, no reply" norequest
logged "the request without request=" "$n"
still_fine "the request without request="

pc "client disconnects in the middle of a request" midrequest
still_fine "a client that went away mid-request"

pc "oversized request (20000 attributes): connection closed, no reply" oversized 20000
still_fine "the oversized request"

# Many short-lived bad clients in a row must not leak descriptors.
fds0=$(find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l)
for _ in 1 2 3 4 5 6 7 8 9 10; do
	in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_POLICYD_SOCK" norequest >/dev/null 2>&1
	in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_POLICYD_SOCK" midrequest >/dev/null 2>&1
done
sleep 0.5
fds1=$(find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l)
if [ "$fds1" -le $((fds0 + 2)) ]; then
	ok "no descriptor leak after 20 broken clients ($fds0 -> $fds1 open)"
else
	not_ok "no descriptor leak after 20 broken clients ($fds0 -> $fds1 open)"
fi

# Regex members put in Redis by anyone who can write to it (issue 7,
# defects 1 and 2): one glibc spent 18 s compiling, a 4-level one 4 GB, and
# "a|b" was anchored as "^a|b$". The costly ones are skipped and logged,
# the daemon keeps answering, the alternation matches whole addresses only.
rcpt() {	# rcpt SENDER: the reply to one RCPT from a greylisted client
	in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_POLICYD_SOCK" request \
		protocol_state=RCPT client_address=192.0.2.77 client_name=unknown \
		reverse_client_name=unknown "sender=$1" recipient=user@example.test 2>&1
}
out=$(rcpt bob@example.com)
assert_match "$out" 'action=(DEFER|defer)' "before SADD: bob@example.com is greylisted"
redis_cli SADD sluice:greylist:allow:sender '/((.{0,40}){0,40}){0,40}/' \
	'/(((.{0,40}){0,40}){0,40}){0,40}/' '/alice@example\.com|bob@example\.com/' >/dev/null
if line=$(policyd_log_grep "redis lists: 2 invalid member\(s\) or key\(s\) skipped: sluice:greylist:allow:sender: '/\(\(\(?\.\{0,40\}.*regular expression.*too large"); then
	ok "costly regex members are skipped and logged"
	diag "$line"
else
	not_ok "costly regex members are skipped and logged" "$(tail -3 "$T_POLICYD_LOG")"
fi
sleep 1.1	# every worker has refreshed its lists (the spec's one second)
out=$(rcpt bob@example.com)
assert_match "$out" 'PASS request' "after SADD: bob@example.com is answered"
assert_no_match "$out" 'action=(DEFER|defer)' "after SADD: bob@example.com matches the alternation"
out=$(rcpt x-bob@example.com)
assert_match "$out" 'action=(DEFER|defer)' "x-bob@example.com does not (anchored as a whole)"
out=$(rcpt alice@example.com.evil.test)
assert_match "$out" 'action=(DEFER|defer)' "alice@example.com.evil.test does not either"
redis_cli DEL sluice:greylist:allow:sender >/dev/null
still_fine "costly regex members"

still_fine "everything"
done_testing
