#!/usr/bin/python3
"""load_check.py - count from the sinks what smtp_load.py counted from the
sending side: every accepted message must have been delivered, once per
recipient, to the recipients it was sent to.

  load_check.py RESULTS.json SINKDIR... [--tag TAG] [--any-rcpt]

Reads each smtp-sink -d file (one per delivered message; smtp-sink writes
the envelope as X-Mail-Args / X-Rcpt-Args) and its X-Load-Id header.
Prints one line:
  accepted=A delivered=D lost=L wrong_rcpt=W extra=E
(extra: delivered but not accepted: a tempfail after Postfix had queued
the message, which a real client's retry makes a duplicate, not a loss).
Exit 1 when lost or wrong_rcpt is not 0. --any-rcpt: do not compare
recipients (mail to an alias arrives for its targets, maybe in several
deliveries).
"""
import json
import os
import re
import sys

ID_RE = re.compile(rb"^X-Load-Id: (\S+)", re.M)
RCPT_RE = re.compile(rb"^X-Rcpt-Args: <([^>]*)>", re.M)


def main():
    args = sys.argv[1:]
    tag = None
    any_rcpt = "--any-rcpt" in args
    if any_rcpt:
        args.remove("--any-rcpt")
    if "--tag" in args:
        i = args.index("--tag")
        tag = args[i + 1]
        del args[i:i + 2]
    results = json.load(open(args[0]))
    delivered = {}
    for d in args[1:]:
        for name in os.listdir(d):
            data = open(os.path.join(d, name), "rb").read(65536)
            m = ID_RE.search(data)
            if not m:
                continue
            ident = m.group(1).decode()
            if tag and not ident.startswith(tag + "-"):
                continue
            r = RCPT_RE.search(data)
            delivered.setdefault(ident, []).append(r.group(1).decode() if r else "")
    accepted = set(results["accepted"])
    expect = None if any_rcpt else results.get("rcpt")
    lost = sorted(accepted - set(delivered))
    wrong = [i for i, rs in delivered.items() if expect and any(r not in expect for r in rs)]
    extra = sorted(set(delivered) - accepted)
    print(f"accepted={len(accepted)} delivered={len(set(delivered) & accepted)} "
          f"lost={len(lost)} wrong_rcpt={len(wrong)} extra={len(extra)}")
    if lost:
        print("lost: " + " ".join(lost[:20]))
    if wrong:
        print("wrong recipient: " + " ".join(wrong[:20]))
    sys.exit(1 if lost or wrong else 0)


if __name__ == "__main__":
    main()
