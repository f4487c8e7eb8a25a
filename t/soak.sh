#!/bin/bash
# t/soak.sh BUILD - the soak run of issue 13 (make soak; not part of make
# check). A harness (t/lib.sh) with every feature on: the milter's SPF,
# DKIM verification, DMARC, DKIM signing of outbound mail, address rules
# with loaded lists, aliases; policyd's greylisting, two rate limits, a
# DNSBL zone, recipient validation by list and the recipient limit. First
# 20 s at full speed measure the maximum rate; then the load runs for
# SOAK_MINUTES (default 30) at SOAK_FRACTION (default 0.5) of it: inbound
# mail from an outside client, outbound mail from a trusted one (signed),
# a trickle to an alias. Every SOAK_SAMPLE seconds (30) it records the RSS
# and open descriptors of both daemons and of Redis, Redis's key count and
# memory. At the end:
#   - RSS of each daemon and of Redis: the mean of the last three samples
#     against the mean of the first three after the warm-up (the first
#     sixth of the run, at least 2 minutes): growth < 5%;
#   - open descriptors: the same comparison, no growth beyond 4;
#   - Redis keys: bounded (the last sample within 1.5x of the highest
#     sample of the warm-up's end, i.e. TTLs hold the count);
#   - from the senders: no 5xx; every accepted message delivered (the
#     sinks' counts).
# SOAK_VALGRIND=1 runs both daemons under valgrind (a shorter run: set
# SOAK_MINUTES=5) and adds: 0 errors, 0 bytes definitely lost.
# The table of samples and the verdicts go to stdout (TAP lines, so a
# failure is plain) and to SOAK_OUT (default /tmp/sluice-soak.txt).
set -u
BUILD=${1:-build}
export SLUICE_BUILD=$BUILD
. "$(dirname "$0")/lib.sh"

MINUTES=${SOAK_MINUTES:-30}
FRACTION=${SOAK_FRACTION:-0.5}
SAMPLE=${SOAK_SAMPLE:-30}
OUT=${SOAK_OUT:-/tmp/sluice-soak.txt}
VG=
if [ "${SOAK_VALGRIND:-0}" = 1 ]; then
	VG=/tmp/sluice-soak-vg.$$
	mkdir -p -m 1777 "$VG"
	wrap="valgrind --quiet --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --log-file=$VG/vg.%p.log"
	HARNESS_MILTER_WRAP=$wrap
	HARNESS_POLICYD_WRAP=$wrap
	T_WAIT=60
fi

HARNESS_MILTER_EXTRA='spf = true; dkim_verify = true; dmarc = true; dmarc_reject = true; dns_timeout = "3s";'
HARNESS_POLICYD_EXTRA='test_clock = true;
  greylist = { delay = 60; auto_allowlist_clients = 1; allow_networks = [ ];
    spf_bypass = false; spf_domain_triplet = false; };
  ratelimit = (
    { name = "sender-messages"; subject = "sender"; count = "messages"; limit = 100000; window = "60s"; },
    { name = "client-recipients"; subject = "client"; count = "recipients"; limit = 1000000; window = "60s"; } );
  dnsbl = { threshold = 3; budget = "1500ms"; zones = ( "bl.test=127.0.0.[2..11]*3" ); };
  max_recipients = 25;
  recipients = { validate = "list"; };'
