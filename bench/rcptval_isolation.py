#!/usr/bin/python3
"""rcptval_isolation.py - latency of requests that need no dead server
while others wait on one (bench/rcptval-isolation.sh runs it).

  rcptval_isolation.py SOCKET SECONDS FG_CONNS BG_CONNS

FG_CONNS connections send, one after another, RCPT requests whose answer
needs no internal server: a sluice mailbox (no Redis) and a recipient
cached in Redis (one round trip), alternating. BG_CONNS connections send
requests for new recipients of dead.test, whose internal server accepts
and says nothing. Prints per-connection and overall p50/p99/max of the
foreground requests (ms), and how the background requests were answered.
"""
import socket
import sys
import threading
import time


def request(rcpt, n):
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            "client_address=192.0.2.%d\nclient_name=unknown\nreverse_client_name=unknown\n"
            "helo_name=bench.test\nsender=bench@nowhere.test\nrecipient=%s\n"
            "instance=b%d\nqueue_id=\n\n" % (n % 250 + 1, rcpt, n)).encode()


def ask(s, f, data):
    s.sendall(data)
    reply = b""
    while not reply.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed")
        reply += chunk
    return reply.decode()


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def foreground(path, until, out, idx):
    s = connect(path)
    lat, n, bad = [], 0, 0
    while time.monotonic() < until:
        rcpt = "known@example.test" if n % 2 == 0 else "cached@live.test"
        t0 = time.perf_counter()
        r = ask(s, None, request(rcpt, n))
        lat.append((time.perf_counter() - t0) * 1000)
        if "DUNNO" not in r:
            bad += 1
        n += 1
    out[idx] = (lat, bad)


def background(path, until, out, idx):
    s = connect(path)
    codes, n = {}, 0
    while time.monotonic() < until:
        r = ask(s, None, request("u%d.%d@dead.test" % (idx, n), n))
        code = r.split("action=", 1)[1].split()[0]
        codes[code] = codes.get(code, 0) + 1
        n += 1
    out[idx] = codes


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


def main():
    path, secs, fg, bg = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    until = time.monotonic() + secs
    fo, bo = [None] * fg, [None] * bg
    ts = [threading.Thread(target=background, args=(path, until, bo, i)) for i in range(bg)]
    ts += [threading.Thread(target=foreground, args=(path, until, fo, i)) for i in range(fg)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    every = []
    worst99 = 0.0
    for i, (lat, bad) in enumerate(fo):
        every += lat
        worst99 = max(worst99, pct(lat, 0.99))
        print("fg conn %d: %d requests, p50 %.3f ms, p99 %.3f ms, max %.3f ms, not DUNNO %d"
              % (i, len(lat), pct(lat, 0.5), pct(lat, 0.99), max(lat), bad))
    codes = {}
    for c in bo:
        for k, v in c.items():
            codes[k] = codes.get(k, 0) + v
    print("background (dead.test) answers: %s" % codes)
    print("RESULT fg_requests=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f worst_conn_p99_ms=%.3f bad=%d"
          % (len(every), pct(every, 0.5), pct(every, 0.99), max(every), worst99,
             sum(b for _, b in fo)))


if __name__ == "__main__":
    main()
