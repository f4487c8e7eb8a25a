#!/bin/bash
# t_greylist_spf.sh - greylisting and SPF under attack: records that
# authorize everyone, SRS-encoded senders naming another domain, a sender
# domain whose name server never answers, requests greylisting cannot
# key, and MX hosts whose clocks disagree. Policy requests are sent
# straight to the socket (t/tools/policy_client.py), as Postfix would.
set -u
. "$(dirname "$0")/../lib.sh"

GL='delay = 120; auto_allowlist_clients = 0; allow_networks = [ "10.255.0.0/16" ];'
# One worker: on a daemon that resolved SPF in its event loop, every
# request would wait behind a slow lookup.
HARNESS_POLICYD_EXTRA="test_clock = true; workers = 1; spf_timeout = 2; greylist = { $GL };"
HARNESS_NO_MILTER=1
trap 'harness_stop "$HARNESS_NAME"' EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"

# A name server that never answers, for dead.test.
_spawn blackhole "$T_STATE/blackhole.log" "$T_PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.99", 53))
while True:
    s.recv(4096)'
zone_add 'txt-record=plusall.test,"v=spf1 +all"' \
	'txt-record=wide.test,"v=spf1 ip4:0.0.0.0/1 -all"' \
	'txt-record=wide15.test,"v=spf1 ip4:127.0.0.0/15 -all"' \
	'txt-record=narrow16.test,"v=spf1 ip4:127.0.0.0/16 -all"' \
	'txt-record=attacker.test,"v=spf1 ip4:127.0.0.21 -all"' \
	'txt-record=victim.test,"v=spf1 ip4:192.0.2.1 -all"' \
	'server=/dead.test/127.0.0.99'

offset=0
advance() {	# advance SECONDS: move the daemons' clock, wait for them to see it
	offset=$((offset + $1))
	redis_cli SET sluice:test:clock_offset "$offset" >/dev/null
	sleep 1.2
}
policy_log() {	# policy_log REGEX DESC
	if policyd_log_grep "$1" 5 >/dev/null; then ok "$2"; else
		not_ok "$2" "no policyd log line matches: $1" "$(tail -3 "$T_POLICYD_LOG")"; fi
}
deferred='action=DEFER_IF_PERMIT Greylisted'

# --- an SPF pass that anyone can have is no reason to skip greylisting ----
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=127.0.0.21 sender=a@plusall.test)" "$deferred" \
	"v=spf1 +all: greylisted, not bypassed"
policy_log 'greylist=new .*from=<a@plusall\.test>.* spf=pass-too-broad' "log: spf=pass-too-broad for +all"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=127.0.0.21 sender=a@wide.test)" "$deferred" \
	"ip4:0.0.0.0/1: greylisted, not bypassed"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=127.0.0.21 sender=a@wide15.test)" "$deferred" \
	"ip4:127.0.0.0/15 (wider than /16): greylisted"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=127.0.0.21 sender=a@narrow16.test)" 'action=DUNNO' \
	"ip4:127.0.0.0/16 (the bound): an SPF pass, bypassed"
policy_log 'greylist=bypass-spf .*from=<a@narrow16\.test>' "log: bypass-spf for a /16"

# --- the SPF domain triplet is the domain SPF judged ----------------------
HARNESS_POLICYD_EXTRA="test_clock = true; workers = 1; spf_timeout = 2; greylist = { $GL spf_bypass = false; };"
harness_restart_sluice || bail_out "policyd did not restart"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=127.0.0.21 'sender=SRS0=x1=TT=victim.test=ceo@attacker.test')" \
	"$deferred" "SRS sender: greylisted on first sight"
keys=$(redis_cli --scan --pattern 'sluice:gl:*')
assert_match "$keys" '\{spf:attacker\.test\}' "SRS sender: the triplet is keyed on the domain SPF authorized"
assert_no_match "$keys" '\{spf:victim' "SRS sender: no key tagged with the domain decoded from SRS"

# --- a sender domain whose DNS never answers stalls nobody else -----------
out=$(in_ns "$T_PY" "$T_REPO/t/tools/spf_stall.py" "$T_POLICYD_SOCK" dead.test 24 20 2>&1)
assert_match "$out" '^PASS' "24 RCPTs waiting on dead DNS: other requests answered meanwhile"
diag "$out"
assert_match "$out" "slow answer: $deferred" "dead DNS: answered after spf_timeout, greylisted"
policy_log 'greylist=new .*from=<u0@dead\.test>.* spf=timeout' "log: spf=timeout"

