#!/bin/bash
# t_dns_faults.sh - DNS faults under load. The namespace's resolver
# (127.0.0.1:53) becomes t/tools/dns_proxy.py in front of the test's
# dnsmasq, so the test can make DNS vanish or slow down while an SMTP load
# (t/tools/smtp_load.py) runs through Postfix with the milter's SPF, DKIM
# and DMARC (p=reject with dmarc_reject on) and policyd's greylisting
# (SPF bypass) and a DNSBL zone. Phases:
#   stopped  no DNS server at all (the port is closed)
#   silent   a server that reads queries and answers none
#   slow     answers 3 s late, past the milter's 2 s budget
#   late     answers 0.15 s late, within every budget (some of a
#            message's SPF and DMARC lookups come one after another: 0.3 s
#            each went past the 2 s for 2 of 320 messages under ASan with
#            a benchmark beside it)
# Each phase: no 5xx (a DNS failure must never become a DMARC reject or a
# DNSBL listing), every accepted message delivered (counted from the
# sink), the same daemon processes, the mail of the silent and slow phases
# marked temperror in its Authentication-Results (RFC 7208 2.6.7, RFC
# 7489 6.6.3) and the mail of the late phase not, and a trusted client's
# message (which needs no DNS) accepted during the outage, its time
# printed: no worker stalled behind the dead server.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "2s";'
HARNESS_POLICYD_EXTRA='greylist = { delay = 60; auto_allowlist_clients = 0; allow_networks = [ "127.0.0.9/32" ];
    spf_bypass = true; spf_domain_triplet = false; };
  dnsbl = { threshold = 3; budget = "1500ms"; zones = ( "bl.test=127.0.0.[2..11]*3" ); };'
PROXY_PID=
trap '[ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null; harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-dnsf-$$" || bail_out "harness did not start"
# Postfix's own reverse lookup of each client would wait on the dead DNS
# too; without it the times below are sluice's alone.
harness_postconf "smtpd_peername_lookup = no" || bail_out "postconf"
# One sender domain per phase, so that no answer is in a cache when its
# fault starts (the milter's cache would otherwise hide it, as it should).
for p in stopped silent slow late; do
	zone_add "txt-record=$p.test,\"v=spf1 ip4:127.0.0.9 -all\"" \
		"txt-record=_dmarc.$p.test,\"v=DMARC1; p=reject\"" || bail_out "zone $p.test"
done

# dnsmasq moves to port 5354; the proxy takes port 53.
MODE=$T_STATE/dns.mode
echo pass >"$MODE"
start_proxy() {
	# ip netns exec execs the proxy: $! is the proxy itself.
	ip netns exec "$HARNESS_NAME" "$T_PY" "$T_REPO/t/tools/dns_proxy.py" 127.0.0.1:53 127.0.0.1:5354 "$MODE" &
	PROXY_PID=$!
	sleep 0.3
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=; }
sed -i 's/^port=53$/port=5354/' "$T_STATE/dnsmasq.conf"
_stop_pidfile "$T_STATE/run/dnsmasq.pid" 5
start_proxy
_dnsmasq_run || bail_out "dnsmasq behind the proxy"
check "DNS through the proxy" dns_query mail.sender.test A

queue_empty() { [ -z "$(in_ns postqueue -c "$T_PF" -j 2>/dev/null)" ]; }
milter_pid=$(harness_pid milter)
policyd_pid=$(harness_pid policyd)

