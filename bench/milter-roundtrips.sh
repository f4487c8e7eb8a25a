#!/bin/bash
# milter-roundtrips.sh [BUILD...] - milter protocol traffic of one inbound
# message (the bench-auth message: DKIM-signed, SPF, DMARC) through Postfix
# to sluice-milter (spf, dkim_verify, dmarc on), counted with strace on the
# milter: commands Postfix sent (each is one 5-byte read of its length and
# code by libmilter's mi_rd_cmd) and replies the milter wrote (one
# writev each; Postfix waits for each of them). One line per BUILD
# (default: build). Runs in the test harness (t/lib.sh), as root.
set -u
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- build
command -v strace >/dev/null || { echo "strace is not installed"; exit 1; }
. t/lib.sh

count_one() {	# BUILD: prints "commands=N replies=M"
	local build=$1 pid log out
	SLUICE_BUILD=$build
	harness_stop_daemon milter >/dev/null 2>&1
	harness_start_daemon milter || { echo "milter did not start"; return 1; }
	pid=$(harness_pid milter)
	log=$T_STATE/strace.$$.log
	strace -f -qq -e trace=read,writev -o "$log" -p "$pid" &
	local strace_pid=$!
	sleep 1
	out=$(send_mail --local-interface 127.0.0.9 --helo mail.sender.test --from a@bench.test \
		--to user@example.test --data "$(cat "$T_STATE/message")")
	printf '%s\n' "$out" | grep -q '250 2\.0\.0 Ok: queued' || echo "  (message not accepted)"
	sleep 1
	kill -INT "$strace_pid"
	wait "$strace_pid" 2>/dev/null
	# libmilter reads a command as read(fd, buf, 5) then its data
	printf 'commands=%s replies=%s\n' "$(grep -cE 'read\([0-9]+, .*, 5\) += 5' "$log")" \
		"$(grep -c 'writev(' "$log")"
}

HARNESS_NO_POLICYD=1
HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true;'
trap harness_stop EXIT
harness_start "sluice-rt-$$" || { echo "harness did not start"; exit 1; }
out=$("$SLUICE_BUILD/sluice-keygen" -d bench.test -s sel -a rsa -o "$T_STATE" 2>/dev/null) ||
	{ echo "sluice-keygen failed"; exit 1; }
zone_add "txt-record=sel._domainkey.bench.test,$(printf '%s\n' "$out" | grep -o '"[^"]*"' | paste -sd, -)" \
	'txt-record=bench.test,"v=spf1 ip4:127.0.0.9 -all"' \
	'txt-record=_dmarc.bench.test,"v=DMARC1; p=reject"'
"$T_PY" - "$T_STATE/bench.test.sel.key" "$T_STATE/message" <<'EOF'
import sys, dkim
body = b"".join(b"line %04d of the benchmark message, 4 KiB in all: lorem ipsum dolor sit amet\r\n" % i
                for i in range(48))
head = (b"From: Bench <a@bench.test>\r\nTo: user@example.test\r\nSubject: bench\r\n"
        b"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <bench@bench.test>\r\n")
sig = dkim.sign(head + b"\r\n" + body, b"sel", b"bench.test", open(sys.argv[1], "rb").read(),
                canonicalize=(b"relaxed", b"relaxed"), include_headers=[b"from", b"to", b"subject", b"date"])
open(sys.argv[2], "wb").write((sig + head + b"\r\n" + body).replace(b"\r\n", b"\n"))
EOF
for b in "$@"; do
	case $b in /*) ;; *) b=$PWD/$b ;; esac
	printf '%-40s %s\n' "$b" "$(count_one "$b")"
done
