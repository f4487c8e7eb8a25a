#!/usr/bin/python3
"""policy_limits.py - many-connection clients for sluice-policyd's limits.

usage: policy_limits.py -s ENDPOINT SCENARIO [ARGS...]

ENDPOINT is unix:/path or inet:host:port. The last line printed is PASS ...
or FAIL ...; exit status 0 on PASS.

Scenarios:
  burst N             open N connections as fast as possible, then one
                      request on each: every one must be answered
  hold N SECONDS      open N connections, print "held N", keep them silent
                      for SECONDS, then report how many the server closed
                      (always PASS if the connections could be made)
  lockout IDLE TRICKLE BOUND
                      open IDLE silent connections, then TRICKLE that write
                      half a request and then one byte every 0.3 s; then
                      five new connections, one after another, must each be
                      answered; then every trickling connection must be
                      closed by the server within BOUND seconds of its
                      first byte, while it keeps writing
"""
import socket
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from policy_client import build, raise_nofile  # noqa: E402

ENDPOINT = None


def connect(timeout=5.0):
    kind, _, rest = ENDPOINT.partition(":")
    if kind == "inet":
        host, _, port = rest.rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(rest if kind == "unix" else ENDPOINT)
    return s


def answer(s, timeout=5.0):
    """The reply to the request just sent on s, or None (closed, timeout)."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\n\n" not in buf:
            data = s.recv(4096)
            if not data:
                return None
            buf += data
    except OSError:
        return None
    return buf.decode(errors="replace")


def closed_by_server(s):
    """True if the server closed s (EOF or reset), without blocking."""
    s.setblocking(False)
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def sc_burst(args):
    n = int(args[0])
    raise_nofile(n)
    conns = [connect() for _ in range(n)]
    for s in conns:
        s.sendall(build())
    answered = sum(1 for s in conns if (answer(s) or "").startswith("action="))
    for s in conns:
        s.close()
    print("burst: %d of %d answered" % (answered, n))
    if answered != n:
        return "FAIL %d of %d connections unanswered" % (n - answered, n)
    return "PASS %d connections answered" % n


def sc_hold(args):
    n, seconds = int(args[0]), float(args[1])
    raise_nofile(n)
    conns = [connect() for _ in range(n)]
    print("held %d" % n, flush=True)
    time.sleep(seconds)
    closed = sum(1 for s in conns if closed_by_server(s))
    for s in conns:
        s.close()
    print("hold: the server closed %d of %d" % (closed, n))
    return "PASS held %d connections for %g s" % (n, seconds)


def sc_lockout(args):
    n_idle, n_trickle, bound = int(args[0]), int(args[1]), float(args[2])
    raise_nofile(n_idle + n_trickle)
    idle = [connect() for _ in range(n_idle)]
    half = build()[:60]
    trickle = []
    for _ in range(n_trickle):
        s = connect()
        s.sendall(half)
        trickle.append([s, time.monotonic(), None])	# socket, first byte, closed at
    time.sleep(0.5)	# let the server take them all in
    fresh = 0
    for _ in range(5):
        s = connect()
        try:
            s.sendall(build())
            if (answer(s) or "").startswith("action="):
                fresh += 1
        except OSError:
            pass
        s.close()
    print("lockout: %d of 5 new connections answered" % fresh)
    deadline = time.monotonic() + bound + 1
    while time.monotonic() < deadline and any(t[2] is None for t in trickle):
        for t in trickle:
            if t[2] is not None:
                continue
            if closed_by_server(t[0]):
                t[2] = time.monotonic()
                continue
            try:
                t[0].sendall(b"x")
            except OSError:
                t[2] = time.monotonic()
        time.sleep(0.3)
    late = [t for t in trickle if t[2] is None or t[2] - t[1] > bound]
    took = [round(t[2] - t[1], 1) for t in trickle if t[2] is not None]
    evicted = sum(1 for s in idle if closed_by_server(s))
    print("lockout: trickling connections closed after %s s" % took)
    print("lockout: %d of %d silent connections closed to make room" % (evicted, n_idle))
    for s in idle:
        s.close()
    for t in trickle:
        t[0].close()
    if fresh != 5:
        return "FAIL %d of 5 new connections unanswered" % (5 - fresh)
    if late:
        return "FAIL %d trickling connection(s) still open %g s after their first byte" % (
            len(late), bound)
    return "PASS new connections answered, half-written requests closed"


SCENARIOS = {"burst": sc_burst, "hold": sc_hold, "lockout": sc_lockout}


def main(argv):
    global ENDPOINT
    args = argv[1:]
    if len(args) >= 2 and args[0] == "-s":
        ENDPOINT = args[1]
        args = args[2:]
    if ENDPOINT is None or not args or args[0] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = SCENARIOS[args[0]](args[1:])
    except (OSError, ValueError, IndexError) as e:
        result = "FAIL %s: %s" % (args[0], e)
    print(result)
    return 0 if result.startswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
