#!/bin/bash
# t_metrics.sh - Prometheus metrics of both daemons (policyd.metrics,
# milter.metrics): counters move for a greylisting defer and a signed
# outbound message, a real Prometheus (Debian's package, run as a plain
# process in the test's namespace) scrapes both and answers through its
# HTTP API; bad requests to the endpoint (oversized, binary, slow, too many
# clients) leave both daemons serving; SIGUSR1 logs one summary line.
set -u
. "$(dirname "$0")/../lib.sh"

command -v prometheus >/dev/null || bail_out "prometheus not installed (run tools/deps.sh)"
P_URL=http://127.0.0.1:9187/metrics	# policyd
M_URL=http://127.0.0.1:9188/metrics	# milter
HARNESS_POLICYD_EXTRA='metrics = "inet:127.0.0.1:9187"; greylist = { delay = 120; allow_networks = [ "127.0.0.9/32" ]; };'
HARNESS_MILTER_EXTRA='metrics = "inet:127.0.0.1:9188"; spf = true; dkim_verify = true; dmarc = true;'
PROM_PID=
cleanup() {
	[ -z "$PROM_PID" ] || kill "$PROM_PID" 2>/dev/null
	harness_stop
}
trap cleanup EXIT
harness_start "sluice-t-metrics-$$" || bail_out "harness did not start"

scrape() { in_ns curl -s --max-time 5 "$1"; }
# value URL SERIES: the sample of one series ("" when absent)
value() { scrape "$1" | awk -v s="$2" '$1 == s { print $2 }'; }

# --- the endpoint, before any mail ---------------------------------------
out=$(in_ns curl -s -i --max-time 5 "$P_URL")
assert_match "$out" '^HTTP/1\.0 200 OK' "policyd: GET /metrics is 200"
assert_match "$out" 'Content-Type: text/plain; version=0\.0\.4' "policyd: Prometheus text format 0.0.4"
assert_match "$out" '# TYPE sluice_policyd_decisions_total counter' "policyd: decisions counter family"
assert_match "$out" 'sluice_policyd_decision_seconds_bucket\{check="greylist",le="\+Inf"\} 0' "policyd: latency histogram per check"
assert_match "$out" 'sluice_start_time_seconds [0-9]{10}' "policyd: start time"
assert_match "$out" 'sluice_config_generation 1' "policyd: config generation 1"
out=$(scrape "$M_URL")
assert_match "$out" 'sluice_milter_messages_total\{result="accept"\} 0' "milter: messages counter at 0"
assert_match "$out" 'sluice_milter_module_seconds_count\{module="dkim_sign"\} 0' "milter: latency per module"
assert_match "$out" 'sluice_lists_refresh_age_seconds [0-9]+' "milter: list refresh age (first read done)"
assert_match "$out" 'sluice_list_entries\{list="permit:ip"\} 0' "milter: list sizes per list"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:9187/other)
assert_eq "$code" 404 "another path is 404"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$P_URL")
assert_eq "$code" 405 "POST is 405"

# --- list sizes follow Redis ---------------------------------------------
redis_cli SADD sluice:permit:ip 192.0.2.1 192.0.2.2 >/dev/null
wait_for 5 sh -c "ip netns exec $HARNESS_NAME curl -s $P_URL | grep -q '^sluice_list_entries{list=\"permit:ip\"} 2\$'"
check "policyd: sluice_list_entries of permit:ip is 2 after SADD" test $? -eq 0

# --- a greylisting defer and a signed outbound message -------------------
KEYS=$T_STATE/keys
mkdir -p -m 0755 "$KEYS"
rec=$("$SLUICE_BUILD/sluice-keygen" -d example.test -s m1 -a ed25519 -o "$KEYS" 2>/dev/null) ||
	bail_out "sluice-keygen failed"
chown sluice "$KEYS/example.test.m1.key"
harness_config_extra() {
	echo "dkim = { keys = ( { domain = \"example.test\"; selector = \"m1\"; key = \"$KEYS/example.test.m1.key\"; } ); };"
}
harness_restart_sluice || bail_out "daemons restart with a DKIM key"

