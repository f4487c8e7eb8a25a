#!/bin/bash
# t_dkim_keygen.sh - sluice-keygen's records in real DNS software and
# `sluice-keygen --check`: BIND's named-checkzone accepts the printed
# record, dnsmasq serves it, and --check says OK (exit 0) for the right
# record, and MISSING / MISMATCH (exit 1) for no record, another key, an
# Ed25519 key behind a k=rsa record, a revoked key (empty p=).
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
HARNESS_NO_MILTER=1
trap harness_stop EXIT
harness_start "sluice-t-$$" || bail_out "harness did not start"
K=$T_STATE/keys
mkdir -p -m 0755 "$K"
KG=$SLUICE_BUILD/sluice-keygen

# ---------------------------------------------------- BIND zone syntax ----
rsa=$("$KG" -d example.test -s good -b 2048 -o "$K" 2>/dev/null)
big=$("$KG" -d example.test -s big -b 4096 -o "$K" 2>/dev/null)
ed=$("$KG" -d example.test -s ed -a ed25519 -o "$K" 2>/dev/null)
"$KG" -d example.test -s other -o "$K" >/dev/null 2>&1
cat >"$T_STATE/example.test.zone" <<EOF
\$ORIGIN example.test.
\$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@ IN NS ns.example.test.
ns IN A 127.0.0.1
$rsa
$big
$ed
EOF
out=$(named-checkzone example.test "$T_STATE/example.test.zone" 2>&1)
assert_match "$out" '^OK$' "named-checkzone accepts the RSA-2048, RSA-4096 and Ed25519 records" || diag "$out"
n=$(printf '%s\n' "$big" | grep -o '"[^"]*"' | wc -l)
assert_eq "$n" 3 "an RSA-4096 record is split into three strings"

# ------------------------------------------------------------ dnsmasq ----
to_dnsmasq() {	# keygen BIND output -> txt-record=NAME,"..","..", NAME changed to $2
	printf 'txt-record=%s,%s\n' "$2" "$(printf '%s\n' "$1" | grep -o '"[^"]*"' | paste -sd, -)"
}
revoked='txt-record=revoked._domainkey.example.test,"v=DKIM1; k=rsa; p="'
zone_add "$(to_dnsmasq "$rsa" good._domainkey.example.test)" \
	"$(to_dnsmasq "$big" big._domainkey.example.test)" \
	"$(to_dnsmasq "$ed" ed._domainkey.example.test)" \
	"$(to_dnsmasq "$rsa" wrong._domainkey.example.test)" \
	"$(to_dnsmasq "$rsa" edrsa._domainkey.example.test)" \
	"$revoked" || bail_out "dnsmasq refused the records"

check() {	# SELECTOR KEYFILE -> output, exit status in $rc
	out=$(in_ns "$KG" --check -d example.test -s "$1" -k "$2" 2>&1)
	rc=$?
}
check good "$K/example.test.good.key"
assert_eq "$rc" 0 "--check: published RSA-2048 record matches (exit 0)"
assert_match "$out" '^OK: good\._domainkey\.example\.test publishes the public key' "... says OK"
check big "$K/example.test.big.key"
assert_eq "$rc" 0 "--check: RSA-4096 record in three strings matches"
check ed "$K/example.test.ed.key"
assert_eq "$rc" 0 "--check: Ed25519 record matches"
assert_match "$out" 'k=ed25519' "... and names k=ed25519"

check wrong "$K/example.test.other.key"
assert_eq "$rc" 1 "--check: another key's record: exit 1"
assert_match "$out" '^MISMATCH: wrong\._domainkey\.example\.test: p= is another public key' "... says MISMATCH"
check edrsa "$K/example.test.ed.key"
assert_eq "$rc" 1 "--check: Ed25519 key behind a k=rsa record: exit 1"
assert_match "$out" 'k=rsa in DNS, but the key file holds an ed25519 key' "... says which types differ"
check missing "$K/example.test.good.key"
assert_eq "$rc" 1 "--check: no record: exit 1"
assert_match "$out" '^MISSING: no TXT record at missing\._domainkey\.example\.test' "... says MISSING"
check revoked "$K/example.test.good.key"
assert_eq "$rc" 1 "--check: revoked record (empty p=): exit 1"
assert_match "$out" 'revoked' "... says revoked"

chmod 0644 "$K/example.test.good.key"
check good "$K/example.test.good.key"
assert_eq "$rc" 1 "--check: a key file others may read is refused"
assert_match "$out" 'readable by group or others \(chmod 600\)' "... with the milter's message"
out=$("$KG" --check -d example.test -s good 2>&1)
assert_eq "$?" 2 "--check without -k: usage error (exit 2)"

done_testing
