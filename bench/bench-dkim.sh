#!/bin/bash
# bench-dkim.sh [BUILD] - DKIM signing speed, two ways, in one run:
#
# 1. Microbenchmark: bench/dkim-sign-bench (sluice's whole per-message
#    signing path on a 4 KiB message, one core) next to `openssl speed`
#    for the same key types, pinned to the same core. Targets: >= 80% of
#    OpenSSL's raw RSA-2048 sign rate, >= 50% of its Ed25519 rate.
#
# 2. End to end: Postfix's accept rate, smtp-source -s 16 -m 2000 -l 4096
#    from a trusted client, for Postfix with no milter, with a do-nothing
#    libmilter milter (bench/nullmilter: the floor any milter pays), with
#    Debian's opendkim signing, with sluice-milter signing (RSA-2048, and
#    Ed25519); and the milters on an inet socket for comparison. Rounds
#    are interleaved (every configuration once per round, ROUNDS rounds);
#    medians and ratios are printed. Targets: sluice (unix socket, RSA)
#    >= 0.8 x nullmilter and >= 1.5 x opendkim.
#    Accepted mail goes to Postfix's hold queue (header_checks HOLD), so
#    the rate is the accept path alone, not delivery competing for the
#    same two cores; after each round the mail is released to an
#    smtp-sink, and the round counts only if the maillog shows 2000
#    `cleanup ... message-id=` lines and, for the signing milters, the
#    sink received 2000 messages with a DKIM-Signature (a sample of each
#    round is verified with python3-dkim against the test DNS).
#
# Runs in the test harness (t/lib.sh): its own network namespace, DNS,
# private Postfix. Needs root. ROUNDS (5), MSGS (2000), SESSIONS (16),
# MICRO_SECONDS (3) may be set in the environment.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
export SLUICE_BUILD=$BUILD
ROUNDS=${ROUNDS:-5}
MSGS=${MSGS:-2000}
SESSIONS=${SESSIONS:-16}
MICRO_SECONDS=${MICRO_SECONDS:-3}
. t/lib.sh

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# --------------------------------------------------------------- micro ----
echo "== 1. signing microbenchmark (one core: cpu 1) =="
echo "\$ taskset -c 1 $BUILD/bench/dkim-sign-bench -t $MICRO_SECONDS"
micro=$(taskset -c 1 "$BUILD/bench/dkim-sign-bench" -t "$MICRO_SECONDS") || exit 1
echo "$micro"
echo "\$ taskset -c 1 openssl speed -seconds $MICRO_SECONDS rsa2048 ed25519"
speed=$(taskset -c 1 openssl speed -seconds "$MICRO_SECONDS" rsa2048 ed25519 2>/dev/null)
echo "$speed" | grep -E 'sign|bits'
ours_rsa=$(echo "$micro" | awk '$1 == "rsa2048" { print $2 }')
ours_ed=$(echo "$micro" | awk '$1 == "ed25519" { print $2 }')
ssl_rsa=$(echo "$speed" | awk '/^rsa 2048 bits/ { print $(NF - 1) }')
ssl_ed=$(echo "$speed" | awk '/Ed25519/ && $NF ~ /^[0-9.]+$/ { print $(NF - 1) }')
printf 'RSA-2048: sluice %s/s, openssl %s/s: %s%% (target >= 80%%)\n' "$ours_rsa" "$ssl_rsa" \
	"$(awk -v a="$ours_rsa" -v b="$ssl_rsa" 'BEGIN { printf "%.0f", 100 * a / b }')"
printf 'Ed25519:  sluice %s/s, openssl %s/s: %s%% (target >= 50%%)\n' "$ours_ed" "$ssl_ed" \
	"$(awk -v a="$ours_ed" -v b="$ssl_ed" 'BEGIN { printf "%.0f", 100 * a / b }')"

# ---------------------------------------------------------- end to end ----
echo
echo "== 2. Postfix accept rate: smtp-source -s $SESSIONS -m $MSGS -l 4096, $ROUNDS rounds =="
HARNESS_NO_POLICYD=1
HARNESS_POSTCONF="header_checks = regexp:{ {/^From:/ HOLD} }
smtpd_milters ="
trap 'cleanup_bench; harness_stop' EXIT
harness_start "sluice-t-$$" || { echo "harness did not start"; exit 1; }
B=$T_STATE/bench
mkdir -p -m 0755 "$B"

