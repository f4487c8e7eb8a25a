#!/usr/bin/python3
"""policy_client.py - a Postfix policy delegation protocol client for tests.

usage: policy_client.py [-s ENDPOINT] [-t TIMEOUT] SCENARIO [ARGS...]

ENDPOINT is unix:/path, inet:host:port or a plain socket path.

Scenarios (each prints what it saw; the last line is PASS ... or FAIL ...;
exit status 0 on PASS):
  request [name=value ...]  one request (Postfix-like defaults, overridden by
                            the arguments; !name removes one); prints the reply
  normal                    one request; the reply must be "action=DUNNO" and
                            an empty line, nothing else
  many N                    N requests, one after another, on one connection
  pipelined N               N requests in one write on one connection
  split                     one request written a byte at a time
  concurrent N              N connections open at once, then one request on
                            each; every one must be answered
  longline BYTES            one line of BYTES bytes and no newline: the server
                            must close the connection without a reply
  garbage BYTES             random bytes with NULs: closed without a reply
  norequest                 a request without request=: closed without a reply
  midrequest                half a request, then we close (always PASS if the
                            connection could be made)
  oversized N               a request with N extra attributes: closed without
                            a reply
"""
import os
import random
import resource
import selectors
import socket
import sys
import time

DEFAULTS = [
    ("request", "smtpd_access_policy"),
    ("protocol_state", "RCPT"),
    ("protocol_name", "ESMTP"),
    ("client_address", "127.0.0.9"),
    ("client_name", "mail.sender.test"),
    ("client_port", "40000"),
    ("reverse_client_name", "mail.sender.test"),
    ("server_address", "127.0.0.1"),
    ("server_port", "25"),
    ("helo_name", "mail.sender.test"),
    ("sender", "alice@sender.test"),
    ("recipient", "user@example.test"),
    ("recipient_count", "0"),
    ("queue_id", ""),
    ("instance", "1a2b.5f3c2d1e.9a8b7.0"),
    ("size", "0"),
    ("etrn_domain", ""),
    ("stress", ""),
    ("sasl_method", ""),
    ("sasl_username", ""),
    ("sasl_sender", ""),
    ("ccert_subject", ""),
    ("ccert_issuer", ""),
    ("ccert_fingerprint", ""),
    ("ccert_pubkey_fingerprint", ""),
    ("encryption_protocol", ""),
    ("encryption_cipher", ""),
    ("encryption_keysize", "0"),
    ("policy_context", ""),
    ("compatibility_level", "3.6"),
    ("mail_version", "3.7.11"),
]

ENDPOINT = "/run/sluice/policyd.sock"
TIMEOUT = 5.0


def build(overrides=None, drop=()):
    attrs = dict(DEFAULTS)
    for k, v in (overrides or {}).items():
        attrs[k] = v
    for k in drop:
        attrs.pop(k, None)
    return "".join("%s=%s\n" % kv for kv in attrs.items()).encode() + b"\n"


def connect(timeout=None):
    ep = ENDPOINT
    if ep.startswith("inet:"):
        host, _, port = ep[5:].rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)),
                                     timeout=timeout or TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    if ep.startswith("unix:"):
        ep = ep[5:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout or TIMEOUT)
    s.connect(ep)
    return s


def read_reply(s, buf=b""):
    """Read up to the empty line that ends a reply. Returns (reply, rest);
    reply is None on EOF before a complete reply."""
    while b"\n\n" not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None, buf
        buf += chunk
    i = buf.index(b"\n\n") + 2
    return buf[:i], buf[i:]


def reply_ok(r):
    """A well-formed reply: action=... line(s) ending with an empty line."""
    return r is not None and r.startswith(b"action=") and r.endswith(b"\n\n")


def expect_close(s, payload, timeout):
    """Send payload (the server may close while we send), then wait for the
    server to close. Returns (state, data): state is 'closed' or 'open'."""
    data = b""
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    except socket.timeout:
        return "open (send blocked for %.0fs)" % s.gettimeout(), data
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "open", data
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return "open", data
        except ConnectionResetError:
            return "closed", data
        if not chunk:
            return "closed", data
        data += chunk


def closed_without_reply(name, payload):
    s = connect()
    state, data = expect_close(s, payload, TIMEOUT)
    s.close()
    print("%s: sent %d bytes, connection %s, reply %r" % (name, len(payload), state, data[:200]))
    if state == "closed" and not data:
        return "PASS %s: closed without a reply" % name
    if state != "closed":
        return "FAIL %s: connection still open after %.0fs" % (name, TIMEOUT)
    return "FAIL %s: closed, but after a reply %r" % (name, data[:200])


def sc_request(args):
    over, drop = {}, []
    for a in args:
        if a.startswith("!"):
            drop.append(a[1:])
        else:
            k, _, v = a.partition("=")
            over[k] = v
    s = connect()
    s.sendall(build(over, drop))
    r, _ = read_reply(s)
    s.close()
    if r is None:
        return "FAIL request: no reply (connection closed)"
    sys.stdout.write(r.decode("utf-8", "replace"))
    return "PASS request" if reply_ok(r) else "FAIL request: malformed reply %r" % r


def sc_normal(_args):
    s = connect()
    s.sendall(build())
    r, rest = read_reply(s)
    # Nothing may follow the reply.
    s.settimeout(0.2)
    try:
        extra = s.recv(4096)
    except socket.timeout:
        extra = b""
    s.close()
    print("normal: reply %r" % r)
    if r is None:
        return "FAIL normal: no reply"
    if r.lower() != b"action=dunno\n\n" or rest or extra:
        return "FAIL normal: expected b'action=DUNNO\\n\\n', got %r + %r" % (r, rest + extra)
    return "PASS normal: action=DUNNO and an empty line"


