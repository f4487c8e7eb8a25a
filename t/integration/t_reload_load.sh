#!/bin/bash
# t_reload_load.sh - SIGHUP under load through both daemons loses no mail.
#
# A real Postfix with sluice-policyd and sluice-milter (t/lib.sh), mail
# over 8 SMTP sessions (t/tools/smtp_session_load.py, which records the
# reply to every message) for as long as the reloads take (--until: a
# fixed count ran out before the last reload on a fast machine): 6
# sessions from a trusted client, each message asked of the policy
# service at RCPT and DKIM-signed by the milter, and 2 sessions from
# mail.sender.test, inbound: SPF evaluated by both daemons (policyd's SPF
# pool for the greylisting bypass, the milter's for
# Authentication-Results) while the reloads happen.
# While they flow, both daemons get SIGHUP seven times: with the same
# file, once with a broken file (each daemon logs FILE:LINE and "reload
# failed, keeping the running configuration", and goes on with the old
# one), and once with a new DKIM selector. Then:
# - the sending side: every message was accepted or tempfailed, no 5xx;
# - the sink: every accepted message arrived, once, and nothing else;
#   Postfix's queue is empty;
# - every delivered message is signed, with the old selector or the new
#   one, and within each SMTP session the new one never comes before the
#   old one (a session takes the current configuration at each message);
# - after a reload with changed settings (selector rsa2, a relaying-list
#   entry refusing relay.test) the next message has them: signed s=rsa2,
#   and RCPT to relay.test answered 554 5.7.1 (250 before the reload);
# - both daemons are alive and answered within the run.
set -u
. "$(dirname "$0")/../lib.sh"

# The loads run until the reloads are done (--until): at most this many.
OUT_MESSAGES=30000 OUT_SESSIONS=6
IN_MESSAGES=10000 IN_SESSIONS=2
TAG=reload-load-$$

trap harness_stop EXIT
# The daemons start without keys (the key directory is made in the state
# directory harness_start creates), then restart with them.
CONF_ARGS=(none)
harness_start "sluice-t-$$" || bail_out "harness did not start"

KEYS=$T_STATE/keys
mkdir -p -m 0755 "$KEYS"
for s in rsa1 rsa2; do
	"$SLUICE_BUILD/sluice-keygen" -d example.test -s "$s" -o "$KEYS" >/dev/null ||
		bail_out "sluice-keygen -s $s failed"
	chown sluice "$KEYS/example.test.$s.key"
done

# conf SELECTOR [RELAY_REJECT]: sluice.conf with that key, and with
# relay.test refused by the relaying list when RELAY_REJECT is 1.
conf() {
	local relay=""
	[ "${2:-0}" = 1 ] && relay='relay = ( { match = "relay.test"; option = "to"; action = "reject"; } );'
	# Loopback clients are not allowlisted: mail.sender.test's mail takes
	# the SPF path of greylisting.
	HARNESS_POLICYD_EXTRA="greylist = { allow_networks = [ ]; }; $relay"
	HARNESS_MILTER_EXTRA='spf = true;'
	harness_default_config
	[ "$1" = none ] && return 0
	printf 'dkim = { keys = ( { domain = "example.test"; selector = "%s"; key = "%s"; } ); };\n' \
		"$1" "$KEYS/example.test.$1.key"
}
# The harness writes sluice.conf through harness_config at (re)starts.
CONF_ARGS=(rsa1)
harness_config() { conf "${CONF_ARGS[@]}"; }
write_conf() {
	CONF_ARGS=("$@")
	conf "$@" >"$T_CONF.new" && mv "$T_CONF.new" "$T_CONF"
}

# reloads DAEMON: number of completed reloads in its log
reloads() { grep -c 'configuration reloaded' "$T_STATE/$1.log"; }
failed_reloads() { grep -c 'reload failed, keeping the running configuration' "$T_STATE/$1.log"; }
hup_both() {
	harness_sighup policyd || not_ok "SIGHUP to sluice-policyd (is it alive?)"
	harness_sighup milter || not_ok "SIGHUP to sluice-milter (is it alive?)"
}
# wait_reloads DAEMON N: until DAEMON has N completed reloads
_at_least() { [ "$("$1" "$2")" -ge "$3" ]; }
wait_reloads() { wait_for 10 _at_least reloads "$1" "$2"; }
wait_failed() { wait_for 10 _at_least failed_reloads "$1" "$2"; }

write_conf rsa1
harness_restart_sluice || bail_out "daemons did not start with the key rsa1"

# A first message: signed rsa1, relay.test accepted.
out=$(send_mail --from load@example.test --to user@relay.test --header "Subject: $TAG before")
assert_match "$out" '250 2\.0\.0 Ok: queued' "before the reloads: relay.test is accepted"
f=$(wait_delivered internal "^Subject: $TAG before" 15) &&
	assert_match "$(sed '/^$/q' "$f")" 's=rsa1;' "before the reloads: signed with rsa1" ||
	not_ok "the first message was delivered"

