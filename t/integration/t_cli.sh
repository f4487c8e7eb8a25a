#!/bin/bash
# t_cli.sh - command lines of both daemons and sluice-keygen: -t reports a
# broken config as FILE:LINE: message and exits 1, -V, -h, bad usage, and
# the milter's libmilter lifetimes under miltertest. Needs no namespace.
set -u
. "$(dirname "$0")/../lib.sh"

BIN=$SLUICE_BUILD
cd "$T_REPO"

check_log() {	# FILE REGEX DESC
	if log_wait "$1" "$2" 3 >/dev/null; then ok "$3"; else not_ok "$3" "no line matches: $2" "$(tail -5 "$1")"; fi
}
work=$(mktemp -d /tmp/sluice-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT

check_t() {	# daemon conf expected-status expected-stderr-pattern what
	local out rc
	out=$("$BIN/$1" -t -c "$2" 2>&1); rc=$?
	if [ "$rc" = "$3" ] && printf '%s\n' "$out" | grep -Eq -- "$4"; then
		ok "$1 -t: $5"
	else
		not_ok "$1 -t: $5 (exit $rc, output: $out)"
	fi
}

cp etc/sluice.conf "$work/good.conf"
printf 'user = "sluice";\npolicyd = {\n  greylist = { delay = "soon"; };\n};\n' >"$work/bad-duration.conf"
printf 'redis = {\n  port = 6379;\n  colour = "blue";\n};\n' >"$work/unknown.conf"
printf 'milter = {\n  listen = "inet:8891";\n};\n' >"$work/listen.conf"
printf 'trusted_networks = [ "10.0.0.0/8",\n "300.1.2.3/8" ];\n' >"$work/cidr.conf"
printf 'redis = { port = 6379 \n' >"$work/syntax.conf"
# list members: each error names the member's own line (libconfig itself
# would say the line of the closing bracket); a regex the daemons would
# refuse when compiling their lists is refused by -t, at its line.
long_re="/$(printf 'a%.0s' $(seq 300))/"
printf 'policyd = {\n  greylist = {\n    allow_senders = [\n      "a@b.example",\n      "%s"\n    ];\n  };\n};\n' \
	"$long_re" >"$work/member.conf"
printf 'domains = {\n  local = [\n    "ok.example",\n    "bad..example"\n  ];\n};\n' >"$work/domain.conf"

for d in sluice-policyd sluice-milter; do
	check_t $d "$work/good.conf" 0 "configuration is valid" "reference config is valid"
	check_t $d "$work/bad-duration.conf" 1 "^$work/bad-duration.conf:3: delay: 'soon' is not a duration" "bad duration"
	check_t $d "$work/unknown.conf" 1 "^$work/unknown.conf:3: unknown setting 'colour'" "unknown key"
	check_t $d "$work/listen.conf" 1 "^$work/listen.conf:2: listen: " "bad endpoint"
	check_t $d "$work/cidr.conf" 1 "^$work/cidr.conf:2: trusted_networks: '300.1.2.3/8'" "bad CIDR"
	check_t $d "$work/syntax.conf" 1 "^$work/syntax.conf:2: syntax error" "syntax error"
	check_t $d "$work/member.conf" 1 "^$work/member.conf:5: allow_senders: '/aaa" "bad regex member: its line"
	check_t $d "$work/domain.conf" 1 "^$work/domain.conf:4: local: 'bad\.\.example'" "bad last member: its line"
	check_t $d "$work/missing.conf" 1 "^$work/missing.conf:0: cannot read" "missing file"
	assert_match "$("$BIN/$d" -V)" "^$d [0-9]+\.[0-9]+\.[0-9]+$" "$d -V prints the version"
	assert_match "$("$BIN/$d" -h)" "-t +check the configuration" "$d -h prints usage"
	"$BIN/$d" -x >/dev/null 2>&1
	assert_eq "$?" 2 "$d: unknown option exits 2"
done

# sluice-keygen: keys of both kinds, mode 0600, records split at 255.
out=$("$BIN/sluice-keygen" -d example.test -s s1 -o "$work" 2>/dev/null)
assert_eq "$(stat -c %a "$work/example.test.s1.key")" 600 "keygen: RSA key is mode 0600"
assert_match "$out" '^s1\._domainkey\.example\.test\. IN TXT \( "v=DKIM1; k=rsa; p=' "keygen: BIND record"
longest=$(printf '%s\n' "$out" | grep -o '"[^"]*"' | awk '{ print length($0) - 2 }' | sort -n | tail -1)
[ "$longest" -le 255 ] && ok "keygen: TXT strings at most 255 characters ($longest)" ||
	not_ok "keygen: a TXT string has $longest characters"
pub=$(printf '%s\n' "$out" | grep -o '"[^"]*"' | tr -d '"\n' | sed 's/.*p=//')
want=$(openssl pkey -in "$work/example.test.s1.key" -pubout -outform DER 2>/dev/null | base64 -w0)
assert_eq "$pub" "$want" "keygen: p= is the key's public half"
out=$("$BIN/sluice-keygen" -d example.test -s e1 -a ed25519 --plain -o "$work" 2>/dev/null)
assert_match "$out" '^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$' "keygen: Ed25519 plain record"
"$BIN/sluice-keygen" -d example.test -s s1 -o "$work" >/dev/null 2>&1
assert_eq "$?" 1 "keygen: never overwrites a key"

# sluice-milter under miltertest: lifetimes of connection and message state.
if [ "$(id -u)" = 0 ] && command -v miltertest >/dev/null; then
	chmod 755 "$work"
	cat >"$work/milter.conf" <<CONF
user = "sluice";
trusted_networks = [ "127.0.0.1/32" ];
milter = { listen = "unix:$work/milter.sock"; pid_file = "$work/milter.pid"; };
CONF
	"$BIN/sluice-milter" -f -c "$work/milter.conf" 2>"$work/milter.log" &
	mpid=$!
	wait_for 5 test -S "$work/milter.sock"
	miltertest -s t/milter/lifecycle.lua -D "sock=unix:$work/milter.sock" >"$work/mt.out" 2>&1
	assert_eq "$?" 0 "milter: miltertest lifecycle script ($(tail -1 "$work/mt.out"))"
	kill -0 "$mpid" 2>/dev/null && ok "milter: still running after the script" ||
		not_ok "milter: died"
	check_log "$work/milter.log" "QID1: milter=accept client=mail.sender.test\[192.0.2.7\] from=<a@sender.test> nrcpt=1 direction=inbound" \
		"milter: logs one line per message with the queue ID first"
	check_log "$work/milter.log" "QID3: milter=accept .* nrcpt=1 " \
		"milter: message state reset after abort"
	check_log "$work/milter.log" "QIDTRUSTED: milter=accept .*direction=outbound" \
		"milter: trusted network is outbound"
	assert_eq "$(ps -o user= -p "$mpid" | tr -d ' ')" sluice "milter: runs as user sluice after binding"
	kill -HUP "$mpid"; sleep 0.5
	kill -0 "$mpid" 2>/dev/null && ok "milter: survives SIGHUP" || not_ok "milter: SIGHUP killed it"
	check_log "$work/milter.log" "configuration reloaded" "milter: SIGHUP reloads"
	echo 'milter = { listen = "bogus"; };' >"$work/milter.conf"
	kill -HUP "$mpid"; sleep 0.5
	check_log "$work/milter.log" "reload failed, keeping the running configuration: .*milter.conf:1" \
		"milter: a broken config on SIGHUP is logged and the old one kept"
	miltertest -s t/milter/lifecycle.lua -D "sock=unix:$work/milter.sock" >"$work/mt.out" 2>&1
	assert_eq "$?" 0 "milter: still serves after a failed reload"
	kill -TERM "$mpid"
	wait "$mpid"
	assert_eq "$?" 0 "milter: SIGTERM stops it cleanly"
fi

# sluice-policyd as a daemon: privilege drop, reload, broken reload, stop.
if [ "$(id -u)" = 0 ]; then
	cat >"$work/policyd.conf" <<CONF
user = "sluice";
policyd = { listen = "unix:$work/policyd.sock"; pid_file = "$work/policyd.pid"; };
CONF
	"$BIN/sluice-policyd" -f -c "$work/policyd.conf" 2>"$work/policyd.log" &
	ppid=$!
	wait_for 5 test -S "$work/policyd.sock"
	pc() { "$T_PY" t/tools/policy_client.py -s "unix:$work/policyd.sock" normal | tail -1; }
	assert_match "$(pc)" '^PASS' "policyd: answers on its socket"
	assert_eq "$(ps -o user= -p "$ppid" | tr -d ' ')" sluice "policyd: runs as user sluice after binding"
	assert_eq "$(stat -c "%a %G" "$work/policyd.sock")" "660 postfix" "policyd: socket is mode 0660, group postfix (Postfix connects, other local users cannot)"
	kill -HUP "$ppid"
	check_log "$work/policyd.log" "configuration reloaded" "policyd: SIGHUP reloads"
	echo 'policyd = { greylist = { delay = "never"; }; };' >"$work/policyd.conf"
	kill -HUP "$ppid"
	check_log "$work/policyd.log" "reload failed, keeping the running configuration: .*policyd.conf:1: delay" \
		"policyd: a broken config on SIGHUP is logged and the old one kept"
	assert_match "$(pc)" '^PASS' "policyd: still serves after a failed reload"
	kill -TERM "$ppid"
	wait "$ppid"
	assert_eq "$?" 0 "policyd: SIGTERM stops it cleanly"
	check_log "$work/policyd.log" "stopped" "policyd: logs its stop"
fi

done_testing