KEYS_DIR=
harness_config_extra() {
	echo "dkim = { sign = true; keys = ( { domain = \"example.test\"; selector = \"soak\"; key = \"$KEYS_DIR/example.test.soak.key\"; } ); };"
}
trap 'harness_stop "$HARNESS_NAME"; [ -z "$VG" ] || rm -rf "$VG"' EXIT
# The DKIM key must exist before the milter starts: make it in a
# directory of our own, then start the harness.
KEYS_DIR=$(mktemp -d /run/sluice-soak-keys.XXXXXX)
chmod 0755 "$KEYS_DIR"
rec=$("$SLUICE_BUILD/sluice-keygen" -d example.test -s soak -a rsa -o "$KEYS_DIR") || bail_out "keygen"
chown sluice "$KEYS_DIR/example.test.soak.key"
harness_start "sluice-t-soak-$$" || bail_out "harness did not start"
harness_postconf "smtpd_end_of_data_restrictions = check_policy_service unix:$T_POLICYD_SOCK" || bail_out "postconf"
name=$(printf '%s\n' "$rec" | awk '{ sub(/\.$/, "", $1); print $1 }')
zone_add "txt-record=$name,$(printf '%s\n' "$rec" | grep -o '"[^"]*"' | paste -sd, -)" || bail_out "key record"

# Lists: mailboxes, an alias, a few thousand forbidden and permitted
# entries the rules and policyd look through on every message.
{
	echo "SADD sluice:mailboxes user@example.test a@example.test b@example.test team@example.test"
	echo "SADD sluice:alias:team@example.test a@example.test b@example.test"
	for i in $(seq 1 2000); do
		echo "SADD sluice:forbid:mailbox spam$i@bad.test"
		echo "SADD sluice:forbid:ip 10.$((i / 250)).$((i % 250)).0/24"
		echo "SADD sluice:permit:domain partner$i.test"
	done
} | redis_cli >/dev/null
sleep 2

# Warm-up of greylisting: the outside client passes once, then at once.
send_mail --local-interface 127.0.0.9 --from warm@sender.test --to user@example.test >/dev/null
redis_cli SET sluice:test:clock_offset 120 >/dev/null
sleep 1.5
out=$(send_mail --local-interface 127.0.0.9 --from warm@sender.test --to user@example.test)
assert_match "$out" 'Ok: queued' "the load's client passed greylisting"

load() {	# load TAG RATE SOURCE FROM TO [extra]
	local tag=$1 rate=$2 src=$3 from=$4 to=$5
	ip netns exec "$HARNESS_NAME" "$T_PY" "$T_REPO/t/tools/smtp_load.py" --server 127.0.0.1:25 \
		--source "$src" --count 100000000 --stop-file "$T_STATE/$tag.stop" --sessions 4 \
		--from "$from" --senders 5000 --to "$to" --rate "$rate" --tag "$tag" \
		--out "$T_STATE/$tag.json" >"$T_STATE/$tag.out" 2>&1 &
}

# --- the maximum rate -----------------------------------------------------
load max 0 127.0.0.9 'max{n}@sender.test' user@example.test
sleep 20
touch "$T_STATE/max.stop"
wait
max=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^accepted=/) a = substr($i, 10); else if ($i ~ /^seconds=/) s = substr($i, 9) } END { if (s > 0) printf "%.1f", a / s }' "$T_STATE/max.out")
rate=$(awk -v m="$max" -v f="$FRACTION" 'BEGIN { printf "%.1f", m * f }')
diag "maximum: $(cat "$T_STATE/max.out") -> $max msg/s; soak at $rate msg/s for $MINUTES min"

in_rate=$(awk -v r="$rate" 'BEGIN { printf "%.2f", r * 0.65 }')
out_rate=$(awk -v r="$rate" 'BEGIN { printf "%.2f", r * 0.3 }')
alias_rate=$(awk -v r="$rate" 'BEGIN { printf "%.2f", r * 0.05 }')
load in "$in_rate" 127.0.0.9 'in{n}@sender.test' user@example.test
load out "$out_rate" 127.0.0.1 'out{n}@example.test' someone@remote.test
load alias "$alias_rate" 127.0.0.9 'al{n}@sender.test' team@example.test

