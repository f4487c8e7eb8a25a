#!/bin/bash
# t_alias.sh - alias expansion, domain mapping and catch-all in sluice-milter,
# through a real Postfix, seen from the sinks (which recipients each one got,
# how often) and from the milter's log line: the sales@ group, the manual's
# r.johnson keep-a-copy to j.smith, the bare-local-part shorthand, an
# external target relayed to the internet sink, local + external at once,
# a wildcard alias on two domains, nested aliases and a loop (each mailbox
# once, loop logged, no hang), domain mapping, catch-all, and a redis-cli
# change effective within a second, without restart.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
harness_config() {
	harness_default_config | sed 's/local = \[ "example.test" \]/local = [ "example.test", "second.test" ]/'
}
HARNESS_POSTCONF='relay_domains = example.test relay.test second.test old.test
transport_maps = inline:{ example.test=smtp:[127.0.0.1]:2526, relay.test=smtp:[127.0.0.1]:2526, second.test=smtp:[127.0.0.1]:2526, old.test=smtp:[127.0.0.1]:2526 }'
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-alias-$$" || bail_out "harness did not start"

R() { redis_cli "$@" >/dev/null; }
R SADD sluice:mailboxes anna@example.test bob@example.test carl@example.test \
	r.johnson@example.test j.smith@example.test catch@example.test
R SADD sluice:alias:sales@example.test anna@example.test Bob@Example.test carl
R SADD sluice:alias:r.johnson@example.test r.johnson@example.test j.smith
R SADD sluice:alias:ceo@example.test boss@gmail.test
R SADD sluice:alias:team@example.test anna@example.test boss@gmail.test
R SADD 'sluice:alias:postmaster@*' carl@example.test
R SADD sluice:alias:all@example.test sales@example.test dev@example.test anna@example.test
R SADD sluice:alias:dev@example.test bob@example.test loop1@example.test
R SADD sluice:alias:loop1@example.test loop2@example.test carl@example.test
R SADD sluice:alias:loop2@example.test loop1@example.test dev@example.test
R HSET sluice:domainmap old.test example.test
R HSET sluice:catchall example.test catch@example.test
milter_log_grep 'lists: .*(loaded|reloaded)' 5 >/dev/null
sleep 1.2	# every change above reached the cache

n=0
# mail TO... : one message from outside to the recipients; echoes the subject
mail_to() {
	local args=() t
	n=$((n + 1))
	SUBJ="alias test $$ $n"
	for t in "$@"; do args+=(--to "$t"); done
	OUT=$(send_mail --local-interface 127.0.0.9 --from alice@sender.test \
		--to "$(IFS=,; echo "$*")" --header "Subject: $SUBJ")
	QID=$(queue_id_of "$OUT")
}
# rcpts SINK: the envelope recipients the sink got for $SUBJ, sorted, one a
# line, with repeats (each delivery counts)
rcpts() {
	local dir
	[ "$1" = internal ] && dir=$T_SINK_INTERNAL || dir=$T_SINK_INTERNET
	grep -lE -- "^Subject: $SUBJ\$" "$dir"/* 2>/dev/null | xargs -r grep -h '^X-Rcpt-Args:' |
		sed 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/' | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect SINK "a b c" DESC: within 10 s the sink got exactly those
expect() {
	local i got
	for i in $(seq 1 100); do
		got=$(rcpts "$1")
		[ "$got" = "$2" ] && break
		sleep 0.1
	done
	sleep 0.3
	got=$(rcpts "$1")
	assert_eq "$got" "$2" "$3"
}

mail_to sales@example.test
assert_match "$OUT" '250 2\.0\.0 Ok: queued' "sales@: accepted"
expect internal "anna@example.test bob@example.test carl@example.test" \
	"sales@ group: anna, bob (case folded) and carl (shorthand) once each"
line=$(milter_log_grep "$QID: ")
alias_field=$(printf '%s\n' "$line" | grep -o 'alias=[^ ]*' | tr '>,' '\n\n' | sort | tr '\n' ' ')
assert_eq "$alias_field" "alias=sales@example.test- anna@example.test bob@example.test carl@example.test " \
	"log: alias=sales@example.test->the three targets, on the message's line"

mail_to r.johnson@example.test
expect internal "j.smith@example.test r.johnson@example.test" "r.johnson keeps his copy and j.smith gets one"

mail_to ceo@example.test
expect internet "boss@gmail.test" "ceo@ -> external target relayed to the internet sink"
expect internal "" "ceo@: nothing for the internal server (an alias is not a mailbox)"

mail_to team@example.test
expect internal "anna@example.test" "local + external at once: the local target"
expect internet "boss@gmail.test" "local + external at once: the external target"

mail_to postmaster@example.test postmaster@second.test
expect internal "carl@example.test" "wildcard postmaster@* on two domains: carl, once"

mail_to all@example.test
expect internal "anna@example.test bob@example.test carl@example.test" \
	"nested aliases with a loop: each mailbox once"
assert_match "$(milter_log_grep "$QID: ")" "alias_loop=all@example.test" "the loop is logged"

mail_to anna@example.test sales@example.test
expect internal "anna@example.test bob@example.test carl@example.test" \
	"anna addressed directly and through sales@: one delivery"

mail_to bob@old.test
expect internal "bob@example.test" "domain mapping old.test -> example.test"

mail_to nosuch@example.test bob@example.test
expect internal "bob@example.test catch@example.test" "catch-all takes the unknown one, the mailbox keeps its own"
assert_match "$(milter_log_grep "$QID: ")" "catchall=nosuch@example.test->catch@example.test" "log: catchall=..."

mail_to nosuch@relay.test
expect internal "nosuch@relay.test" "no catch-all for relay.test: left alone"

# --- a redis-cli change is effective within a second -------------------------
R SADD sluice:alias:new@example.test bob@example.test
sleep 1
mail_to new@example.test
expect internal "bob@example.test" "an alias added with redis-cli applies within 1 s, no restart"
R SREM sluice:alias:sales@example.test carl
sleep 1
mail_to sales@example.test
expect internal "anna@example.test bob@example.test" "a target removed with redis-cli is gone within 1 s"

done_testing
