#!/bin/bash
# t_three_mx.sh - three MX hosts as one. Three harnesses (three network
# namespaces, each with its own DNS, Postfix, sluice-milter and
# sluice-policyd; host 1 is this script's, hosts 2 and 3 run under
# t/tools/mx_host.sh) share host 1's Redis. Checked from the sending side:
#   - a triplet deferred on host 1 passes on host 2 after the delay;
#   - one rate limit (3 messages per sender per minute) counts on all three;
#   - a forbidden sender added once with redis-cli is refused by all three
#     (the time until the last one refuses is printed);
#   - the DNSBL cache is shared: a client listed only in host 1's DNS is
#     refused by host 2, whose DNS does not list it;
#   - the recipient-probe cache is shared: a recipient validated by host
#     1's internal server is accepted by host 3, which has none;
#   - a load across the three at once: the combined rate, nothing lost
#     (counted from the senders and the three sinks).
set -u
. "$(dirname "$0")/../lib.sh"

export HARNESS_POLICYD_EXTRA='test_clock = true;
  greylist = { delay = 60; auto_allowlist_clients = 0; allow_networks = [ "127.0.0.9/32" ];
    spf_bypass = false; spf_domain_triplet = false; };
  ratelimit = ( { name = "sender-messages"; subject = "sender"; count = "messages";
    limit = 3; window = "60s"; } );
  dnsbl = { threshold = 3; budget = "1500ms"; zones = ( "bl.test=127.0.0.[2..11]*3" ); };
  recipients = { validate = "smtp"; timeout = "2s"; };'
export MX_DOMAINS='domains = { local = [ "example.test" ]; relay = [ "relay.test|127.0.0.1:2599" ]; };'
export MX_POSTCONF="smtpd_end_of_data_restrictions = check_policy_service unix:POLICYD_SOCK"
harness_config() {
	local line
	harness_default_config | while IFS= read -r line; do
		case $line in "domains = "*) line=$MX_DOMAINS ;; esac
		printf '%s\n' "$line"
	done
}
CONTROL=
stop_hosts() {
	[ -n "$CONTROL" ] || return 0
	touch "$CONTROL/stop"
	wait 2>/dev/null
	rm -rf "$CONTROL"
}
trap 'stop_hosts; harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-mx1-$$" || bail_out "host 1 did not start"
harness_postconf "smtpd_end_of_data_restrictions = check_policy_service unix:$T_POLICYD_SOCK" ||
	bail_out "postconf host 1"
# host 1's internal server for relay.test knows one user.
in_ns "$T_PY" "$T_REPO/t/tools/smtp_internal.py" 2599 "$T_STATE/internal.log" known@relay.test &
# host 1's DNS lists 127.0.0.70 in bl.test; the other hosts' DNS does not.
zone_add 'host-record=70.0.0.127.bl.test,127.0.0.2' || bail_out "bl.test listing"

CONTROL=$(mktemp -d /run/sluice-t-mx.XXXXXX)
H2=sluice-t-mx2-$$
H3=sluice-t-mx3-$$
for h in "$H2" "$H3"; do
	# The policyd socket path of each host is its own.
	MX_POSTCONF="smtpd_end_of_data_restrictions = check_policy_service unix:/run/sluice-t.$h/policyd.sock" \
		bash "$T_REPO/t/tools/mx_host.sh" "$h" "$T_REDIS_SOCK" "$CONTROL" &
done
wait_for 120 eval "[ -e $CONTROL/$H2.ready -o -e $CONTROL/$H2.failed ] && [ -e $CONTROL/$H3.ready -o -e $CONTROL/$H3.failed ]"
for h in "$H2" "$H3"; do
	[ -e "$CONTROL/$h.ready" ] || bail_out "host $h did not start: $(tail -5 "$CONTROL/$h.log")"
done
ok "three MX hosts up, one Redis"
HOSTS=("$HARNESS_NAME" "$H2" "$H3")
state_of() { echo "/run/sluice-t.$1"; }

# mail_on HOST CLIENT FROM TO [swaks args]
mail_on() {
	local h=$1 ip=$2 from=$3 to=$4
	shift 4
	ip netns exec "$h" swaks --server 127.0.0.1:25 --local-interface "$ip" --helo "h.$ip.test" \
		--from "$from" --to "$to" --timeout 30 "$@" 2>&1
}
queued() { grep -qE '<- +250 2\.0\.0 Ok: queued' <<<"$1"; }

