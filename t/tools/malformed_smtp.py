#!/usr/bin/python3
"""malformed_smtp.py - the SMTP half of the malformed-input corpus (issue
13): awkward messages through Postfix and both sluice daemons.

  malformed_smtp.py --server 127.0.0.1:25 --source 127.0.0.9 --sink DIR
                    --authserv mx.example.test [--list] [--only NAME]

The client speaks raw SMTP (so it can send NUL bytes, bare LF, 8-bit
headers and pipelined RCPT storms that smtplib would refuse or slow
down). Each case is one or more transactions from MAIL FROM to the final
dot; its expectation is "accepted": every transaction gets 250 after
DATA and its message reaches the sink (found by its X-Case-Id header)
with exactly one Authentication-Results field of our authserv-id that
parses (t/tools/authres.py). A 5xx, a hang, a lost message or an A-R that
does not parse fails the case. Prints "PASS name: ..." / "FAIL name: ..."
and exits 1 if any failed.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time

SINK = None
HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"


def headers(case, frm="x@sender.test", extra=b""):
    return (b"From: <" + frm.encode() + b">\r\nTo: <user@example.test>\r\n"
            b"Subject: malformed " + case.encode() + b"\r\n"
            b"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n"
            b"Message-ID: <" + case.encode() + b"@malformed.test>\r\n"
            b"X-Case-Id: " + case.encode() + b"\r\n" + extra)


def msg(case, extra=b"", body=b"body\r\n", frm="x@sender.test", blank=True):
    return headers(case, frm, extra) + (CRLF if blank else b"") + body


def mime_nested(depth):
    out = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n"
    body = b""
    for i in range(depth):
        body += b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1)
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\ninner\r\n" % depth
    return out, body


MIME_NESTED_HDR, MIME_NESTED_BODY = mime_nested(200)

# name -> (mail from, [recipients], data) or a list of such transactions.
CASES = {
    "headers-10000": ("x@sender.test", ["user@example.test"],
                      msg("headers-10000", b"".join(b"X-H%d: value %d\r\n" % (i, i) for i in range(10000)))),
    "header-without-colon": ("x@sender.test", ["user@example.test"],
                             msg("header-without-colon", b"This line is no header\r\nX-After: 1\r\n")),
    "header-colon-first": ("x@sender.test", ["user@example.test"], msg("header-colon-first", b": no name\r\n")),
    "header-name-8bit": ("x@sender.test", ["user@example.test"], msg("header-name-8bit", b"X-\xe4\xf6: v\r\n")),
    "nul-in-header": ("x@sender.test", ["user@example.test"], msg("nul-in-header", b"X-Nul: a\x00b\r\n")),
    "nul-in-body": ("x@sender.test", ["user@example.test"], msg("nul-in-body", body=b"a\x00b\x00\r\n" * 50)),
    "subject-latin1": ("x@sender.test", ["user@example.test"], msg("subject-latin1", b"X-Subject: Gr\xfc\xdfe\r\n")),
    "headers-utf8": ("x@sender.test", ["user@example.test"],
                     msg("headers-utf8", "X-Name: Jürgen Müller 日本語\r\nReply-To: Jürgen <j@sender.test>\r\n".encode())),
    "from-utf8-address": ("x@sender.test", ["user@example.test"],
                          msg("from-utf8-address", frm="j\u00fcrgen@sender.test")),
    "from-two-addresses": ("x@sender.test", ["user@example.test"],
                           headers("from-two-addresses", "a@sender.test>, <b@other.test") + CRLF + b"b\r\n"),
    "from-group-syntax": ("x@sender.test", ["user@example.test"],
                          b"From: undisclosed:;\r\nX-Case-Id: from-group-syntax\r\n\r\nb\r\n"),
    "from-missing": ("x@sender.test", ["user@example.test"], b"X-Case-Id: from-missing\r\nSubject: s\r\n\r\nb\r\n"),
    "mime-no-boundary": ("x@sender.test", ["user@example.test"],
                         msg("mime-no-boundary", b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
                             b"--\r\nnot really\r\n")),
    "mime-never-closed": ("x@sender.test", ["user@example.test"],
                          msg("mime-never-closed", b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n",
                              b"--zz\r\nContent-Type: text/plain\r\n\r\nopen\r\n")),
    "mime-nested-200": ("x@sender.test", ["user@example.test"],
                        msg("mime-nested-200", MIME_NESTED_HDR, MIME_NESTED_BODY)),
    "mime-bad-encoding": ("x@sender.test", ["user@example.test"],
                          msg("mime-bad-encoding", b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n",
                              b"!!!! not base64 ====\r\n")),
    "arc-garbage": ("x@sender.test", ["user@example.test"],
                    msg("arc-garbage", b"ARC-Seal: i=1; garbage;;; b=\xff\xfe\r\n"
                        b"ARC-Message-Signature: i=x; a=none; b=\r\n"
                        b"ARC-Authentication-Results: i=1; ((((\r\n")),
    "dkim-signature-binary": ("x@sender.test", ["user@example.test"],
                              msg("dkim-signature-binary", b"DKIM-Signature: \xff\xfe\x01\x02 v=1; d=\r\n")),
    "dkim-signature-x200": ("x@sender.test", ["user@example.test"],
                            msg("dkim-signature-x200", b"".join(
                                b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=s%d; h=from; bh=AAAA; b=BBBB\r\n" % i
                                for i in range(200)))),
    "dkim-signature-huge-b": ("x@sender.test", ["user@example.test"],
                              msg("dkim-signature-huge-b", b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=x; "
                                  b"h=from; bh=AAAA; b=" + b"A" * 200000 + b"\r\n")),
    # (its empty foreign A-R stays: only fields claiming our id go, so the
    # check counts our fields by name instead of parsing them all)
    "authres-forged-garbage": ("x@sender.test", ["user@example.test"],
                               msg("authres-forged-garbage", b"Authentication-Results: mx.example.test; ((( spf=\r\n"
                                   b"Authentication-Results: \r\n")),
    "header-line-50000": ("x@sender.test", ["user@example.test"],
                          msg("header-line-50000", b"X-Long: " + b"w" * 50000 + b"\r\n")),
    "header-folded-5000": ("x@sender.test", ["user@example.test"],
                           msg("header-folded-5000", b"X-Folded: a" + b"\r\n b" * 5000 + b"\r\n")),
    "empty-message": ("x@sender.test", ["user@example.test"], b""),
    "headers-no-body": ("x@sender.test", ["user@example.test"], msg("headers-no-body", blank=False, body=b"")),
    "bare-lf": ("x@sender.test", ["user@example.test"], msg("bare-lf").replace(CRLF, b"\n")),
    "bare-cr-in-header": ("x@sender.test", ["user@example.test"], msg("bare-cr-in-header", b"X-Cr: a\rb\r\n")),
    "dot-lines": ("x@sender.test", ["user@example.test"], msg("dot-lines", body=b".\r\n..\r\n.x\r\n")),
    # 100,000 recipients in 100 transactions of 1,000 (Postfix's
    # smtpd_recipient_limit), pipelined.
    "rcpt-100000": [("x@sender.test", ["r%d-%d@example.test" % (t, i) for i in range(1000)],
                     msg("rcpt-100000-%d" % t))
                    for t in range(int(os.environ.get("MALFORMED_RCPT_TRANSACTIONS", "100")))],
    # DNS answers of the wrong type or size (records in t_malformed.sh).
    "dns-spf-1000-bytes": ("x@big.dnsbad.test", ["user@example.test"], msg("dns-spf-1000-bytes", frm="x@big.dnsbad.test")),
    "dns-spf-include-mx-only": ("x@mxonly.dnsbad.test", ["user@example.test"],
                                msg("dns-spf-include-mx-only", frm="x@mxonly.dnsbad.test")),
    "dns-spf-cname-to-a": ("x@cname1.dnsbad.test", ["user@example.test"], msg("dns-spf-cname-to-a", frm="x@cname1.dnsbad.test")),
    "dns-spf-macros": ("x@macro.dnsbad.test", ["user@example.test"], msg("dns-spf-macros", frm="x@macro.dnsbad.test")),
    "dns-dmarc-many-records": ("x@manydmarc.dnsbad.test", ["user@example.test"],
                               msg("dns-dmarc-many-records", frm="x@manydmarc.dnsbad.test")),
    "dns-dmarc-cname-to-a": ("x@cnamedmarc.dnsbad.test", ["user@example.test"],
                             msg("dns-dmarc-cname-to-a", frm="x@cnamedmarc.dnsbad.test")),
    "dns-dkim-key-60-records": ("x@sender.test", ["user@example.test"],
                                msg("dns-dkim-key-60-records", b"DKIM-Signature: v=1; a=rsa-sha256; d=dnsbad.test; "
                                    b"s=many; c=relaxed/relaxed; h=from; bh=AAAA; b=BBBB\r\n")),
    "dns-dkim-key-garbage": ("x@sender.test", ["user@example.test"],
                             msg("dns-dkim-key-garbage", b"DKIM-Signature: v=1; a=rsa-sha256; d=dnsbad.test; "
                                 b"s=garbage; c=relaxed/relaxed; h=from; bh=AAAA; b=BBBB\r\n")),
    "dns-dkim-key-is-a": ("x@sender.test", ["user@example.test"],
                          msg("dns-dkim-key-is-a", b"DKIM-Signature: v=1; a=rsa-sha256; d=dnsbad.test; "
                              b"s=arecord; c=relaxed/relaxed; h=from; bh=AAAA; b=BBBB\r\n")),
}


class Conn:
    def __init__(self, server, source, timeout):
        host, port = server.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout,
                                          source_address=(source, 0))
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise OSError("connection closed by the server")
            self.buf += chunk
        l, self.buf = self.buf.split(b"\n", 1)
        return l.rstrip(b"\r")

    def reply(self):
        """One (multi-line) reply: (code, last line)."""
        while True:
            l = self.line()
            if len(l) < 4 or l[3:4] != b"-":
                return int(l[:3]), l.decode(errors="replace")

    def send(self, data):
        self.s.sendall(data)


def stuff(data):
    """Dot-stuffing and the final dot; bare LF left as the case wrote it."""
    lines = data.split(b"\n")
    out = b"\n".join((b"." + l) if l.startswith(b".") else l for l in lines)
    if not out.endswith(b"\n"):
        out += CRLF
    return out + b".\r\n"


def transaction(c, frm, rcpts, data):
    c.send(b"MAIL FROM:<" + frm.encode() + b">\r\n")
    code, text = c.reply()
    if code != 250:
        return code, "MAIL " + text, 0
    # RCPT storms go pipelined (Postfix offers PIPELINING), in chunks.
    accepted = 0
    last = ""
    for i in range(0, len(rcpts), 500):
        chunk = rcpts[i:i + 500]
        c.send(b"".join(b"RCPT TO:<" + r.encode() + b">\r\n" for r in chunk))
        for _ in chunk:
            code, last = c.reply()
            if code in (250, 251):
                accepted += 1
            elif code >= 500:
                return code, "RCPT " + last, accepted
    if accepted == 0:
        c.send(b"RSET\r\n")
        c.reply()
        return 450, "no recipient accepted: " + last, 0
    c.send(b"DATA\r\n")
    code, text = c.reply()
    if code != 354:
        return code, "DATA " + text, accepted
    c.send(stuff(data))
    code, text = c.reply()
    return code, text, accepted


class Sink:
    """The sink directory, indexed by X-Case-Id (each file read once)."""
    ID = re.compile(rb"^X-Case-Id: (\S+)\r?$", re.M)

    def __init__(self, path):
        self.path = path
        self.seen = set()
        self.by_id = {}

    def scan(self):
        for name in os.listdir(self.path):
            if name in self.seen:
                continue
            p = os.path.join(self.path, name)
            try:
                st = os.stat(p)
                if time.time() - st.st_mtime < 0.2:
                    continue    # smtp-sink may still be writing it
                data = open(p, "rb").read()
            except OSError:
                continue
            self.seen.add(name)
            m = self.ID.search(data)
            if m:
                self.by_id.setdefault(m.group(1).decode(), p)

    def find(self, case_id, deadline):
        while True:
            if case_id in self.by_id:
                return self.by_id[case_id]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)
            self.scan()


def own_authres_count(path, authserv):
    data = open(path, "rb").read().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return len(re.findall(rb"^Authentication-Results:[ \t]*" + re.escape(authserv.encode()) + rb"[ \t]*;",
                          data, re.M | re.I))


def authres_ok(path, authserv, lenient=False):
    if lenient:
        n = own_authres_count(path, authserv)
        return n == 1, "%d A-R field(s) of ours" % n
    r = subprocess.run([sys.executable, os.path.join(HERE, "authres.py"), path, authserv],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "A-R does not parse: " + r.stderr.strip()[:200]
    if "count=1" not in r.stdout.split():
        return False, "not exactly one A-R of ours: " + r.stdout.split("\n")[0]
    return True, r.stdout.split("\n")[2] if len(r.stdout.split("\n")) > 2 else ""


def run_case(args, name, spec):
    transactions = spec if isinstance(spec, list) else [spec]
    c = Conn(args.server, args.source, args.timeout)
    try:
        code, _ = c.reply()
        if code != 220:
            return "FAIL %s: greeting %d" % (name, code)
        c.send(b"EHLO malformed.test\r\n")
        code, _ = c.reply()
        ids, total_rcpt = [], 0
        for t, (frm, rcpts, data) in enumerate(transactions):
            code, text, accepted = transaction(c, frm, rcpts, data)
            if code != 250:
                return "FAIL %s: transaction %d: %s" % (name, t, text)
            total_rcpt += accepted
            ids.append(name if len(transactions) == 1 else "%s-%d" % (name, t))
        c.send(b"QUIT\r\n")
    finally:
        c.s.close()
    if name == "empty-message":
        return "PASS %s: accepted (250)" % name
    deadline = time.monotonic() + args.wait
    note = ""
    for cid in ids:
        p = SINK.find(cid, deadline)
        if p is None:
            return "FAIL %s: accepted but %s not delivered within %ds" % (name, cid, args.wait)
        good, note = authres_ok(p, args.authserv, lenient=name == "authres-forged-garbage")
        if not good:
            return "FAIL %s: %s (%s)" % (name, note, p)
    extra = " %d recipients accepted" % total_rcpt if len(transactions) > 1 else ""
    return "PASS %s: accepted, delivered, one A-R that parses%s (%s)" % (name, extra, note.strip()[:80])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="127.0.0.1:25")
    ap.add_argument("--source", default="127.0.0.9")
    ap.add_argument("--sink")
    ap.add_argument("--authserv", default="mx.example.test")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--wait", type=int, default=90)
    ap.add_argument("--only")
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    global SINK
    SINK = Sink(args.sink)
    failed = 0
    for name, spec in CASES.items():
        if (args.only and name != args.only) or name in args.skip:
            continue
        try:
            line = run_case(args, name, spec)
        except OSError as e:
            line = "FAIL %s: %r" % (name, e)
        print(line, flush=True)
        failed += line.startswith("FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