out=$(send_mail --local-interface 127.0.0.20 --from a@nowhere.test --to u1@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*Greylisted' "inbound from a new client: 450 4.7.1 greylisted"
out=$(send_mail --local-interface 127.0.0.1 --from user@example.test --to "far-$$@outside.test" \
	--header "Subject: metrics $$")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "outbound: accepted"
f=$(wait_delivered internet "^Subject: metrics $$") || not_ok "outbound delivered"
assert_match "$(cat "$f" 2>/dev/null)" '^DKIM-Signature: ' "outbound: signed"

assert_eq "$(value "$P_URL" 'sluice_policyd_decisions_total{check="greylist",action="defer"}')" 1 \
	"policyd: decisions_total{check=greylist,action=defer} is 1"
# Greylisting decided both: the defer, and the trusted client's pass.
assert_eq "$(value "$P_URL" 'sluice_policyd_decisions_total{check="greylist",action="dunno"}')" 1 \
	"policyd: decisions_total{check=greylist,action=dunno} is 1 (trusted client)"
n=$(value "$P_URL" 'sluice_policyd_decision_seconds_count{check="greylist"}')
assert_eq "$n" 2 "policyd: both greylisting latencies observed"
n=$(value "$P_URL" 'sluice_redis_roundtrip_seconds_count')
if [ "${n:-0}" -ge 1 ]; then ok "policyd: Redis round trips observed ($n)"; else not_ok "policyd: Redis round trips observed" "got '$n'"; fi
wait_for 5 sh -c "ip netns exec $HARNESS_NAME curl -s $M_URL | grep -q '^sluice_milter_dkim_sign_total{result=\"signed\"} 1\$'"
check "milter: dkim_sign_total{result=signed} is 1" test $? -eq 0
assert_eq "$(value "$M_URL" 'sluice_milter_messages_total{result="accept"}')" 1 "milter: messages_total{result=accept} is 1"
n=$(value "$M_URL" 'sluice_milter_module_seconds_count{module="dkim_sign"}')
assert_eq "$n" 1 "milter: dkim_sign's latency observed once"

# An inbound message the milter checks (SPF pass, no DKIM signature,
# DMARC pass by SPF alignment): results by kind, and its DNS lookups.
out=$(send_mail --local-interface 127.0.0.9 --from alice@sender.test --to u9@example.test \
	--header "Subject: metrics inbound $$")
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "inbound from an allowlisted client: accepted"
wait_for 5 sh -c "ip netns exec $HARNESS_NAME curl -s $M_URL | grep -q '^sluice_milter_spf_total{result=\"pass\"} 1\$'"
check "milter: spf_total{result=pass} is 1" test $? -eq 0
assert_eq "$(value "$M_URL" 'sluice_milter_dmarc_total{result="pass"}')" 1 "milter: dmarc_total{result=pass} is 1"
assert_eq "$(value "$M_URL" 'sluice_milter_dkim_verify_total{result="none"}')" 1 "milter: dkim_verify_total{result=none} is 1"
n=$(value "$M_URL" 'sluice_dns_lookup_seconds_count')
if [ "${n:-0}" -ge 2 ]; then ok "milter: DNS lookups observed ($n)"; else not_ok "milter: DNS lookups observed" "got '$n'"; fi
assert_eq "$(value "$M_URL" 'sluice_dns_errors_total')" 0 "milter: no DNS errors"

# --- a real Prometheus scrapes both ----------------------------------------
PROM=$T_STATE/prometheus
mkdir -p "$PROM/data"
cat >"$PROM/prometheus.yml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: sluice-policyd
    static_configs: [ { targets: [ "127.0.0.1:9187" ] } ]
  - job_name: sluice-milter
    static_configs: [ { targets: [ "127.0.0.1:9188" ] } ]
EOF
PROM_PORT=$((20000 + $$ % 20000))
ip netns exec "$HARNESS_NAME" prometheus --config.file="$PROM/prometheus.yml" \
	--storage.tsdb.path="$PROM/data" --web.listen-address="127.0.0.1:$PROM_PORT" \
	>"$PROM/log" 2>&1 &
PROM_PID=$!
api() { in_ns curl -s --max-time 5 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
# up_count: targets whose up is 1
up_count() { api 'sum(up)' | $T_PY -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' 2>/dev/null; }
for i in $(seq 60); do [ "$(up_count)" = 2 ] && break; sleep 0.5; done
assert_eq "$(up_count)" 2 "prometheus: both targets are up (sum(up) = 2)"
out=$(api 'up{job="sluice-milter"}')
assert_match "$out" '"job":"sluice-milter".*"value":\[[0-9.]+,"1"\]' "prometheus: up{job=sluice-milter} is 1"
out=$(api 'sluice_policyd_decisions_total{check="greylist",action="defer"}')
assert_match "$out" '"value":\[[0-9.]+,"1"\]' "prometheus: reads the greylisting defer counter (1)"
# One more defer: Prometheus sees the counter move.
send_mail --local-interface 127.0.0.21 --from b@nowhere.test --to u2@example.test >/dev/null
sleep 2.5
out=$(api 'sluice_policyd_decisions_total{check="greylist",action="defer"}')
assert_match "$out" '"value":\[[0-9.]+,"2"\]' "prometheus: the counter moved to 2"
out=$(api 'histogram_quantile(0.99, sum by (le) (rate(sluice_policyd_decision_seconds_bucket[1m])))')
assert_match "$out" '"status":"success"' "prometheus: p99 from the latency histogram (the dashboard's query)"

# --- the Grafana dashboard: valid JSON, its names exist, Prometheus runs its queries
DASH=$T_REPO/contrib/grafana/sluice.json
check "contrib/grafana/sluice.json is valid JSON" "$T_PY" -m json.tool "$DASH"
{ scrape "$P_URL"; scrape "$M_URL"; } >"$T_STATE/scraped"
missing=$("$T_PY" - "$DASH" "$T_STATE/scraped" <<'EOF'
import json, re, sys
dash = json.load(open(sys.argv[1]))
have = {l.split("{")[0].split(" ")[0] for l in open(sys.argv[2]) if not l.startswith("#")}
used = {n for p in dash["panels"] for t in p.get("targets", [])
        for n in re.findall(r"sluice_[a-z_]+", t["expr"])}
print(" ".join(sorted(n for n in used if n not in have)))
EOF
)
assert_eq "$missing" "" "every metric the dashboard uses is served by a daemon"
bad=0
while IFS= read -r expr; do
	out=$(api "$expr")
	case $out in *'"status":"success"'*) ;; *) bad=$((bad + 1)); diag "query failed: $expr" "$out" ;; esac
done < <("$T_PY" -c '
import json, sys
for p in json.load(open(sys.argv[1]))["panels"]:
    for t in p.get("targets", []):
        print(t["expr"].replace("$instance", ".*").replace("$__rate_interval", "1m"))' "$DASH")
assert_eq "$bad" 0 "prometheus evaluates every query of the dashboard"

# --- bad requests leave the daemons serving --------------------------------
raw() {	# raw PORT MODE: a hostile client (t/tools style, inline)
	in_ns "$T_PY" - "$@" <<'EOF'
import socket, sys, time, os
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=8)
if mode == "oversized":
    try:
        s.sendall(b"GET /metrics HTTP/1.0\r\nX: " + b"A" * 20000)
    except OSError:
        pass
elif mode == "binary":
    s.sendall(os.urandom(300).replace(b"\n", b"x") + b"\r\n\r\n")
try:
    print(s.recv(200).split(b"\r\n")[0].decode("ascii", "replace"))
except OSError as e:
    print("closed", e)
EOF
}
assert_match "$(raw 9187 oversized)" '^HTTP/1\.0 431 ' "oversized request head: 431"
assert_match "$(raw 9188 binary)" '^HTTP/1\.0 400 ' "binary request: 400"
# 20 silent clients (more than the endpoint's 16 slots) hold connections.
in_ns "$T_PY" -c '
import socket, time
ss = [socket.create_connection(("127.0.0.1", p)) for p in (9187, 9188) for _ in range(20)]
for s in ss: s.send(b"GET /met")
time.sleep(7)' &
slow=$!
sleep 1
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$P_URL")
assert_eq "$code" 200 "policyd: a scrape is served while 20 slow clients are connected"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$M_URL")
assert_eq "$code" 200 "milter: a scrape is served while 20 slow clients are connected"
out=$(send_mail --local-interface 127.0.0.22 --from c@nowhere.test --to u3@example.test)
assert_match "$out" '<\*\* +450 4\.7\.1 .*Greylisted' "policy decisions go on meanwhile"
wait "$slow"
check "policyd still running" kill -0 "$(harness_pid policyd)"
check "milter still running" kill -0 "$(harness_pid milter)"

# --- SIGUSR1: one summary line ---------------------------------------------
n=$(log_lines "$T_POLICYD_LOG")
kill -USR1 "$(harness_pid policyd)"
line=$(log_wait "$T_POLICYD_LOG" 'summary: ' 5)
assert_match "$line" 'summary: decisions=[0-9]+ .*greylist_defer=3 .*redis_errors=0 dns_errors=0 .*lists_age=[0-9]+' \
	"policyd: SIGUSR1 logs decisions by kind, errors, list age"
kill -USR1 "$(harness_pid milter)"
line=$(log_wait "$T_MILTER_LOG" 'summary: ' 5)
assert_match "$line" 'summary: messages_accept=2 dkim_sign_signed=1 spf_pass=1 dkim_none=1 dmarc_pass=1 .*redis_errors=0' \
	"milter: SIGUSR1 logs messages and results"
check "policyd still running after SIGUSR1" kill -0 "$(harness_pid policyd)"
check "milter still running after SIGUSR1" kill -0 "$(harness_pid milter)"

# --- a failed reload is counted --------------------------------------------
echo 'bogus_setting = 1;' >>"$T_CONF"
harness_sighup policyd
log_wait "$T_POLICYD_LOG" 'reload failed' 5 >/dev/null
assert_eq "$(value "$P_URL" sluice_config_reload_failures_total)" 1 "policyd: reload failure counted"
assert_eq "$(value "$P_URL" sluice_config_generation)" 1 "policyd: config generation unchanged"

# --- Redis down: errors counted, decisions go on (fail_open) --------------
kill "$(harness_pid redis)"
sleep 0.5
out=$(send_mail --local-interface 127.0.0.23 --from d@nowhere.test --to u4@example.test)
assert_match "$out" '<- +250 2\.0\.0 Ok: queued' "Redis down: mail goes on (fail_open)"
n=$(value "$P_URL" sluice_redis_errors_total)
if [ "${n:-0}" -ge 1 ]; then ok "policyd: Redis errors counted ($n)"; else not_ok "policyd: Redis errors counted" "got '$n'"; fi

done_testing
