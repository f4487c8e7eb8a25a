#!/bin/bash
# t_srs.sh - SRS in sluice-milter through a real Postfix: a copy an alias
# sends to an external target leaves with an SRS0 envelope sender that
# Debian's postsrsd (not our code) reverses to the original sender; a
# bounce to that address is accepted and delivered back to the original
# sender; a tampered hash, an expired time stamp (made by an independent
# Python HMAC over the lowercased fields, as libsrs2 does) and a malformed SRS address get 550 5.1.1 at RCPT; a
# message with local and external targets is split: the local copy keeps
# the sender, the external one is re-injected with the SRS sender; with the
# re-injection listener down the whole message is tempfailed.
set -u
. "$(dirname "$0")/../lib.sh"

HARNESS_NO_POLICYD=1
SECRET=t-srs-secret-$$
harness_config() {
	printf '%s\n' "$SECRET" >"$T_STATE/srs.secret"
	chmod 0644 "$T_STATE/srs.secret"
	HARNESS_MILTER_EXTRA="srs = { domain = \"example.test\"; secret_file = \"$T_STATE/srs.secret\"; reinject = \"${REINJECT:-inet:127.0.0.1:10026}\"; };" \
		harness_default_config
}
# the re-injection listener: no milters, no address mappings (contrib/sluice-aliases.cf)
HARNESS_MASTER_CF_EXTRA='127.0.0.1:10026 inet n - n - - smtpd
  -o smtpd_milters=
  -o receive_override_options=no_address_mappings
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_mynetworks,reject'

trap 'harness_stop "$HARNESS_NAME"' EXIT
command -v postsrsd >/dev/null || bail_out "postsrsd not installed (tools/deps.sh)"
harness_start "sluice-t-srs-$$" || bail_out "harness did not start"

redis_cli SADD sluice:alias:ceo@example.test boss@gmail.test >/dev/null
redis_cli SADD sluice:alias:team@example.test anna@example.test boss@gmail.test >/dev/null
sleep 1.2

# postsrsd in the namespace, same secret and domain, as the reference
in_ns postsrsd -s"$T_STATE/srs.secret" -dexample.test -l127.0.0.1 -f10001 -r10002 -4 \
	-unobody -p"$T_STATE/postsrsd.pid" -D
sleep 0.5
postsrsd_get() {	# PORT ADDRESS: postsrsd's table answer
	in_ns "$T_PY" -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(('get ' + sys.argv[2] + '\n').encode())
print(s.recv(1000).decode().strip())" "$@"
}
stop_postsrsd() { [ -f "$T_STATE/postsrsd.pid" ] && kill "$(cat "$T_STATE/postsrsd.pid")" 2>/dev/null; }
trap 'stop_postsrsd; harness_stop "$HARNESS_NAME"' EXIT

# --- forward: an external target gets the SRS sender -------------------------
subj="srs forward $$"
out=$(send_mail --local-interface 127.0.0.9 --from alice@sender.test --to ceo@example.test \
	--header "Subject: $subj")
assert_match "$out" '250 2\.0\.0 Ok: queued' "ceo@: accepted"
qid=$(queue_id_of "$out")
if f=$(wait_delivered internet "^Subject: $subj\$"); then
	ok "ceo@ -> boss@gmail.test relayed to the internet sink"
	srs=$(sed -n 's/^X-Mail-Args: <\([^>]*\)>.*/\1/p' "$f")
	assert_match "$srs" '^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.test=alice@example\.test$' \
		"envelope sender is SRS0=HHHH=TT=sender.test=alice@example.test"
	assert_eq "$(postsrsd_get 10002 "$srs")" "200 alice@sender.test" "postsrsd reverses it to the original sender"
	assert_eq "$(postsrsd_get 10001 alice@sender.test)" "200 $srs" "postsrsd writes the very same address"
else
	not_ok "ceo@ -> boss@gmail.test relayed to the internet sink"
	srs=
fi
assert_match "$(milter_log_grep "$qid: ")" "srs=alice@sender\.test->SRS0.[A-Za-z0-9+/]{4}.[A-Z2-7]{2}.sender\.test.alice@example\.test" "log: srs=<old>-><new>"

# --- the bounce to it goes back to the original sender -----------------------
subj="srs bounce $$"
out=$(send_mail --local-interface 127.0.0.9 --from '<>' --to "$srs" --header "Subject: $subj")
assert_match "$out" '250 2\.0\.0 Ok: queued' "bounce to the SRS address: accepted"
if f=$(wait_delivered internet "^Subject: $subj\$"); then
	assert_match "$(grep '^X-Rcpt-Args:' "$f")" '^X-Rcpt-Args: <alice@sender\.test>' \
		"the bounce is delivered to alice@sender.test"
	assert_match "$(grep '^X-Mail-Args:' "$f")" '^X-Mail-Args: <>' "the bounce keeps the null sender"