# --- greylisting: deferred on host 1, passes on host 2 -------------------
out=$(mail_on "${HOSTS[0]}" 127.0.0.10 grey@sender.test user@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*Greylisted' "host 1: a new triplet is greylisted"
redis_cli SET sluice:test:clock_offset 120 >/dev/null
sleep 1.5
out=$(mail_on "${HOSTS[1]}" 127.0.0.10 grey@sender.test user@example.test)
if queued "$out"; then ok "host 2: the retry after the delay passes (state from host 1)"; else
	not_ok "host 2: the retry after the delay passes" "$(tail -5 <<<"$out")"; fi

# --- one rate limit on three hosts ----------------------------------------
n=0
for h in 0 1 2; do
	out=$(mail_on "${HOSTS[$h]}" 127.0.0.9 rl@sender.test user@example.test)
	queued "$out" && n=$((n + 1))
done
assert_eq "$n" 3 "3 messages of one sender, one per host: accepted"
out=$(mail_on "${HOSTS[2]}" 127.0.0.9 rl@sender.test user@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*[Rr]ate limit' "the 4th, on host 3: 450 4.7.1 (the limit is shared)"

# --- a list changed once applies on all three -----------------------------
t0=$(date +%s%N)
redis_cli SADD sluice:forbid:mailbox evil@sender.test >/dev/null
last=0
for h in 0 1 2; do
	(
		for i in $(seq 1 50); do
			out=$(mail_on "${HOSTS[$h]}" 127.0.0.9 evil@sender.test user@example.test)
			if grep -qE '<\*\* +550 5\.7\.1' <<<"$out"; then
				echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$CONTROL/forbid.$h"
				exit 0
			fi
			sleep 0.1
		done
	) &
done
wait_for 30 eval "[ -e $CONTROL/forbid.0 ] && [ -e $CONTROL/forbid.1 ] && [ -e $CONTROL/forbid.2 ]"
for h in 0 1 2; do
	if [ -e "$CONTROL/forbid.$h" ]; then
		ms=$(cat "$CONTROL/forbid.$h")
		[ "$ms" -gt "$last" ] && last=$ms
		ok "host $((h + 1)): the forbidden sender added with redis-cli is refused (550 5.7.1)"
	else
		not_ok "host $((h + 1)): the forbidden sender is refused"
	fi
done
diag "SADD to the last host's first 550: $last ms (each attempt is a whole swaks session)"

# --- the DNSBL cache is shared -------------------------------------------
out=$(mail_on "${HOSTS[0]}" 127.0.0.70 x@sender.test user@example.test)
assert_match "$out" '<\*\* +554 5\.7\.1' "host 1: a client listed in its DNS is refused"
out=$(ip netns exec "${HOSTS[1]}" "$T_PY" "$T_REPO/t/tools/dnsq.py" 70.0.0.127.bl.test A 2>&1)
assert_no_match "$out" '127\.0\.0\.2' "host 2's DNS does not list it"
out=$(mail_on "${HOSTS[1]}" 127.0.0.70 x@sender.test user@example.test)
assert_match "$out" '<\*\* +554 5\.7\.1' "host 2 refuses it from the shared DNSBL cache"
out=$(mail_on "${HOSTS[1]}" 127.0.0.71 x@sender.test user@example.test)
assert_no_match "$out" '554 5\.7\.1' "host 2: a client listed nowhere is not refused"

# --- the recipient-probe cache is shared ----------------------------------
out=$(mail_on "${HOSTS[0]}" 127.0.0.9 p@sender.test known@relay.test)
if queued "$out"; then ok "host 1: known@relay.test validated by its internal server"; else
	not_ok "host 1: known@relay.test validated" "$(tail -5 <<<"$out")"; fi
out=$(mail_on "${HOSTS[2]}" 127.0.0.9 p@sender.test known@relay.test)
if queued "$out"; then ok "host 3 (no internal server) accepts it from the shared probe cache"; else
	not_ok "host 3 accepts it from the shared probe cache" "$(tail -5 <<<"$out")"; fi
out=$(mail_on "${HOSTS[2]}" 127.0.0.9 p@sender.test other@relay.test)
assert_match "$out" '<\*\* +45[0-9] 4\.' "host 3: an uncached recipient, no internal server: 4xx, never 5xx"

# --- a load across the three at once ---------------------------------------
for h in 0 1 2; do
	st=$(state_of "${HOSTS[$h]}")
	ip netns exec "${HOSTS[$h]}" "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 \
		--source 127.0.0.9 --count 1000000 --stop-file "$CONTROL/load.stop" --sessions 4 \
		--from "load{n}@sender.test" --senders 1000000 --to user@example.test \
		--tag "mx$h" --out "$CONTROL/load$h.json" >"$CONTROL/load$h.out" 2>&1 &
done
sleep 8
touch "$CONTROL/load.stop"
for h in 0 1 2; do
	wait_for 60 test -s "$CONTROL/load$h.out"
done
total=0
for h in 0 1 2; do
	st=$(state_of "${HOSTS[$h]}")
	diag "host $((h + 1)): $(cat "$CONTROL/load$h.out")"
	wait_for 60 eval "[ -z \"\$(ip netns exec ${HOSTS[$h]} postqueue -c $st/pf -j 2>/dev/null)\" ]"
	check "host $((h + 1)): every accepted message delivered (its sink)" \
		"$T_PY" "$T_REPO/t/tools/load_check.py" "$CONTROL/load$h.json" "$st/sink-internal" --tag "mx$h"
	a=$(sed -n 's/.*accepted=\([0-9]*\).*/\1/p' "$CONTROL/load$h.out")
	r=$(sed -n 's/.*reject=\([0-9]*\).*/\1/p' "$CONTROL/load$h.out")
	assert_eq "${r:-x}" 0 "host $((h + 1)): no 5xx under the load"
	total=$((total + ${a:-0}))
done
diag "combined: $total messages accepted by three hosts in about 8 s ($((total / 8))/s; one Redis, 2 cores shared by everything)"

done_testing