# phase NAME FAULT-ON FAULT-OFF: the fault starts, the load (senders of
# NAME.test) runs 4 s into it, the fault ends, the load runs 1 s more.
phase() {
	local name=$1 on=$2 off=$3 res=$T_STATE/load-$1.json summary reject t0 t1 out
	"$on"
	in_ns "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 --source 127.0.0.9 \
		--count 1000000 --stop-file "$T_STATE/load-$name.stop" --sessions 4 \
		--from "load{n}@$name.test" --senders 50 --to user@example.test \
		--tag "$name" --out "$res" >"$T_STATE/load-$name.out" 2>&1 &
	local load_pid=$!
	sleep 1
	# A trusted client's message needs no DNS: it must not wait behind the
	# dead server (milter threads and policyd workers are not stalled).
	# (smtp_load.py, not swaks: swaks itself would wait on the dead DNS.)
	t0=$(date +%s%N)
	out=$(in_ns "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 --source 127.0.0.1 \
		--count 1 --sessions 1 --from "inside-$name@example.test" --to someone@remote.test \
		--tag "inside-$name" --out "$T_STATE/inside-$name.json")
	t1=$(date +%s%N)
	assert_match "$out" 'accepted=1 ' "$name: a trusted client's message accepted during the fault"
	diag "$name: that message took $(( (t1 - t0) / 1000000 )) ms"
	sleep 3
	"$off"
	sleep 1
	touch "$T_STATE/load-$name.stop"
	wait "$load_pid"
	summary=$(cat "$T_STATE/load-$name.out")
	diag "$name: sending side: $summary"
	wait_for 90 queue_empty || diag "$name: queue not empty after 90 s"
	reject=$(sed -n 's/.*reject=\([0-9]*\).*/\1/p' <<<"$summary")
	if [ "${reject:-1}" = 0 ]; then ok "$name: no 5xx"; else
		not_ok "$name: no 5xx" "$("$T_PY" -c 'import json,sys; print(list(json.load(open(sys.argv[1]))["reject"].items())[:5])' "$res")"; fi
	check "$name: every accepted message delivered (sink side)" \
		"$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name"
	diag "$name: sink side: $("$T_PY" "$T_REPO/t/tools/load_check.py" "$res" "$T_SINK_INTERNAL" --tag "$name" | head -1)"
	assert_eq "$(harness_pid milter)" "$milter_pid" "$name: the same sluice-milter process"
	assert_eq "$(harness_pid policyd)" "$policyd_pid" "$name: the same sluice-policyd process"
}
# temperror_count TAG: delivered messages of the phase whose A-R says
# spf=temperror or dmarc=temperror.
temperror_count() {
	grep -l "^X-Load-Id: $1-" "$T_SINK_INTERNAL"/* 2>/dev/null |
		xargs -r grep -lE '(spf|dmarc)=temperror' | wc -l
}
delivered_count() { grep -l "^X-Load-Id: $1-" "$T_SINK_INTERNAL"/* 2>/dev/null | wc -l; }

set_mode() { echo "$*" >"$MODE"; }
dns_pass() { set_mode pass; }
silent_on() { set_mode drop; }

phase stopped stop_proxy start_proxy
n=$(temperror_count stopped)
if [ "$n" -gt 0 ]; then ok "stopped: $n of $(delivered_count stopped) delivered messages marked temperror"; else
	not_ok "stopped: mail checked while DNS was down is marked temperror" "delivered $(delivered_count stopped)"; fi
phase silent silent_on dns_pass
n=$(temperror_count silent)
if [ "$n" -gt 0 ]; then ok "silent: $n of $(delivered_count silent) delivered messages marked temperror"; else
	not_ok "silent: mail checked while DNS was silent is marked temperror" "delivered $(delivered_count silent)"; fi
slow_on() { set_mode delay 3; }
phase slow slow_on dns_pass
n=$(temperror_count slow)
if [ "$n" -gt 0 ]; then ok "slow: $n of $(delivered_count slow) delivered messages marked temperror (past the 2 s budget)"; else
	not_ok "slow: answers past the budget give temperror" "delivered $(delivered_count slow)"; fi
late_on() { set_mode delay 0.15; }
phase late late_on dns_pass
n=$(temperror_count late)
assert_eq "$n" 0 "late: answers within the budget give no temperror ($(delivered_count late) delivered)"
pass=$(grep -l "^X-Load-Id: late-" "$T_SINK_INTERNAL"/* 2>/dev/null | xargs -r grep -l 'spf=pass' | wc -l)
if [ "$pass" -gt 0 ]; then ok "late: $pass messages with spf=pass"; else not_ok "late: spf=pass"; fi

done_testing
