#!/bin/bash
# t_auth_malformed.sh - the malformed-input corpus of issue 10, under
# valgrind: straight at the milter with miltertest (t/milter/malformed.lua:
# no From, two From, two addresses, 10,000-character fields, a header
# without colon, NUL bytes, 8-bit and UTF-8 headers, DKIM-Signature
# garbage, duplicate and missing tags, a 100 KB b=, 300 forged A-R
# fields, 500 From fields), then through Postfix (the same kinds, plus an
# SPF record with 30 includes and a DMARC record with junk; NUL bytes from
# a file). Every message
# is answered (accepted or tempfailed, never lost), the accepted ones carry
# one A-R that parses (t/tools/authres.py), the milter survives, and
# valgrind reports no error and no definite leak at its exit.
set -u
. "$(dirname "$0")/../lib.sh"

VG=/tmp/sluice-t-vg.$$
mkdir -p -m 1777 "$VG"
HARNESS_NO_POLICYD=1
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "3s";'
if command -v valgrind >/dev/null && [ "${SLUICE_ASAN:-0}" != 1 ]; then
	HARNESS_MILTER_WRAP="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --log-file=$VG/vg.%p.log"
fi
T_WAIT=30
trap 'harness_stop; rm -rf "$VG"' EXIT
harness_start "sluice-t-authm-$$" || bail_out "harness did not start"

includes=""
for i in $(seq 1 30); do includes="$includes include:i$i.spf30.test"; done
records=('txt-record=spf30.test,"v=spf1'"$includes"' -all"'
	'txt-record=_dmarc.spf30.test,"v=DMARC1; p=none"'
	'txt-record=junk.test,"v=spf1 ip4:127.0.0.9 -all"'
	'txt-record=_dmarc.junk.test,"v=DMARC1;;; p=rej\001ect; sp; =; pct=x"')
for i in $(seq 1 30); do records+=("txt-record=i$i.spf30.test,\"v=spf1 ip4:10.0.0.$i -all\""); done
zone_add "${records[@]}" || bail_out "dnsmasq did not take the records"

# ------------------------------------------------------ miltertest ----
out=$(in_ns miltertest -s "$T_REPO/t/milter/malformed.lua" -D "sock=unix:$T_MILTER_SOCK" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	ok "miltertest: $(printf '%s\n' "$out" | tail -1)"
else
	not_ok "miltertest: the malformed corpus (status $rc)" "$out"
fi
assert_match "$out" 'ok NUL bytes:' "miltertest: NUL bytes answered"
assert_match "$out" 'ok 300 forged A-R fields: tempfail' "miltertest: 300 forged A-R fields tempfailed, not lost"

# --------------------------------------------------- through Postfix ----
sink_find() { grep -lE -- "$1" "$T_SINK_INTERNAL"/* 2>/dev/null | head -n 1 | grep .; }
# through NAME FROM DATA EXPECT_RE: send DATA whole; accepted and delivered
# with one A-R that parses and matches EXPECT_RE, or tempfailed
through() {
	local name=$1 from=$2 data=$3 want=$4 out f parsed
	out=$(send_mail --local-interface 127.0.0.9 --helo mail.sender.test --from "$from" \
		--to user@example.test --data "$data")
	if printf '%s\n' "$out" | grep -q '<\*\* 4[0-9][0-9] '; then
		ok "$name: tempfailed"
		return
	fi
	if ! printf '%s\n' "$out" | grep -q '250 2\.0\.0 Ok: queued'; then
		not_ok "$name: accepted or tempfailed" "$(printf '%s\n' "$out" | tail -4)"
		return
	fi
	if ! f=$(wait_for "$T_WAIT" sink_find "$name" && sink_find "$name"); then
		not_ok "$name: delivered"
		return
	fi
	if ! parsed=$("$T_PY" "$T_REPO/t/tools/authres.py" "$f" mx.example.test 2>&1) ||
		! printf '%s\n' "$parsed" | grep -qx 'count=1' ||
		! printf '%s\n' "$parsed" | grep -qE -- "$want"; then
		not_ok "$name: one A-R that parses, with $want" "$parsed" "$(grep -A3 '^Authentication-Results' "$f")"
		return
	fi
	ok "$name: delivered, A-R $(printf '%s\n' "$parsed" | tail -n +3 | tr '\n' ' ')"
}

long=$(head -c 10000 /dev/zero | tr '\0' x)
b64=$(head -c 75000 /dev/zero | base64 -w 0)
through "pf-nofrom" a@sender.test "Subject: pf-nofrom

x" '^dmarc=permerror'
through "pf-twofrom" a@sender.test "Subject: pf-twofrom
From: a@sender.test
From: b@evil.test

x" '^dmarc=permerror'
through "pf-twoaddr" a@sender.test "Subject: pf-twoaddr
From: a@sender.test, b@evil.test

x" '^dmarc=permerror'
through "pf-longheader" a@sender.test "Subject: pf-longheader
From: a@sender.test
X-Long: $long

x" '^dmarc=pass'
through "pf-longfrom" a@sender.test "Subject: pf-longfrom
From: a@sender.test ($long)

x" '^dmarc=permerror'
through "pf-nocolon" a@sender.test "Subject: pf-nocolon
From: a@sender.test
This line has no colon

x" '^dmarc=pass'
through "pf-8bit" a@sender.test "$(printf 'Subject: pf-8bit \351\nFrom: J\366rg <a@sender.test>\n\nx')" '^spf=pass'
through "pf-utf8" a@sender.test "$(printf 'Subject: pf-utf8\nFrom: J\303\266rg <a@b\303\274cher.test>\n\nx')" \
	'^dmarc=none header\.from=xn--bcher-kva\.test'
through "pf-dkimgarbage" a@sender.test "Subject: pf-dkimgarbage
DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; d=evil.test; b=;;;=
DKIM-Signature: garbage
DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=x; h=from; bh=AA==; b=$b64
From: a@sender.test

x" '^dmarc=pass'
# NUL bytes in From, Subject and the body (a file: a shell string cannot
# hold them), through Postfix, which passes them on to the milter
printf 'Subject: pf-nul \000\000\nFrom: a@sender.test\000b@evil.test\nX-Nul: a\000b\n\nbody \000 with NUL\n' \
	>"$T_STATE/nul.eml"
through "pf-nul" a@sender.test "@$T_STATE/nul.eml" '^spf=pass'
through "pf-spf30" a@spf30.test "Subject: pf-spf30
From: a@spf30.test

x" '^spf=permerror'
through "pf-dmarcjunk" a@junk.test "Subject: pf-dmarcjunk
From: a@junk.test

x" '^dmarc=permerror header\.from=junk\.test'

pid=$(harness_pid milter)
check "the milter still runs" kill -0 "$pid"

# ------------------------------------------------------------ valgrind ----
if [ -n "${HARNESS_MILTER_WRAP:-}" ]; then
	harness_stop_daemon milter
	wait_for 30 sh -c "! kill -0 $pid 2>/dev/null"
	logs=$(cat "$VG"/vg.*.log 2>/dev/null)
	if [ -z "$(ls "$VG"/vg.*.log 2>/dev/null)" ]; then
		not_ok "valgrind ran the milter"
	elif printf '%s\n' "$logs" | grep -qE 'Invalid (read|write)|uninitialised|definitely lost|Process terminating'; then
		not_ok "valgrind: no error, no definite leak" "$logs"
	else
		ok "valgrind: no error, no definite leak"
	fi
fi
done_testing
