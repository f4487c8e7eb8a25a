#!/bin/bash
# t_malformed.sh - the malformed-input corpus of issue 13, with both
# daemons under valgrind (unless under ASan: make asan runs it there).
#  1. Policy protocol, straight at sluice-policyd (t/tools/malformed_policy.py:
#     framing errors closed without a reply, odd values and every awkward
#     RFC 5321 address form answered; after each case a normal request is
#     still answered).
#  2. Through Postfix (t/tools/malformed_smtp.py): 10,000 headers, broken
#     MIME, garbage ARC and DKIM-Signature fields, headers without colons,
#     NUL bytes and 8-bit/UTF-8 headers, 100,000 RCPT commands in 20
#     transactions, and DNS answers of the wrong type or size for the
#     SPF, DKIM and DMARC lookups. Every message answered (accepted or
#     tempfailed, never lost: each accepted one reaches the sink), the
#     accepted inbound ones carry one A-R that parses.
# (The milter protocol half, with miltertest, is t_auth_malformed.sh.)
# Then: both daemons still running, valgrind: no error, no definite leak.
set -u
. "$(dirname "$0")/../lib.sh"

VG=/tmp/sluice-t-mf.$$
mkdir -p -m 1777 "$VG"
if command -v valgrind >/dev/null && [ "${SLUICE_ASAN:-0}" != 1 ]; then
	wrap="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --log-file=$VG/vg.%p.log"
	HARNESS_MILTER_WRAP=$wrap
	HARNESS_POLICYD_WRAP=$wrap
fi
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "3s";'
# Every check of policyd on, so that the odd values go through all of
# them; the SMTP half's client (127.0.0.9) is not greylisted.
HARNESS_POLICYD_EXTRA='greylist = { delay = 60; allow_networks = [ "127.0.0.9/32" ]; };
  max_recipients = 0;
  ratelimit = ( { name = "sender-messages"; subject = "sender"; count = "messages"; limit = 100000; window = "60s"; } );
  dnsbl = { threshold = 3; budget = "1500ms"; zones = ( "bl.test=127.0.0.[2..11]*3" ); };
  enforce_sender_login = true;'
T_WAIT=40
trap 'harness_stop; rm -rf "$VG"' EXIT
harness_start "sluice-t-mf-$$" || bail_out "harness did not start"

# tap_lines OUTPUT: PASS/FAIL lines of a driver as TAP
tap_lines() {
	local line
	while IFS= read -r line; do
		case $line in
		PASS\ *) ok "${line#PASS }" ;;
		FAIL\ *) not_ok "${line#FAIL }" ;;
		esac
	done <<<"$1"
}

out=$(in_ns "$T_PY" "$T_REPO/t/tools/malformed_policy.py" -s "unix:$T_POLICYD_SOCK" 2>&1)
tap_lines "$out"

# --- through Postfix --------------------------------------------------------
big="v=spf1 ip4:127.0.0.9"
for i in $(seq 1 55); do big="$big ip4:10.9.$((i / 200)).$((i % 200))"; done
zone_add_txt big.dnsbad.test "$big -all" || bail_out "big SPF record"
recs=('txt-record=mxonly.dnsbad.test,"v=spf1 include:onlymx.dnsbad.test -all"'
	'mx-host=onlymx.dnsbad.test,mail.sender.test,10'
	'cname=cname1.dnsbad.test,aonly.dnsbad.test'
	'txt-record=macro.dnsbad.test,"v=spf1 exists:%{l1r+-}.%{d4}.%{i}.%{h}.x.dnsbad.test ip4:127.0.0.9 -all"'
	'txt-record=manydmarc.dnsbad.test,"v=spf1 ip4:127.0.0.9 -all"'
	'txt-record=cnamedmarc.dnsbad.test,"v=spf1 ip4:127.0.0.9 -all"'
	'host-record=aonly.dnsbad.test,127.0.0.99'
	'cname=_dmarc.cnamedmarc.dnsbad.test,aonly.dnsbad.test'
	'txt-record=garbage._domainkey.dnsbad.test,"v=DKIM1; k=rsa; p=!!!garbage\x00!!!"'
	'host-record=arecord._domainkey.dnsbad.test,127.0.0.98')
for i in $(seq 1 20); do recs+=("txt-record=_dmarc.manydmarc.dnsbad.test,\"v=DMARC1; p=reject; rua=mailto:r$i@x.test\""); done
for i in $(seq 1 60); do recs+=("txt-record=many._domainkey.dnsbad.test,\"v=DKIM1; k=rsa; p=MIIB$i\""); done
zone_add "${recs[@]}" || bail_out "dnsbad.test records"
out=$(in_ns "$T_PY" "$T_REPO/t/tools/malformed_smtp.py" --server 127.0.0.1:25 --source 127.0.0.9 \
	--sink "$T_SINK_INTERNAL" --authserv mx.example.test --skip rcpt-100000 2>&1)
tap_lines "$out"
grep -qE '^(PASS|FAIL) ' <<<"$out" || not_ok "malformed_smtp.py ran" "$out"

# --- the daemons, still serving, and valgrind ---------------------------------
out=$(send_mail --local-interface 127.0.0.9 --from after@sender.test --to user@example.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "after the corpus, a normal message is accepted"
for d in policyd milter; do
	pid=$(harness_pid $d) && kill -0 "$pid" && ok "sluice-$d still running" || not_ok "sluice-$d still running"
done
if [ -n "${HARNESS_MILTER_WRAP:-}" ]; then
	harness_stop_daemon milter
	harness_stop_daemon policyd
	sleep 1
	if grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)|uninitialised' "$VG"/vg.*.log 2>/dev/null; then
		not_ok "valgrind: no error, no definite leak" "$(cat "$VG"/vg.*.log | head -60)"
	else
		ok "valgrind: no error, no definite leak ($(ls "$VG" | wc -l) process log(s))"
	fi
	# The recipient storm runs without valgrind, which would make it
	# minutes long.
	HARNESS_MILTER_WRAP= HARNESS_POLICYD_WRAP=
	harness_start_daemon policyd && harness_start_daemon milter || bail_out "daemons restarted"
fi
out=$(in_ns "$T_PY" "$T_REPO/t/tools/malformed_smtp.py" --server 127.0.0.1:25 --source 127.0.0.9 \
	--sink "$T_SINK_INTERNAL" --authserv mx.example.test --only rcpt-100000 --wait 240 2>&1)
tap_lines "$out"
grep -qE '^(PASS|FAIL) ' <<<"$out" || not_ok "malformed_smtp.py rcpt-100000 ran" "$out"
for d in policyd milter; do
	pid=$(harness_pid $d) && kill -0 "$pid" && ok "sluice-$d still running after 100,000 recipients" ||
		not_ok "sluice-$d still running after 100,000 recipients"
done

done_testing