pid_of() { harness_pid "$1"; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rinfo() { redis_cli INFO memory | tr -d '\r' | sed -n "s/^$1://p"; }
samples=$T_STATE/samples
printf '%-6s %10s %10s %10s %5s %5s %5s %8s %10s\n' t_s policyd_kB milter_kB redis_kB p_fd m_fd r_fd keys redis_mem | tee "$samples.txt"
start=$(date +%s)
end=$((start + MINUTES * 60))
: >"$samples"
while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$SAMPLE"
	p=$(pid_of policyd) m=$(pid_of milter) r=$(pid_of redis)
	line="$(( $(date +%s) - start )) $(rss "$p") $(rss "$m") $(rss "$r") $(fds "$p") $(fds "$m") $(fds "$r") $(redis_cli DBSIZE) $(rinfo used_memory)"
	echo "$line" >>"$samples"
	printf '%-6s %10s %10s %10s %5s %5s %5s %8s %10s\n' $line | tee -a "$samples.txt"
done
touch "$T_STATE/in.stop" "$T_STATE/out.stop" "$T_STATE/alias.stop"
wait
queue_empty() { [ -z "$(in_ns postqueue -c "$T_PF" -j 2>/dev/null)" ]; }
wait_for 120 queue_empty || diag "queue not empty after 120 s"

# --- verdicts ---------------------------------------------------------------
n=$(wc -l <"$samples")
warm=$(( n / 6 ))
[ "$warm" -lt $(( 120 / SAMPLE )) ] && warm=$(( 120 / SAMPLE ))
if [ "$n" -lt $(( warm + 6 )) ]; then
	not_ok "enough samples after the warm-up" "$n samples, warm-up $warm: run longer (SOAK_MINUTES)"
else
	# growth COLUMN LABEL LIMIT_PERCENT
	growth() {
		awk -v c="$1" -v w="$warm" -v n="$n" '
			NR > w && NR <= w + 3 { a += $c }
			NR > n - 3 { b += $c }
			END { printf "%.1f %d %d", (a > 0 ? (b - a) * 100 / a : 0), a / 3, b / 3 }' "$samples"
	}
	for spec in "2 sluice-policyd" "3 sluice-milter" "4 redis-server"; do
		set -- $spec
		read -r pct from to <<<"$(growth "$1")"
		if awk -v p="$pct" 'BEGIN { exit !(p < 5) }'; then
			ok "$2 RSS after the warm-up: $from -> $to kB ($pct%)"
		else
			not_ok "$2 RSS after the warm-up grows < 5%" "$from -> $to kB ($pct%)"
		fi
	done
	for spec in "5 sluice-policyd" "6 sluice-milter" "7 redis-server"; do
		set -- $spec
		read -r pct from to <<<"$(growth "$1")"
		if [ $(( to - from )) -le 4 ]; then ok "$2 open descriptors flat: $from -> $to"; else
			not_ok "$2 open descriptors flat" "$from -> $to"; fi
	done
	keys=$(awk -v w="$warm" 'NR <= w + 3 && $8 > m { m = $8 } END { print m + 0 }' "$samples")
	last=$(tail -1 "$samples" | awk '{ print $8 }')
	if [ "$last" -le $(( keys * 3 / 2 + 100 )) ]; then ok "Redis keys bounded by their TTLs: $keys at the warm-up's end, $last at the end"; else
		not_ok "Redis keys bounded" "$keys at the warm-up's end, $last at the end"; fi
fi
for tag in in out alias; do
	diag "$tag: $(cat "$T_STATE/$tag.out")"
	r=$(sed -n 's/.*reject=\([0-9]*\).*/\1/p' "$T_STATE/$tag.out")
	assert_eq "${r:-x}" 0 "$tag: no 5xx"
done
# Counted by message (X-Load-Id), from the sinks: an alias message may
# arrive as one delivery for both targets or as two.
for spec in "in $T_SINK_INTERNAL" "out $T_SINK_INTERNET" "alias $T_SINK_INTERNAL --any-rcpt"; do
	set -- $spec
	check "$1: every accepted message delivered ($("$T_PY" "$T_REPO/t/tools/load_check.py" "$T_STATE/$1.json" "$2" --tag "$1" ${3:-} | head -1))" \
		"$T_PY" "$T_REPO/t/tools/load_check.py" "$T_STATE/$1.json" "$2" --tag "$1" ${3:-}
done
signed=$(ls -t "$T_SINK_INTERNET" | head -20 | (cd "$T_SINK_INTERNET" && xargs grep -l '^DKIM-Signature:' | wc -l))
assert_eq "$signed" 20 "outbound mail is signed (the last 20)"
if [ -n "$VG" ]; then
	harness_stop_daemon milter
	harness_stop_daemon policyd
	sleep 1
	errs=$(cat "$VG"/vg.*.log 2>/dev/null | grep -c 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]')
	if [ "$errs" -eq 0 ] && ! grep -q 'Invalid\|uninitialised\|definitely lost' "$VG"/vg.*.log 2>/dev/null; then
		ok "valgrind: 0 errors, 0 bytes definitely lost ($(ls "$VG" | wc -l) log(s))"
	else
		not_ok "valgrind clean" "$(cat "$VG"/vg.*.log | head -40)"
	fi
fi
{ echo "soak: $MINUTES min at $rate msg/s (max $max)"; cat "$samples.txt"; } >"$OUT"
rm -rf "$KEYS_DIR"
done_testing