# ------------------------------------------------------------ the load ----
STOP=$T_STATE/load.stop
in_ns "$T_PY" "$T_REPO/t/tools/smtp_session_load.py" --sessions "$OUT_SESSIONS" --messages "$OUT_MESSAGES" \
	--until "$STOP" --tag "$TAG" --out "$T_STATE/load.txt" >"$T_STATE/load.summary" 2>&1 &
load_pid=$!
in_ns "$T_PY" "$T_REPO/t/tools/smtp_session_load.py" --sessions "$IN_SESSIONS" --messages "$IN_MESSAGES" \
	--until "$STOP" --source 127.0.0.9 --from load@sender.test --tag "$TAG-in" --out "$T_STATE/load-in.txt" \
	>"$T_STATE/load-in.summary" 2>&1 &
load_in_pid=$!

# Reloads while it runs: wait until mail flows, then one SIGHUP a second.
_flowing() { [ "$(sink_count internal "^Subject: $TAG [0-9]")" -ge 50 ]; }
wait_for 30 _flowing ||
	not_ok "mail flows before the first reload"
p0=$(reloads policyd) m0=$(reloads milter)
pf0=$(failed_reloads policyd) mf0=$(failed_reloads milter)
hup_both
sleep 1
hup_both
sleep 1
# A broken file: an unknown setting on its last line.
write_conf rsa1
echo 'no_such_setting = 1;' >>"$T_CONF"
bad_line=$(wc -l <"$T_CONF")
hup_both
wait_failed policyd $((pf0 + 1)) && wait_failed milter $((mf0 + 1)) ||
	not_ok "a broken file: both daemons log the failed reload"
sleep 1
write_conf rsa1
hup_both
sleep 1
# The new selector, while the load runs.
write_conf rsa2
hup_both
sleep 1
hup_both
sleep 1
hup_both
# the load goes on until both daemons have the six reloads, and a second
# more of mail under the last
wait_reloads policyd $((p0 + 6)) && wait_reloads milter $((m0 + 6))
sleep 1
touch "$STOP"
wait "$load_pid" "$load_in_pid"
diag "outbound load: $(cat "$T_STATE/load.summary")" "inbound load: $(cat "$T_STATE/load-in.summary")"

for d in policyd milter; do
	line=$(grep 'reload failed, keeping the running configuration' "$T_STATE/$d.log" | tail -n 1)
	assert_match "$line" "$(re_escape "$T_CONF"):$bad_line:" \
		"sluice-$d: the broken file's reload failure names FILE:LINE ($T_CONF:$bad_line)"
done
wait_reloads policyd $((p0 + 6)) && ok "sluice-policyd: 6 reloads completed during the load" ||
	not_ok "sluice-policyd: 6 reloads completed during the load" "got $(($(reloads policyd) - p0))"
wait_reloads milter $((m0 + 6)) && ok "sluice-milter: 6 reloads completed during the load" ||
	not_ok "sluice-milter: 6 reloads completed during the load" "got $(($(reloads milter) - m0))"

# ------------------------------------------------------ the sending side --
# sending_side RESULTS N WHAT: every message has a reply; no 5xx, no tempfail
sending_side() {
	local results=$1 n=$2 what=$3 sent accepted tempfail reject
	sent=$(wc -l <"$results")
	accepted=$(awk '$4 == "accepted"' "$results" | wc -l)
	tempfail=$(awk '$4 == "tempfail"' "$results" | wc -l)
	reject=$(awk '$4 == "reject"' "$results" | wc -l)
	assert_eq "$sent" "$n" "$what: the sender has a reply for every message ($n)"
	assert_eq "$reject" 0 "$what: no message got a 5xx during the reloads"
	assert_eq "$((accepted + tempfail))" "$n" "$what: every message was accepted or tempfailed"
	[ "$tempfail" -eq 0 ] || diag "tempfailed (the client retries these): $tempfail" \
		"$(awk '$4 == "tempfail"' "$results" | head -n 5)"
	# Tempfails are not losses, but a reload should not cost any.
	assert_eq "$tempfail" 0 "$what: no message was tempfailed by a reload"
}
# taken: the messages the load started (its summary), each must have a
# reply; -1 when there is no summary, which every check below then fails
taken() {
	local n
	n=$(sed -n 's/.* taken=\([0-9]*\).*/\1/p' "$1")
	echo "${n:--1}"
}
OUT_SENT=$(taken "$T_STATE/load.summary")
IN_SENT=$(taken "$T_STATE/load-in.summary")
sending_side "$T_STATE/load.txt" "$OUT_SENT" outbound
sending_side "$T_STATE/load-in.txt" "$IN_SENT" inbound

# ------------------------------------------------------------ the sink ----
# Every accepted message arrives: wait until the queue is empty.
_queue_empty() { in_ns postqueue -c "$T_PF" -p 2>&1 | grep -q 'Mail queue is empty'; }
wait_for 60 _queue_empty && ok "Postfix's queue is empty after the load" ||
	not_ok "Postfix's queue is empty after the load" "$(in_ns postqueue -c "$T_PF" -p | tail -n 5)"