# Keys: RSA-2048 (sluice and opendkim) and Ed25519, published in the DNS.
recs=()
for s in rsa1:rsa ed1:ed25519; do
	out=$("$BUILD/sluice-keygen" -d example.test -s "${s%%:*}" -a "${s#*:}" -o "$B" 2>/dev/null)
	recs+=("txt-record=${s%%:*}._domainkey.example.test,$(printf '%s\n' "$out" | grep -o '"[^"]*"' | paste -sd, -)")
done
zone_add "${recs[@]}"
cp "$B/example.test.rsa1.key" "$B/opendkim.key"
chmod 600 "$B/opendkim.key"
chown sluice "$B"/example.test.*.key

sluice_conf() {	# SELECTOR LISTEN PIDFILE
	harness_default_config | sed "s|listen = \"unix:$T_STATE/milter.sock\"|listen = \"$2\"|; s|pid_file = \"$T_STATE/milter.pid\"|pid_file = \"$3\"|"
	printf 'dkim = { keys = ( { domain = "example.test"; selector = "%s"; key = "%s/example.test.%s.key"; } ); };\n' "$1" "$B" "$1"
}
# the harness's sluice-milter (unix socket): RSA
sluice_conf rsa1 "unix:$T_MILTER_SOCK" "$T_STATE/milter.pid" >"$T_CONF"
harness_sighup milter
# a second one for Ed25519, a third on an inet socket (RSA)
sluice_conf ed1 "unix:$B/sluice-ed.sock" "$B/sluice-ed.pid" >"$B/sluice-ed.conf"
sluice_conf rsa1 "inet:127.0.0.1:8893" "$B/sluice-inet.pid" >"$B/sluice-inet.conf"
# and one with signing off: the cost of sluice-milter's core alone
sluice_conf rsa1 "unix:$B/sluice-off.sock" "$B/sluice-off.pid" | grep -v '^dkim' >"$B/sluice-off.conf"
chmod 644 "$B"/*.conf
pids=()
for c in sluice-ed sluice-inet sluice-off; do
	in_ns "$BUILD/sluice-milter" -f -c "$B/$c.conf" >"$B/$c.log" 2>&1 &
	pids+=($!)
done
in_ns "$BUILD/bench/nullmilter" -p "unix:$B/null.sock" >"$B/null.log" 2>&1 &
pids+=($!)
in_ns "$BUILD/bench/nullmilter" -p "inet:8894@127.0.0.1" >"$B/null-inet.log" 2>&1 &
pids+=($!)
in_ns "$BUILD/bench/nullmilter" -i -p "unix:$B/null-insert.sock" >"$B/null-insert.log" 2>&1 &
pids+=($!)
in_ns "$BUILD/bench/nullmilter" -n -p "unix:$B/null-noreply.sock" >"$B/null-noreply.log" 2>&1 &
pids+=($!)
cat >"$B/opendkim.conf" <<EOF
Syslog no
Background no
Mode s
Domain example.test
Selector rsa1
KeyFile $B/opendkim.key
Canonicalization relaxed/relaxed
InternalHosts 127.0.0.0/8
Socket local:$B/opendkim.sock
PidFile $B/opendkim.pid
UMask 000
EOF
in_ns opendkim -f -x "$B/opendkim.conf" >"$B/opendkim.log" 2>&1 &
pids+=($!)
cleanup_bench() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
sleep 2
for s in "$B/null.sock" "$B/opendkim.sock" "$B/sluice-ed.sock"; do
	[ -S "$s" ] || { echo "bench: $s missing"; cat "$B"/*.log; exit 1; }
done

declare -A MILTER=(
	[none]=""
	[nullmilter]="unix:$B/null.sock"
	[opendkim]="unix:$B/opendkim.sock"
	[sluice-rsa]="unix:$T_MILTER_SOCK"
	[sluice-ed25519]="unix:$B/sluice-ed.sock"
	[nullmilter-inet]="inet:127.0.0.1:8894"
	[nullmilter-insert]="unix:$B/null-insert.sock"
	[nullmilter-noreply]="unix:$B/null-noreply.sock"
	[sluice-off]="unix:$B/sluice-off.sock"
	[sluice-rsa-inet]="inet:127.0.0.1:8893"
)
CONFIGS=${CONFIGS:-"none nullmilter opendkim sluice-rsa sluice-ed25519 nullmilter-inet sluice-rsa-inet"}
declare -A RATES

sink_has() { [ "$(ls "$T_SINK_INTERNAL" | wc -l)" -ge "$1" ]; }
cleanup_lines() { grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-F]*: message-id=' "$T_MAILLOG"; }

one_round() {	# CONFIG: prints the rate, or "fail ..." on stderr
	local c=$1 before after t0 t1 n signed sample
	harness_postconf "smtpd_milters = ${MILTER[$c]}"
	sleep 1
	rm -f "$T_SINK_INTERNAL"/*
	before=$(cleanup_lines)
	t0=$(date +%s.%N)
	in_ns smtp-source -s "$SESSIONS" -m "$MSGS" -l 4096 -f a@example.test \
		-t user@example.test 127.0.0.1:25 >"$B/source.log" 2>&1
	t1=$(date +%s.%N)
	after=$(cleanup_lines)
	n=$((after - before))
	# Release the held mail to the sink; count what arrives and its signatures.
	in_ns postsuper -c "$T_PF" -H ALL >/dev/null 2>&1
	wait_for 120 sink_has "$MSGS"
	signed=$(grep -l '^DKIM-Signature:' "$T_SINK_INTERNAL"/* 2>/dev/null | wc -l)
	local want_signed=0
	case $c in opendkim | sluice-rsa* | sluice-ed*) want_signed=$MSGS ;; esac
	if [ "$n" -ne "$MSGS" ] || [ "$signed" -ne "$want_signed" ]; then
		echo "  $c: FAILED CHECK: $n queued (cleanup message-id= lines), $signed signed, of $MSGS" >&2
		touch "$B/bad"
	fi
	if [ "$want_signed" -gt 0 ]; then
		sample=$(ls "$T_SINK_INTERNAL"/* | awk 'NR % 400 == 1')
		# shellcheck disable=SC2086
		if ! in_ns "$T_PY" t/dkim/verify.py --dns $sample >"$B/verify.out" 2>&1; then
			echo "  $c: FAILED CHECK: sample signatures do not verify:" >&2
			grep FAIL "$B/verify.out" | head -3 >&2
			touch "$B/bad"
		fi
	fi
	awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

# Each round starts one configuration later than the one before, so no
# configuration always runs first (after delivery) or last.
read -r -a order <<<"$CONFIGS"
for r in $(seq 1 "$ROUNDS"); do
	line="round $r:"
	for i in "${!order[@]}"; do
		c=${order[$(((i + r - 1) % ${#order[@]}))]}
		rate=$(one_round "$c")
		RATES[$c]="${RATES[$c]:-} $rate"
		line="$line $c=$rate"
	done
	echo "$line"
done

echo
printf '%-18s %10s   %s\n' config "median/s" "all rounds (messages/s)"
declare -A MED
for c in $CONFIGS; do
	MED[$c]=$(echo "${RATES[$c]}" | tr ' ' '\n' | grep . | median)
	printf '%-18s %10s  %s\n' "$c" "${MED[$c]}" "${RATES[$c]}"
done
for c in none nullmilter opendkim sluice-rsa sluice-ed25519 nullmilter-inet sluice-rsa-inet; do
	MED[$c]=${MED[$c]:-0}
done
echo
echo "sluice-rsa / nullmilter      = $(ratio "${MED[sluice-rsa]}" "${MED[nullmilter]}") (target >= 0.8)"
echo "sluice-rsa / opendkim        = $(ratio "${MED[sluice-rsa]}" "${MED[opendkim]}") (target >= 1.5)"
echo "sluice-ed25519 / nullmilter  = $(ratio "${MED[sluice-ed25519]}" "${MED[nullmilter]}")"
echo "sluice-ed25519 / opendkim    = $(ratio "${MED[sluice-ed25519]}" "${MED[opendkim]}")"
echo "nullmilter / none            = $(ratio "${MED[nullmilter]}" "${MED[none]}") (the floor a milter pays)"
echo "nullmilter-inet / nullmilter = $(ratio "${MED[nullmilter-inet]}" "${MED[nullmilter]}") (inet vs unix socket)"
echo "sluice-rsa-inet / sluice-rsa = $(ratio "${MED[sluice-rsa-inet]}" "${MED[sluice-rsa]}") (inet vs unix socket)"
if [ -e "$B/bad" ]; then
	echo "SOME ROUNDS FAILED THEIR CHECKS: the numbers above mean nothing"
	exit 1
fi
echo "checks: every round queued $MSGS messages; every signing round delivered $MSGS signed, samples verified"
