#!/bin/bash
# t_copies.sh - sluice-milter's hidden copies through a real Postfix,
# seen at the sinks (which recipients each received): milter.always_bcc
# (both directions), incoming_copy, outgoing_copy, the per-domain copy of
# sluice:copy:domain (a redis-cli change effective within a second), a
# copy equal to a recipient not added twice, a copy not copied again.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
HARNESS_MILTER_EXTRA='always_bcc = "archive@example.test"; incoming_copy = "in-copy@example.test"; outgoing_copy = "out-copy@example.test";'
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-copies-$$" || bail_out "harness did not start"

n=0
# mail FROM_IP SENDER RCPT...: one message, subject copies-PID-$n; transcript in $out
mail() {
	local ip=$1 from=$2 to
	shift 2
	to=$(IFS=,; echo "$*")
	n=$((n + 1))
	out=$(send_mail --local-interface "$ip" --from "$from" --to "$to" \
		--header "Subject: copies-$$-$n" --body "test $n")
}
# rcpts N: every envelope recipient that received message N, at both
# sinks, sorted, lowercase, one line ("a@x b@y ...")
rcpts() {
	sleep 1.5	# deliveries of one message may be several transactions
	grep -lE "^Subject: copies-$$-$1\$" "$T_SINK_INTERNAL"/* "$T_SINK_INTERNET"/* 2>/dev/null |
		xargs -r sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' | tr 'A-Z' 'a-z' | sort | xargs
}

# inbound (an outside client): always_bcc + incoming_copy
mail 127.0.0.22 someone@outside.test user@example.test
assert_match "$out" 'queued as' "inbound: queued"
qid=$(queue_id_of "$out")
wait_delivered internal "Subject: copies-$$-$n" >/dev/null
assert_eq "$(rcpts $n)" "archive@example.test in-copy@example.test user@example.test" \
	"inbound: the recipient, always_bcc and incoming_copy; not outgoing_copy"
check "inbound: log copy=" milter_log_grep "$qid: .*direction=inbound .*copy=archive@example\.test,in-copy@example\.test" 5

# outbound (a trusted client) to the internet: always_bcc + outgoing_copy
mail 127.0.0.1 user@example.test friend@remote.test
assert_match "$out" 'queued as' "outbound: queued"
wait_delivered internet "Subject: copies-$$-$n" >/dev/null
assert_eq "$(rcpts $n)" "archive@example.test friend@remote.test out-copy@example.test" \
	"outbound: the recipient, always_bcc and outgoing_copy; not incoming_copy"
f=$(wait_delivered internet "Subject: copies-$$-$n")
assert_eq "$(sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$f" | xargs)" "friend@remote.test" \
	"outbound: the internet got only the original recipient"

# a copy equal to a recipient is not added twice
mail 127.0.0.22 someone@outside.test Archive@example.test user@example.test
assert_eq "$(rcpts $n)" "archive@example.test in-copy@example.test user@example.test" \
	"a recipient equal to always_bcc (other case): delivered once"
check "... and the log's copy= does not name it" \
	milter_log_grep "$(queue_id_of "$out"): .* copy=in-copy@example\.test\$" 5

# per-domain copy, set with redis-cli, effective within a second
redis_cli HSET sluice:copy:domain relay.test watcher@example.test >/dev/null
redis_cli HSET sluice:copy:domain example.test second@relay.test >/dev/null
sleep 1
mail 127.0.0.22 someone@outside.test boss@relay.test
assert_eq "$(rcpts $n)" "archive@example.test boss@relay.test in-copy@example.test watcher@example.test" \
	"sluice:copy:domain: mail to relay.test is copied to watcher@ (1 s after HSET)"
check "domain copy: log" milter_log_grep "copy=archive@example\.test,in-copy@example\.test,watcher@example\.test" 5
# the copies themselves (archive@, in-copy@, watcher@ of example.test) are
# not copied again to example.test's second@relay.test
assert_no_match "$(rcpts $n)" 'second@relay\.test' "a copy is not itself copied again (no chain)"
# but a real recipient in example.test is
mail 127.0.0.1 colleague@example.test user@example.test
assert_eq "$(rcpts $n)" "archive@example.test out-copy@example.test second@relay.test user@example.test" \
	"domain copy for mail from inside to the domain, with the outbound copies"
# two recipients of one domain: one domain copy
mail 127.0.0.22 someone@outside.test a@relay.test b@relay.test
assert_eq "$(rcpts $n)" "a@relay.test archive@example.test b@relay.test in-copy@example.test watcher@example.test" \
	"two recipients of one domain: one domain copy"
redis_cli HDEL sluice:copy:domain relay.test example.test >/dev/null
sleep 1
mail 127.0.0.22 someone@outside.test boss@relay.test
assert_eq "$(rcpts $n)" "archive@example.test boss@relay.test in-copy@example.test" \
	"HDEL: no domain copy 1 s later"

# no copy configured: the milter adds nothing
HARNESS_MILTER_EXTRA=''
harness_restart_sluice || bail_out "milter did not restart"
mail 127.0.0.22 someone@outside.test user@example.test
assert_eq "$(rcpts $n)" "user@example.test" "no copies configured: only the recipient"

done_testing