# Redis first: a triplet that passed needs no SPF, so no DNS. The sender
# comes SRS-forwarded through ever other forwarders: one triplet (the
# decoded sender), but each forwarder is a new SPF domain, which no DNS
# cache of libspf2's could have answered already.
fwd() { policy_request "$T_POLICYD_SOCK" client_address=127.0.0.23 recipient=k@example.test \
	"sender=SRS0=h$1=TT=orig.test=k@fwd$1.test"; }
assert_match "$(fwd 1)" "$deferred" "a new triplet: deferred"
advance 130
assert_match "$(fwd 2)" 'action=PREPEND X-Greylist' "the triplet passes after the delay"
before=$(grep -c 'query\[[A-Z]*\] fwd[0-9]*\.test' "$T_STATE/dnsmasq.log")
for i in 3 4 5; do
	assert_match "$(fwd $i)" 'action=DUNNO' "passed triplet: passes again (forwarder $i)"
done
sleep 0.5
assert_eq "$(grep -c 'query\[[A-Z]*\] fwd[0-9]*\.test' "$T_STATE/dnsmasq.log")" "$before" \
	"passed triplet: answered from Redis without an SPF lookup"

# --- a reload while a request waits for SPF -------------------------------
policy_request "$T_POLICYD_SOCK" client_address=127.0.0.33 sender=r@dead.test >"$T_STATE/waiting.out" 2>&1 &
waiter=$!
sleep 0.3
saved=$HARNESS_POLICYD_EXTRA
HARNESS_POLICYD_EXTRA="test_clock = true; workers = 1; spf_timeout = 2; greylist = { enabled = false; };"
_write_sluice_conf
lines=$(log_lines "$T_POLICYD_LOG")
harness_sighup policyd
wait "$waiter"
check "reload while waiting for SPF: the request is answered" grep -q '^action=' "$T_STATE/waiting.out"
check "reload while waiting for SPF: the daemon lives on" harness_pid policyd
HARNESS_POLICYD_EXTRA=$saved
_write_sluice_conf
harness_sighup policyd
log_wait "$T_POLICYD_LOG" 'configuration reloaded' 5 >/dev/null
sleep 0.5

# --- requests greylisting cannot key: fail_open decides -------------------
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=not-an-ip sender=z@nowhere.test)" 'action=DUNNO' \
	"unparsable client address, fail_open: passes"
policy_log 'greylist=skip .*reason=client-address' "log: greylist=skip reason=client-address"
HARNESS_POLICYD_EXTRA="test_clock = true; fail_open = false; greylist = { $GL };"
harness_restart_sluice || bail_out "policyd did not restart"
assert_match "$(policy_request "$T_POLICYD_SOCK" client_address=not-an-ip sender=z@nowhere.test)" 'action=451 4\.3\.0 ' \
	"unparsable client address, fail_open off: 451 4.3.0"

# --- two MX hosts whose clocks disagree by an hour ------------------------
HARNESS_POLICYD_EXTRA="greylist = { $GL };"
harness_restart_sluice || bail_out "policyd did not restart"
second_conf=$T_STATE/sluice-b.conf
sed -e "s|$T_STATE/policyd.sock|$T_STATE/policyd-b.sock|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$second_conf"
# (libfaketime is preloaded before ASan's runtime: tell ASan that is fine)
in_ns env FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
	faketime -f '+3600s' "$SLUICE_BUILD/sluice-policyd" -f \
	-c "$second_conf" 2>"$T_STATE/policyd-b.log" &
bpid=$!
wait_for 10 test -S "$T_STATE/policyd-b.sock" || diag "host B did not start: $(tail -5 "$T_STATE/policyd-b.log")"
args=(client_address=127.0.0.24 sender=skew@nowhere.test recipient=skew@example.test)
assert_match "$(policy_request "$T_POLICYD_SOCK" "${args[@]}")" "$deferred" "host A: first attempt deferred"
assert_match "$(policy_request "$T_STATE/policyd-b.sock" "${args[@]}")" "$deferred, retry in 1[12][0-9] seconds" \
	"host B, its clock an hour ahead: still deferred (one clock: Redis's)"
kill "$bpid"
wait "$bpid" 2>/dev/null

done_testing
