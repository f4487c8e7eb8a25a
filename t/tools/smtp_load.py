#!/usr/bin/python3
"""smtp_load.py - send numbered messages through an SMTP server, keep the
fate of each one, so that a fault test can count from the sending side.

  smtp_load.py --server 127.0.0.1:25 --source 127.0.0.9 --count 400
               --sessions 4 --from 'load{n}@sender.test' --to user@example.test
               --tag run1 --out results.json [--per-session 20] [--size 2048]
               [--helo load.test] [--stop-file PATH] [--rate MSGS_PER_S]

Each message carries "X-Load-Id: TAG-N" and goes to the --to recipients
(repeatable; "{n}" in --from or --to is replaced by N modulo --senders).
A session sends up to --per-session messages and reconnects. --rate caps
the messages per second of all sessions together (a soak runs at a set
fraction of the maximum). The fate of
a message is the server's last word on it:
  accepted  250 after DATA (every recipient accepted)
  tempfail  a 4xx at any stage, or a connection that broke (a client retries)
  reject    a 5xx at any stage (a fault test fails on one)
results.json: {"sent": N, "accepted": [ids], "tempfail": {id: reason},
"reject": {id: reason}, "seconds": T}. The summary also goes to stdout as
one line: "sent=N accepted=A tempfail=T reject=R seconds=S".
A message refused at RCPT for one recipient but accepted for another is
"reject" (partial delivery is not what a fault test expects to see).
"""
import argparse
import json
import os
import smtplib
import socket
import threading
import time


def build_message(ident, sender, rcpts, size):
    body_line = "x" * 70 + "\r\n"
    lines = [
        f"From: <{sender}>",
        f"To: {', '.join('<' + r + '>' for r in rcpts)}",
        f"Subject: load {ident}",
        f"Message-ID: <{ident}@load.test>",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        f"X-Load-Id: {ident}",
        "",
    ]
    head = "\r\n".join(lines) + "\r\n"
    body = body_line * max(1, (size - len(head)) // len(body_line))
    return (head + body).encode()


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = []
        self.tempfail = {}
        self.reject = {}

    def record(self, ident, fate, why=""):
        with self.lock:
            if fate == "accepted":
                self.accepted.append(ident)
            elif fate == "tempfail":
                self.tempfail[ident] = why
            else:
                self.reject[ident] = why


def fate_of(code):
    return "tempfail" if 400 <= code < 500 else "reject"


def send_one(smtp, ident, sender, rcpts, size, results):
    """Returns False when the connection is no longer usable."""
    code, msg = smtp.mail(sender)
    if code != 250:
        results.record(ident, fate_of(code), f"MAIL {code} {msg.decode(errors='replace')}")
        smtp.rset()
        return True
    worst = None
    for r in rcpts:
        code, msg = smtp.rcpt(r)
        if code not in (250, 251):
            why = f"RCPT {code} {msg.decode(errors='replace')}"
            if worst is None or fate_of(code) == "reject":
                worst = (fate_of(code), why)
    if worst is not None:
        results.record(ident, *worst)
        smtp.rset()
        return True
    code, msg = smtp.data(build_message(ident, sender, rcpts, size))
    if code == 250:
        results.record(ident, "accepted")
    else:
        results.record(ident, fate_of(code), f"DATA {code} {msg.decode(errors='replace')}")
        smtp.rset()
    return True


def session_worker(args, queue, results):
    host, port = args.server.rsplit(":", 1)
    while True:
        batch = queue.take(args.per_session)
        if not batch:
            return
        smtp = None
        try:
            smtp = smtplib.SMTP(host, int(port), local_hostname=args.helo,
                                source_address=(args.source, 0), timeout=args.timeout)
            code, _ = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"EHLO refused")
            while batch:
                n = batch[0]
                queue.pace(n)
                ident = f"{args.tag}-{n}"
                sender = args.sender.replace("{n}", str(n % args.senders))
                rcpts = [r.replace("{n}", str(n % args.senders)) for r in args.to]
                send_one(smtp, ident, sender, rcpts, args.size, results)
                batch.pop(0)
            smtp.quit()
        except smtplib.SMTPResponseException as e:
            # A 421 or a refused greeting: the rest of this batch is tempfailed.
            for n in batch:
                results.record(f"{args.tag}-{n}", fate_of(e.smtp_code),
                               f"session {e.smtp_code} {e.smtp_error!r}")
        except (OSError, smtplib.SMTPException) as e:
            for n in batch:
                results.record(f"{args.tag}-{n}", "tempfail", f"session {e!r}")
        finally:
            if smtp is not None:
                try:
                    smtp.close()
                except OSError:
                    pass


class Numbers:
    def __init__(self, count, stop_file, rate):
        self.next = 0
        self.count = count
        self.stop_file = stop_file
        self.rate = rate
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def take(self, k):
        with self.lock:
            if self.stop_file and os.path.exists(self.stop_file):
                return []
            hi = min(self.count, self.next + k)
            out = list(range(self.next, hi))
            self.next = hi
        return out

    def pace(self, n):
        """With --rate, wait until message n is due (start + n / rate)."""
        if self.rate:
            wait = self.start + n / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="127.0.0.1:25")
    ap.add_argument("--source", default="127.0.0.9")
    ap.add_argument("--helo", default="load.test")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--per-session", type=int, default=20)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--from", dest="sender", default="load{n}@sender.test")
    ap.add_argument("--to", action="append", required=True)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--tag", default="load")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--stop-file")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    socket.setdefaulttimeout(args.timeout)
    results = Results()
    numbers = Numbers(args.count, args.stop_file, args.rate)
    start = time.monotonic()
    threads = [threading.Thread(target=session_worker, args=(args, numbers, results))
               for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    sent = len(results.accepted) + len(results.tempfail) + len(results.reject)
    with open(args.out, "w") as f:
        json.dump({"sent": sent, "accepted": sorted(results.accepted), "rcpt": args.to,
                   "tempfail": results.tempfail, "reject": results.reject,
                   "seconds": round(seconds, 2)}, f)
    print(f"sent={sent} accepted={len(results.accepted)} tempfail={len(results.tempfail)} "
          f"reject={len(results.reject)} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