else
	not_ok "the bounce is delivered to alice@sender.test"
fi
assert_eq "$(sink_count internal "^Subject: $subj\$")" 0 "nothing of the bounce stays here"

# --- invalid SRS recipients: 550 5.1.1 at RCPT -------------------------------
bad=$(printf '%s' "$srs" | sed 's/^SRS0=\(.\)/SRS0=\1\1/; s/^SRS0=\(....\)./SRS0=\1/')
[ "$bad" != "$srs" ] || bad="SRS0=xxxx${srs#SRS0=????}"
out=$(send_mail --local-interface 127.0.0.9 --from '<>' --to "$bad" --quit-after RCPT)
assert_match "$out" '<\*\* +550 5\.1\.1 ' "tampered hash: 550 5.1.1 ($bad)"
expired=$("$T_PY" - "$SECRET" <<'EOF2'
import base64, hashlib, hmac, sys, time
b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
d = (int(time.time()) // 86400 - 30) % 1024
ts = b32[d >> 5 & 31] + b32[d & 31]
h = base64.b64encode(hmac.new(sys.argv[1].encode(), (ts + "sender.test" + "alice").lower().encode(),
                              hashlib.sha1).digest()).decode()[:4]
print("SRS0=%s=%s=sender.test=alice@example.test" % (h, ts))
EOF2
)
out=$(send_mail --local-interface 127.0.0.9 --from '<>' --to "$expired" --quit-after RCPT)
assert_match "$out" '<\*\* +550 5\.1\.1 .*expired' "30-day-old time stamp (valid hash): 550 5.1.1 expired"
out=$(send_mail --local-interface 127.0.0.9 --from '<>' --to "SRS0=abc@example.test" --quit-after RCPT)
assert_match "$out" '<\*\* +550 5\.1\.1 ' "malformed SRS0: 550 5.1.1"
check "log: srs=invalid with the reason" milter_log_grep 'srs=invalid to=<.*reason=SRS address expired' 5

# --- local + external at once: split, the external copy re-injected with SRS --
subj="srs mixed $$"
out=$(send_mail --local-interface 127.0.0.9 --from alice@sender.test --to team@example.test \
	--header "Subject: $subj" --body "line one
.line starting with a dot
end")
assert_match "$out" '250 2\.0\.0 Ok: queued' "mixed: accepted"
qid=$(queue_id_of "$out")
if f1=$(wait_delivered internal "^Subject: $subj\$"); then
	assert_match "$(grep '^X-Rcpt-Args:' "$f1")" '^X-Rcpt-Args: <anna@example\.test>' "mixed: the local target got it"
	assert_eq "$(grep -c '^X-Rcpt-Args:' "$f1")" 1 "mixed: the local copy has the local target only"
	assert_match "$(grep '^X-Mail-Args:' "$f1")" '<alice@sender\.test>' "mixed: the local copy keeps the original sender"
else
	not_ok "mixed: the local target got it"
fi
if f2=$(wait_delivered internet "^Subject: $subj\$"); then
	assert_match "$(grep '^X-Rcpt-Args:' "$f2")" '^X-Rcpt-Args: <boss@gmail\.test>' "mixed: the external target got it"
	srs2=$(sed -n 's/^X-Mail-Args: <\([^>]*\)>.*/\1/p' "$f2")
	assert_eq "$(postsrsd_get 10002 "$srs2")" "200 alice@sender.test" "mixed: the external copy has the SRS sender ($srs2)"
	check "mixed: the body survived (dot-stuffing)" grep -q '^\.line starting with a dot' "$f2"
	assert_eq "$(grep -c "^Subject: $subj\$" "$f2")" 1 "mixed: headers copied once"
else
	not_ok "mixed: the external target got it"
fi
assert_eq "$(sink_count internet "^Subject: $subj\$")" 1 "mixed: one external copy"
assert_match "$(milter_log_grep "$qid: ")" "srs_copy=1" "mixed: log says one SRS copy was re-injected"

# --- the re-injection listener down: the whole message is tempfailed ----------
REINJECT=inet:127.0.0.1:10099
harness_restart_sluice || bail_out "milter did not restart"
sleep 1.2
subj="srs mixed down $$"
out=$(send_mail --local-interface 127.0.0.9 --from alice@sender.test --to team@example.test \
	--header "Subject: $subj")
assert_match "$out" '<\*\* +4[0-9][0-9] ' "listener down: tempfail at end of DATA (nothing lost, client retries)"
sleep 1
assert_eq "$(sink_count internal "^Subject: $subj\$")$(sink_count internet "^Subject: $subj\$")" 00 \
	"listener down: no copy delivered anywhere"
check "log: reinject-failed" milter_log_grep 'alias_error=reinject-failed' 5

done_testing