# sink_side TAG RESULTS WHAT: the sink's messages of TAG are the accepted
# ones, each once; writes STATE/delivered.TAG ("NUMBER SELECTOR SESSION SEQ")
sink_side() {
	local tag=$1 results=$2 what=$3 d=$T_STATE/delivered.$1 accepted delivered
	awk '$4 == "accepted" { print $3 }' "$results" | sort -n >"$d.accepted"
	awk -v tag="$tag" '
		function flush() { if (n ~ /^[0-9]+$/) print n, s, sess, seq }
		FNR == 1 { flush(); n = ""; s = "unsigned"; sess = ""; seq = ""; dkim = 0; hdr = 1 }
		!hdr { next }
		{ sub(/\r$/, "") }
		/^$/ { hdr = 0; next }
		/^DKIM-Signature:/ { dkim = 1 }
		/^[^ \t]/ && !/^DKIM-Signature:/ { dkim = 0 }
		dkim && match($0, /[; \t]s=[a-z0-9]+;/) { s = substr($0, RSTART + 3, RLENGTH - 4) }
		$1 == "Subject:" && $2 == tag { n = $3 }
		$1 == "X-Load:" && $2 == tag { sess = $3; seq = $4 }
		END { flush() }' "$T_SINK_INTERNAL"/* >"$d"
	cut -d' ' -f1 "$d" | sort -n >"$d.n"
	accepted=$(wc -l <"$d.accepted")
	delivered=$(wc -l <"$d.n")
	assert_eq "$(comm -23 "$d.accepted" "$d.n" | wc -l)" 0 \
		"$what: every accepted message reached the sink (accepted $accepted, delivered $delivered)"
	assert_eq "$(comm -13 "$d.accepted" "$d.n" | wc -l)" 0 \
		"$what: the sink has no message the sender does not count as accepted"
	assert_eq "$(uniq -d "$d.n" | wc -l)" 0 "$what: no message was delivered twice"
}
sink_side "$TAG" "$T_STATE/load.txt" outbound
sink_side "$TAG-in" "$T_STATE/load-in.txt" inbound
assert_eq "$(awk '$2 != "unsigned"' "$T_STATE/delivered.$TAG-in" | wc -l)" 0 \
	"inbound: no inbound message was signed"
spf_lines=$(grep -c 'greylist=bypass-spf .*from=<load@sender\.test>' "$T_POLICYD_LOG")
[ "$spf_lines" -ge "$IN_SENT" ] && ok "inbound: policyd bypassed greylisting by SPF for each ($spf_lines)" ||
	not_ok "inbound: policyd bypassed greylisting by SPF for each" "got $spf_lines lines"
spf_lines=$(grep -c 'from=<load@sender\.test> .*direction=inbound spf=pass' "$T_MILTER_LOG")
[ "$spf_lines" -ge "$IN_SENT" ] && ok "inbound: the milter's SPF passed for each ($spf_lines)" ||
	not_ok "inbound: the milter's SPF passed for each" "got $spf_lines lines"

unsigned=$(awk '$2 != "rsa1" && $2 != "rsa2"' "$T_STATE/delivered.$TAG" | wc -l)
assert_eq "$unsigned" 0 "every delivered message is signed, with rsa1 or rsa2"
n1=$(awk '$2 == "rsa1"' "$T_STATE/delivered.$TAG" | wc -l)
n2=$(awk '$2 == "rsa2"' "$T_STATE/delivered.$TAG" | wc -l)
diag "signed rsa1: $n1, rsa2: $n2"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && ok "the selector changed during the load (rsa1 $n1, rsa2 $n2)" ||
	not_ok "the selector changed during the load" "rsa1 $n1, rsa2 $n2 (the load ended before the reload?)"
# Within a session, messages in order: once rsa2, never rsa1 again.
backwards=$(sort -k3,3n -k4,4n "$T_STATE/delivered.$TAG" |
	awk '{ if ($3 in new && $2 == "rsa1") bad++; if ($2 == "rsa2") new[$3] = 1 } END { print bad + 0 }')
assert_eq "$backwards" 0 "no session went back to the old selector after the reload"

# -------------------------------------------- the next message after ----
write_conf rsa2 1
p1=$(reloads policyd) m1=$(reloads milter)
hup_both
wait_reloads policyd $((p1 + 1)) && wait_reloads milter $((m1 + 1)) ||
	not_ok "both daemons reload the changed settings"
out=$(send_mail --from load@example.test --to user@relay.test --header "Subject: $TAG after")
assert_match "$out" '554 5\.7\.1' "the next message after the reload: relay.test refused (554 5.7.1)"
out=$(send_mail --from load@example.test --to user@example.test --header "Subject: $TAG after")
assert_match "$out" '250 2\.0\.0 Ok: queued' "the next message after the reload is accepted"
f=$(wait_delivered internal "^Subject: $TAG after" 15) &&
	assert_match "$(sed '/^$/q' "$f")" 's=rsa2;' "the next message after the reload is signed with rsa2" ||
	not_ok "the message after the reload was delivered"

for d in policyd milter; do
	check "sluice-$d is still running" harness_pid "$d"
done
done_testing
