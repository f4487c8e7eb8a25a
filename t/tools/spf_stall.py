#!/usr/bin/python3
"""spf_stall.py - does a slow SPF lookup stall other policy requests?

usage: spf_stall.py SOCKET SLOW_DOMAIN N_SLOW N_FAST

Opens N_SLOW connections and sends on each a request whose sender is in
SLOW_DOMAIN (whose name server never answers), all at once. Then, on one
more connection, sends N_FAST requests one after another for senders
whose SPF is answered at once. PASS when every fast request is answered
while the slow ones are all still unanswered (the order of events, not a
timing), and every slow one is answered in the end. The latencies are
printed for the log, never judged.
"""
import socket
import sys
import time


def request(client, sender, rcpt, instance):
    attrs = [
        ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"), ("client_address", client),
        ("client_name", "unknown"), ("reverse_client_name", "unknown"),
        ("helo_name", "helo.nowhere.test"), ("sender", sender),
        ("recipient", rcpt), ("instance", instance), ("queue_id", ""),
    ]
    return "".join("%s=%s\n" % kv for kv in attrs).encode() + b"\n"


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(path)
    return s


def read_reply(s):
    buf = b""
    while not buf.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return buf.decode().strip()


def main(argv):
    path, slow_domain, n_slow, n_fast = argv[1], argv[2], int(argv[3]), int(argv[4])
    slow = []
    for i in range(n_slow):
        s = connect(path)
        s.sendall(request("127.0.%d.%d" % (100 + i // 200, 1 + i % 200),
                          "u%d@%s" % (i, slow_domain), "rcpt@example.test", "slow%d" % i))
        slow.append(s)
    time.sleep(0.3)	# let the slow ones reach the SPF lookups
    fast = connect(path)
    worst = 0.0
    for i in range(n_fast):
        t0 = time.monotonic()
        fast.sendall(request("127.0.99.%d" % (1 + i), "f%d@nowhere.test" % i,
                             "rcpt@example.test", "fast%d" % i))
        r = read_reply(fast)
        worst = max(worst, time.monotonic() - t0)
        if not r.startswith("action="):
            print("FAIL fast request %d: %r" % (i, r))
            return 1
    # Were the slow ones still waiting? A slow reply already there means
    # the fast ones waited behind it.
    early = 0
    for s in slow:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK):
                early += 1
        except BlockingIOError:
            pass
        s.setblocking(True)
    t0 = time.monotonic()
    answers = []
    for s in slow:
        answers.append(read_reply(s))
        s.close()
    print("fast: %d answered, slowest %.3f s; slow: %d answered %.1f s later"
          % (n_fast, worst, len(answers), time.monotonic() - t0))
    for a in set(answers):
        print("slow answer: %s" % a)
    if early:
        print("FAIL %d slow request(s) were answered before the fast ones were done" % early)
        return 1
    print("PASS fast requests answered while SPF waited")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
