#!/usr/bin/python3
"""malformed_policy.py - the policy-protocol half of the malformed-input
corpus (issue 13), straight at sluice-policyd.

  malformed_policy.py -s unix:/path/policyd.sock [--list]

Each case is one connection carrying one payload, and one expectation:
  close          the daemon closes the connection without a reply (a
                 protocol error: Postfix then logs a lookup error and
                 tempfails, which is what the README documents)
  answer REGEX   a well-formed reply whose action line matches REGEX
After every case a normal request on a new connection must be answered:
the daemon still serves. Prints one TAP-ish line per case,
"PASS name: ..." or "FAIL name: ...", and exits 1 if any failed.
The cases are data (CASES below): adding one is one line.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import policy_client as pc  # noqa: E402


def req(**over):
    """A complete RCPT request with some attributes replaced."""
    return pc.build({k: v for k, v in over.items()})


def raw(lines):
    """A request from raw attribute lines (bytes), ended by the empty line."""
    return b"".join(l + b"\n" for l in lines) + b"\n"


BASE = [b"request=smtpd_access_policy", b"protocol_state=RCPT",
        b"client_address=192.0.2.7", b"sender=a@example.org", b"recipient=b@example.test"]

# A normal answer of the test config: DUNNO, DEFER_IF_PERMIT, a 4xx/5xx
# or PREPEND; anything but a malformed reply.
ANY = r"^action=(DUNNO|OK|PREPEND .*|DEFER_IF_PERMIT .*|[45][0-9][0-9] .*)$"

CASES = [
    # --- framing: protocol errors, the connection is closed -------------
    ("nul-in-value", raw(BASE[:3] + [b"sender=a\x00b@example.org"] + BASE[4:]), "close"),
    ("control-char-in-value", raw(BASE[:3] + [b"sender=a\x01b@example.org"] + BASE[4:]), "close"),
    ("del-char-in-value", raw(BASE[:3] + [b"sender=a\x7fb@example.org"] + BASE[4:]), "close"),
    ("crlf-line-ends", b"".join(l + b"\r\n" for l in BASE) + b"\r\n", "close"),
    ("uppercase-name", raw([b"Request=smtpd_access_policy"] + BASE[1:]), "close"),
    ("line-without-equals", raw(BASE + [b"this line has no equals sign"]), "close"),
    ("empty-name", raw(BASE + [b"=value"]), "close"),
    ("name-with-dash", raw(BASE + [b"client-address=1.2.3.4"]), "close"),
    ("name-with-space", raw(BASE + [b"client address=1.2.3.4"]), "close"),
    ("no-request-attribute", raw(BASE[1:]), "close"),
    ("only-empty-line", b"\n", "close"),
    ("binary-high-bytes-name", raw(BASE + [b"\xff\xfe=1"]), "close"),
    ("line-of-64k", raw(BASE + [b"x=" + b"y" * 65536]), "close"),
    ("request-of-1000-attrs-of-200b", raw(BASE + [b"x%d=%s" % (i, b"v" * 200) for i in range(1000)]), "close"),
    # --- well-formed framing, odd values: answered ----------------------
    ("other-request-type", raw([b"request=junk_policy"] + BASE[1:]), "close"),
    ("unknown-protocol-state", req(protocol_state="BOGUS"), ANY),
    ("empty-protocol-state", req(protocol_state=""), ANY),
    ("utf8-sender", req(sender="j\u00fcrgen@b\u00fccher.example"), ANY),
    ("latin1-bytes-sender", raw(BASE[:3] + [b"sender=j\xfcrgen@example.org"] + BASE[4:]), ANY),
    ("duplicate-sender", raw(BASE + [b"sender=other@example.org"]), ANY),
    ("duplicate-recipient-x100", raw(BASE + [b"recipient=r%d@example.test" % i for i in range(100)]), ANY),
    ("huge-recipient-count", req(recipient_count="99999999999999999999999"), ANY),
    ("negative-size", req(size="-1"), ANY),
    ("size-not-a-number", req(size="12abc"), ANY),
    ("client-address-bad-octet", req(client_address="999.1.1.1"), ANY),
    ("client-address-empty", req(client_address=""), ANY),
    ("client-address-words", req(client_address="not an address"), ANY),
    ("client-address-v4-mapped", req(client_address="::ffff:192.0.2.7"), ANY),
    ("client-address-scoped-v6", req(client_address="fe80::1%eth0"), ANY),
    ("client-address-cidr", req(client_address="192.0.2.0/24"), ANY),
    ("client-name-4k", req(client_name="h" * 4000 + ".example"), ANY),
    ("helo-with-spaces", req(helo_name="my helo name [1.2.3.4]"), ANY),
    ("helo-8bit", raw(BASE + [b"helo_name=\xe4\xf6\xfc.example"]), ANY),
    # --- addresses of every awkward RFC 5321 form -----------------------
    ("sender-null", req(sender=""), ANY),
    ("sender-quoted-local", req(sender='"john doe"@example.org'), ANY),
    ("sender-quoted-at", req(sender='"a@b"@example.org'), ANY),
    ("sender-two-ats", req(sender="a@b@example.org"), ANY),
    ("sender-source-route", req(sender="@relay.example:user@example.org"), ANY),
    ("sender-ipv4-literal", req(sender="user@[192.0.2.1]"), ANY),
    ("sender-ipv6-literal", req(sender="user@[IPv6:2001:db8::1]"), ANY),
    ("sender-no-domain", req(sender="user"), ANY),
    ("sender-empty-domain", req(sender="user@"), ANY),
    ("sender-empty-local", req(sender="@example.org"), ANY),
    ("sender-65-char-local", req(sender="l" * 65 + "@example.org"), ANY),
    ("sender-300-char-domain", req(sender="u@" + ("d" * 60 + ".") * 5 + "example"), ANY),
    ("sender-1000-ats", req(sender="@" * 1000), ANY),
    ("sender-underscore-domain", req(sender="u@exa_mple.org"), ANY),
    ("sender-trailing-dot", req(sender="u@example.org."), ANY),
    ("sender-uppercase", req(sender="USER@EXAMPLE.ORG"), ANY),
    ("sender-plus-tag", req(sender="user+tag@example.org"), ANY),
    ("sender-batv", req(sender="prvs=1234567890=user@example.org"), ANY),
    ("sender-batv-truncated", req(sender="prvs=@example.org"), ANY),
    ("sender-srs0-garbage", req(sender="SRS0=x=y=@example.org"), ANY),
    ("sender-srs1-garbage", req(sender="SRS1==@example.org"), ANY),
    ("sender-verp", req(sender="list-bounces+user=example.test@example.org"), ANY),
    ("sender-backslashes", req(sender="a\\\\b@example.org"), ANY),
    ("recipient-postmaster-bare", req(recipient="postmaster"), ANY),
    ("recipient-two-ats", req(recipient="a@b@example.test"), ANY),
    ("recipient-empty", req(recipient=""), ANY),
    ("recipient-ipv6-literal", req(recipient="user@[IPv6:::1]"), ANY),
    ("recipient-srs-garbage", req(recipient="SRS0=zz=@example.test"), ANY),
    ("sasl-username-8bit", raw(BASE + [b"sasl_username=\xc3\xa9l\xc3\xa8ve", b"sasl_method=PLAIN"]), ANY),
    ("sasl-username-long", req(sasl_username="u" * 3000, sasl_method="PLAIN"), ANY),
]


def normal_answered():
    s = pc.connect()
    try:
        s.sendall(req())
        r, _ = pc.read_reply(s)
    finally:
        s.close()
    return pc.reply_ok(r)


def run_case(name, payload, expect):
    s = pc.connect()
    try:
        if expect == "close":
            state, data = pc.expect_close(s, payload, pc.TIMEOUT)
            if state != "closed" or data:
                return "FAIL %s: expected a close without reply, got %s %r" % (name, state, data[:120])
            verdict = "closed without a reply"
        else:
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass
            r, _ = pc.read_reply(s)
            if not pc.reply_ok(r):
                return "FAIL %s: no well-formed reply (%r)" % (name, r)
            first = r.split(b"\n", 1)[0].decode(errors="replace")
            if not re.match(expect, first):
                return "FAIL %s: reply %r does not match %s" % (name, first, expect)
            verdict = "answered %s" % first[:60]
    finally:
        s.close()
    if not normal_answered():
        return "FAIL %s: the daemon no longer answers a normal request" % name
    return "PASS %s: %s, still serving" % (name, verdict)


def main(argv):
    if "--list" in argv:
        for c in CASES:
            print(c[0])
        return 0
    if "-s" in argv:
        pc.ENDPOINT = argv[argv.index("-s") + 1]
    failed = 0
    for name, payload, expect in CASES:
        try:
            line = run_case(name, payload, expect)
        except OSError as e:
            line = "FAIL %s: %r" % (name, e)
        print(line)
        failed += line.startswith("FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