def sc_many(args):
    n = int(args[0]) if args else 100
    s = connect()
    buf = b""
    t0 = time.monotonic()
    for i in range(n):
        s.sendall(build({"recipient": "many%d@example.test" % i,
                         "instance": "many.%d" % i}))
        r, buf = read_reply(s, buf)
        if not reply_ok(r):
            s.close()
            return "FAIL many: request %d of %d: reply %r" % (i + 1, n, r)
    s.close()
    dt = time.monotonic() - t0
    print("many: %d requests in %.3fs (%.0f/s)" % (n, dt, n / dt if dt else 0))
    return "PASS many: %d requests answered on one connection" % n


def sc_pipelined(args):
    n = int(args[0]) if args else 10
    s = connect()
    s.sendall(b"".join(build({"instance": "pipe.%d" % i}) for i in range(n)))
    buf = b""
    for i in range(n):
        r, buf = read_reply(s, buf)
        if not reply_ok(r):
            s.close()
            return "FAIL pipelined: reply %d of %d: %r" % (i + 1, n, r)
    s.close()
    return "PASS pipelined: %d requests in one write, %d replies" % (n, n)


def sc_split(_args):
    s = connect()
    for b in build():
        s.sendall(bytes([b]))
        time.sleep(0.0005)
    r, _ = read_reply(s)
    s.close()
    print("split: reply %r" % r)
    return "PASS split: answered" if reply_ok(r) else "FAIL split: reply %r" % r


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            except (ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sc_concurrent(args):
    n = int(args[0]) if args else 1000
    lim = raise_nofile(n)
    socks = []
    t0 = time.monotonic()
    try:
        for i in range(n):
            socks.append(connect(timeout=20))
    except OSError as e:
        for s in socks:
            s.close()
        return "FAIL concurrent: connection %d of %d failed: %s (RLIMIT_NOFILE %d)" % (
            len(socks) + 1, n, e, lim)
    t1 = time.monotonic()
    print("concurrent: %d connections open in %.2fs" % (n, t1 - t0))
    pid = os.environ.get("POLICYD_PID")
    if pid:
        try:
            print("concurrent: the daemon holds %d file descriptors"
                  % len(os.listdir("/proc/%s/fd" % pid)))
        except OSError:
            pass
    # All are open: now one request on each, then collect every answer.
    sel = selectors.DefaultSelector()
    bufs = {}
    for i, s in enumerate(socks):
        try:
            s.sendall(build({"instance": "conc.%d" % i,
                             "recipient": "c%d@example.test" % i}))
        except OSError as e:
            print("concurrent: send on connection %d: %s" % (i, e))
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        bufs[i] = b""
    answered, bad = 0, 0
    deadline = time.monotonic() + 60
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s, i = key.fileobj, key.data
            try:
                chunk = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                bufs[i] += chunk
                if b"\n\n" not in bufs[i]:
                    continue
                if reply_ok(bufs[i]):
                    answered += 1
                else:
                    bad += 1
            else:
                bad += 1
            sel.unregister(s)
            del bufs[i]
    for s in socks:
        s.close()
    print("concurrent: %d answered, %d closed or malformed, %d unanswered, in %.2fs"
          % (answered, bad, len(bufs), time.monotonic() - t1))
    if answered == n:
        return "PASS concurrent: %d connections at once, all answered" % n
    return "FAIL concurrent: %d of %d answered" % (answered, n)


def sc_longline(args):
    n = int(args[0]) if args else 1 << 20
    return closed_without_reply("longline", b"request=smtpd_access_policy\n"
                                + b"sender=" + b"a" * n)


def sc_garbage(args):
    n = int(args[0]) if args else 65536
    rnd = random.Random(4242)
    data = bytearray(rnd.getrandbits(8) for _ in range(n))
    for i in range(0, n, 97):
        data[i] = 0
    return closed_without_reply("garbage", bytes(data))


def sc_norequest(_args):
    return closed_without_reply("norequest", build(drop=("request",)))


def sc_midrequest(_args):
    s = connect()
    full = build()
    s.sendall(full[: len(full) // 2])
    time.sleep(0.1)
    s.close()
    return "PASS midrequest: sent %d of %d bytes and closed" % (len(full) // 2, len(full))


def sc_oversized(args):
    n = int(args[0]) if args else 20000
    extra = {"x_attr_%05d" % i: "v" * 40 for i in range(n)}
    return closed_without_reply("oversized", build(extra))


SCENARIOS = {
    "request": sc_request, "normal": sc_normal, "many": sc_many,
    "pipelined": sc_pipelined, "split": sc_split,
    "concurrent": sc_concurrent, "longline": sc_longline,
    "garbage": sc_garbage, "norequest": sc_norequest,
    "midrequest": sc_midrequest, "oversized": sc_oversized,
}


def main(argv):
    global ENDPOINT, TIMEOUT
    args = list(argv)
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-s":
            ENDPOINT = args.pop(0)
        elif opt == "-t":
            TIMEOUT = float(args.pop(0))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if not args or args[0] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = SCENARIOS[args[0]](args[1:])
    except OSError as e:
        result = "FAIL %s: %s: %s" % (args[0], type(e).__name__, e)
    print(result)
    sys.stdout.flush()
    return 0 if result.startswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
