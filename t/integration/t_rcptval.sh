#!/bin/bash
# t_rcptval.sh - recipient validation (policyd.recipients.validate) through
# a real Postfix, seen from the sending side: `list` from the Redis lists
# (mailboxes, aliases, domain map, catch-all), `smtp` against a test
# internal server (t/tools/smtp_internal.py) and a dead one that accepts
# and says nothing, `ldap` against a real slapd. Greylisting is off here.
set -u
. "$(dirname "$0")/../lib.sh"

MODE=off
EXTRA=
harness_config() {
	harness_default_config | sed \
		-e 's/relay = \[ "relay.test" \];/relay = [ "relay.test|127.0.0.1:2600", "dead.test|127.0.0.1:2601", "mapped.test", "catch.test", "nohop.test", "away.test" ];/'
}
harness_policyd_block() {
	HARNESS_POLICYD_EXTRA="greylist = { enabled = false; };
  recipients = { validate = \"$MODE\"; timeout = \"2s\"; negative_ttl = \"2m\"; positive_ttl = \"1h\"; $EXTRA };"
}
harness_policyd_block
HARNESS_NO_MILTER=1
HARNESS_POSTCONF='relay_domains = example.test relay.test dead.test mapped.test catch.test nohop.test away.test'
trap 'stop_extras; harness_stop "$HARNESS_NAME"' EXIT
stop_extras() {
	local f
	[ -n "${T_STATE:-}" ] || return 0
	for f in "$T_STATE"/run/internal*.pid "$T_STATE"/slapd.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}
harness_start "sluice-t-rcptval-$$" || bail_out "harness did not start"

set_mode() {	# set_mode MODE [EXTRA]: rewrite sluice.conf, restart policyd
	MODE=$1
	EXTRA=${2:-}
	harness_policyd_block
	_write_sluice_conf
	harness_stop_daemon policyd
	harness_start_daemon policyd || bail_out "policyd did not start in mode $MODE"
	sleep 0.5
}
rcpt() {	# rcpt TO [CLIENT]: the swaks transcript of one mail to TO
	send_mail --local-interface "${2:-127.0.0.20}" --from someone@nowhere.test --to "$1" \
		--header "Subject: rcptval $1"
}
expect_code() {	# expect_code OUTPUT REGEX DESC
	assert_match "$1" "<\*\* +$2|<- +$2" "$3"
}
accepted() { expect_code "$1" '250 2\.0\.0 Ok: queued' "$2"; }
unknown() { expect_code "$1" '550 5\.1\.1 .*User unknown' "$2"; }
tempfailed() { expect_code "$1" '450 4\.1\.1 ' "$2"; }

# --- the lists -----------------------------------------------------------
redis_cli SADD sluice:mailboxes known@example.test >/dev/null
redis_cli SADD sluice:alias:sales@example.test known@example.test >/dev/null
redis_cli SADD 'sluice:alias:postmaster@*' known@example.test >/dev/null
redis_cli HSET sluice:catchall catch.test known@example.test >/dev/null
redis_cli HSET sluice:domainmap mapped.test example.test >/dev/null
redis_cli HSET sluice:domainmap away.test elsewhere.test >/dev/null
sleep 1.5

# --- off: nothing is judged (what the checks below fail without) -------------
unknown_off=$(rcpt nobody@example.test)
accepted "$unknown_off" "off: an unknown recipient is accepted (validation off)"

# --- list ------------------------------------------------------------------
set_mode list
unknown "$(rcpt nobody@example.test)" "list: unknown recipient of a local domain: 550 5.1.1"
unknown "$(rcpt nobody@relay.test)" "list: unknown recipient of a relay domain: 550 5.1.1"
accepted "$(rcpt known@example.test)" "list: a mailbox in sluice:mailboxes is accepted"
accepted "$(rcpt Known@Example.TEST)" "list: case does not matter"
accepted "$(rcpt sales@example.test)" "list: an exact alias is accepted"
accepted "$(rcpt postmaster@example.test)" "list: a wildcard alias (postmaster@*) is accepted"
unknown "$(rcpt postmaster@relay.test)" "list: the wildcard alias is for local domains only"
accepted "$(rcpt known@mapped.test)" "list: domain-mapped to a mailbox: accepted"
unknown "$(rcpt nobody@mapped.test)" "list: domain-mapped to no mailbox: 550 5.1.1"
accepted "$(rcpt anything@catch.test)" "list: a domain with a catch-all accepts anyone"
accepted "$(rcpt anyone@away.test)" "list: mapped to a domain that is not ours: not judged"
accepted "$(rcpt someone@elsewhere.test 127.0.0.1)" "list: a recipient of another domain is not judged (trusted client)"
if policyd_log_grep 'rcpt=unknown .*to=<nobody@example\.test> rcpt_by=list' 3 >/dev/null; then
	ok "list: log line rcpt=unknown with the recipient"
else
	not_ok "list: log line rcpt=unknown with the recipient" "$(tail -5 "$T_POLICYD_LOG")"
fi
redis_cli SADD sluice:mailboxes newcomer@example.test >/dev/null
sleep 1.5
accepted "$(rcpt newcomer@example.test)" "list: a mailbox added with redis-cli is valid within a second"

# --- smtp --------------------------------------------------------------------
ilog=$T_STATE/internal.log
start_internal() {	# start_internal PORT NAME ARGS...
	local port=$1 name=$2
	shift 2
	(exec setsid ip netns exec "$HARNESS_NAME" "$T_PY" "$T_REPO/t/tools/smtp_internal.py" \
		"$port" "$T_STATE/$name.log" "$@" </dev/null >>"$T_STATE/$name.out" 2>&1) &
	echo $! >"$T_STATE/run/$name.pid"
	wait_for 5 grep -q listening "$T_STATE/$name.log"
}
start_internal 2600 internal alice@relay.test bob@relay.test carol@example.test '"john doe"@relay.test' ||
	bail_out "internal server did not start"
start_internal 2601 internal-dead --silent || bail_out "silent server did not start"
set_mode smtp

accepted "$(rcpt alice@relay.test)" "smtp: a user the internal server knows is accepted"
unknown "$(rcpt ghost@relay.test)" "smtp: a user it refuses (550) is 550 5.1.1"
accepted "$(rcpt bob@relay.test)" "smtp: a second known user is accepted"
accepted "$(rcpt known@example.test)" "smtp: a sluice mailbox needs no probe"
accepted "$(rcpt '"john doe"@relay.test')" "smtp: a quoted local part is probed quoted (accepted)"
accepted "$(rcpt nobody@nohop.test)" "smtp: a relay domain without a next hop is not judged"
assert_eq "$(redis_cli GET 'sluice:rcpt:{alice@relay.test}')" 1 "smtp: cache: alice valid in Redis"
assert_eq "$(redis_cli GET 'sluice:rcpt:{ghost@relay.test}')" 0 "smtp: cache: ghost unknown in Redis"
ttl_pos=$(redis_cli TTL 'sluice:rcpt:{alice@relay.test}')
ttl_neg=$(redis_cli TTL 'sluice:rcpt:{ghost@relay.test}')
check "smtp: positive answer cached with positive_ttl ($ttl_pos s)" test "$ttl_pos" -gt 3000 -a "$ttl_pos" -le 3600
check "smtp: negative answer cached with negative_ttl ($ttl_neg s)" test "$ttl_neg" -gt 60 -a "$ttl_neg" -le 120
conns=$(grep -c '^connect' "$ilog")
assert_eq "$conns" 1 "smtp: four probes in a row used one connection (RSET between them)"
assert_match "$(grep -c '^RSET' "$ilog")" '^[3-9]' "smtp: RSET after each probe"
assert_match "$(grep '^MAIL' "$ilog" | head -1)" '^MAIL FROM:<>$' "smtp: probes with the null sender"
probes=$(grep -c '^RCPT' "$ilog")
accepted "$(rcpt alice@relay.test)" "smtp: a cached recipient is accepted again"
assert_eq "$(grep -c '^RCPT' "$ilog")" "$probes" "smtp: ... from the cache, without a probe"
unknown "$(rcpt ghost@relay.test)" "smtp: a cached unknown is 550 again, without a probe"

# two policyd share the cache: host B answers from what host A learnt
second_conf=$T_STATE/sluice-b.conf
sed -e "s|$T_STATE/policyd.sock|$T_STATE/policyd-b.sock|" -e "s|$T_STATE/policyd.pid|$T_STATE/policyd-b.pid|" \
	"$T_CONF" >"$second_conf"
in_ns "$SLUICE_BUILD/sluice-policyd" -f -c "$second_conf" 2>"$T_STATE/policyd-b.log" &
bpid=$!
wait_for 5 test -S "$T_STATE/policyd-b.sock"
kill "$(cat "$T_STATE/run/internal.pid")"	# the internal server goes away
sleep 0.3
pc() { in_ns "$T_PY" "$T_REPO/t/tools/policy_client.py" -s "unix:$T_STATE/policyd-b.sock" request \
	client_address=127.0.0.26 client_name=unknown sender=mx@nowhere.test recipient="$1"; }
assert_match "$(pc alice@relay.test)" 'action=DUNNO' "host B: alice valid from host A's cache (server gone)"
assert_match "$(pc ghost@relay.test)" 'action=550 5\.1\.1' "host B: ghost unknown from host A's cache"
if log_wait "$T_STATE/policyd-b.log" 'to=<alice@relay\.test> rcpt=valid rcpt_by=cache' 3 >/dev/null; then
	ok "host B: log says rcpt_by=cache"
else
	not_ok "host B: log says rcpt_by=cache" "$(tail -5 "$T_STATE/policyd-b.log")"
fi
kill "$bpid"; wait "$bpid" 2>/dev/null
# the internal server is down: an uncached recipient is tempfailed, never 5xx
out=$(rcpt carol@relay.test)
tempfailed "$out" "smtp: internal server down (connection refused): 450 4.1.1"
assert_no_match "$out" '<\*\* +5[0-9][0-9]' "smtp: ... and never a 5xx"
assert_eq "$(redis_cli EXISTS 'sluice:rcpt:{carol@relay.test}')" 0 "smtp: a tempfail is not cached"

# a dead internal server: accepts, says nothing
t0=$(date +%s.%N)
out=$(rcpt someone@dead.test)
t1=$(date +%s.%N)
tempfailed "$out" "smtp: silent internal server: 450 4.1.1"
assert_no_match "$out" '<\*\* +5[0-9][0-9]' "smtp: silent server: never a 5xx"
el=$(echo "$t1 - $t0" | bc)
check "smtp: silent server answered within the 2 s budget plus slack ($el s)" \
	sh -c "[ \$(echo '$el < 6' | bc) = 1 ]"
accepted "$(rcpt known@example.test)" "smtp: other recipients are served meanwhile"
t0=$(date +%s.%N)
out=$(rcpt other@dead.test)
t1=$(date +%s.%N)
el=$(echo "$t1 - $t0" | bc)
tempfailed "$out" "smtp: the dead server is marked down: 450 again"
check "smtp: ... at once, without waiting the timeout again ($el s)" \
	sh -c "[ \$(echo '$el < 1.5' | bc) = 1 ]"
assert_eq "$(redis_cli EXISTS 'sluice:rcpt:{someone@dead.test}')" 0 "smtp: dead server's tempfail not cached"

# --- ldap --------------------------------------------------------------------
if ! command -v slapd >/dev/null && [ ! -x /usr/sbin/slapd ]; then
	not_ok "ldap: slapd installed" "run tools/deps.sh"
	done_testing
fi
ld=$T_STATE/ldap
mkdir -p "$ld/db"
cat >"$ld/slapd.conf" <<EOC
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $T_STATE/slapd.pid
database mdb
maxsize 10485760
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw secret
directory $ld/db
access to * by dn.exact="cn=sluice,ou=svc,dc=example,dc=test" read by anonymous auth by * none
EOC
cat >"$ld/data.ldif" <<EOC
dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
o: example
dc: example

dn: ou=svc,dc=example,dc=test
objectClass: organizationalUnit
ou: svc

dn: cn=sluice,ou=svc,dc=example,dc=test
objectClass: inetOrgPerson
cn: sluice
sn: sluice
userPassword: bindsecret

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: uid=dave,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: dave
cn: Dave
sn: Dave
mail: dave@example.test

dn: uid=erin,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: erin
cn: Erin
sn: Erin
mail: erin@relay.test
mail: smtp:e.r*in@relay.test
EOC
echo bindsecret >"$ld/password"
chmod 600 "$ld/password"
in_ns /usr/sbin/slapd -f "$ld/slapd.conf" -h "ldap://127.0.0.1:3890/" >"$ld/slapd.out" 2>&1 ||
	bail_out "slapd did not start: $(cat "$ld/slapd.out")"
wait_for 5 in_ns ldapsearch -x -H ldap://127.0.0.1:3890/ -b "" -s base >/dev/null ||
	bail_out "slapd does not answer"
in_ns ldapadd -x -H ldap://127.0.0.1:3890/ -D "cn=admin,dc=example,dc=test" -w secret \
	-f "$ld/data.ldif" >"$ld/ldapadd.out" 2>&1 || bail_out "ldapadd: $(cat "$ld/ldapadd.out")"
redis_cli --scan --pattern 'sluice:rcpt:*' | while read -r k; do redis_cli DEL "$k" >/dev/null; done
set_mode ldap "ldap_uri = \"ldap://127.0.0.1:3890\"; ldap_bind_dn = \"cn=sluice,ou=svc,dc=example,dc=test\"; ldap_password_file = \"$ld/password\"; ldap_base = \"ou=people,dc=example,dc=test\"; ldap_filter = \"(|(mail=%s)(mail=smtp:%s))\";"
accepted "$(rcpt dave@example.test)" "ldap: a recipient in the directory is accepted"
accepted "$(rcpt erin@relay.test)" "ldap: another, of a relay domain"
unknown "$(rcpt nobody2@example.test)" "ldap: a recipient not in the directory: 550 5.1.1"
unknown "$(rcpt '*@relay.test')" "ldap: '*' is escaped (RFC 4515), no wildcard match: 550 5.1.1"
assert_eq "$(redis_cli GET 'sluice:rcpt:{dave@example.test}')" 1 "ldap: cache: dave valid in Redis"
assert_eq "$(redis_cli GET 'sluice:rcpt:{nobody2@example.test}')" 0 "ldap: cache: nobody2 unknown in Redis"
accepted "$(rcpt sales@example.test)" "ldap: an alias needs no lookup"
kill "$(cat "$T_STATE/slapd.pid")"
wait_for 5 sh -c "! kill -0 $(cat "$T_STATE/slapd.pid") 2>/dev/null"
out=$(rcpt frank@example.test)
tempfailed "$out" "ldap: directory down: 450 4.1.1"
assert_no_match "$out" '<\*\* +5[0-9][0-9]' "ldap: directory down: never a 5xx"
accepted "$(rcpt dave@example.test)" "ldap: directory down: a cached recipient is still accepted"
if policyd_log_grep 'rcpt=tempfail .*to=<frank@example\.test> reason=' 3 >/dev/null; then
	ok "ldap: log says why it tempfailed"
else
	not_ok "ldap: log says why it tempfailed" "$(tail -5 "$T_POLICYD_LOG")"
fi
done_testing
