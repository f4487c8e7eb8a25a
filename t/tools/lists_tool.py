#!/usr/bin/python3
"""lists_tool.py - big Redis lists and bounded policy probes for t_lists.sh.

usage:
  lists_tool.py resp KEY KIND N [FIRST]
      print RESP "SADD KEY ..." commands (1000 members each) for
      redis-cli --pipe: N members of KIND, numbered from FIRST (0):
        cidr    IPv4 blocks (/28 in 10.0.0.0/8, /32 in 100.64.0.0/10,
                /24 in 11.0.0.0/8 and up) and IPv6 /64 in 2001:db8::/32,
                disjoint, never in 127.0.0.0/8
        addr    addresses bulkN@bulkM.test
        regex   /regexN-.*@regexM\\.test/ (never match a test sender)
  lists_tool.py poll [-d SECONDS] -s EP [-s EP...] REGEX ATTR... [-- REGEX ATTR...]
      send each probe (the policy request ATTRs, name=value) to every EP
      until its reply matches REGEX (Python re.search), bounded by SECONDS
      (1.5) counted from this program's start (one try at least); prints one line per endpoint
      and probe; exit 0 when every one matched in time.
  lists_tool.py many -s EP -n N [-c CONNS] REGEX ATTR...
      N requests spread over CONNS (4) connections at once; %d in an ATTR
      is replaced by the request's number (unique senders). Prints how many
      replies matched REGEX; exit 0 when all N did.

EP is unix:/path or a plain socket path, as for policy_client.py.
"""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import policy_client as pc  # noqa: E402

T0 = time.monotonic()


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def member(kind, i):
    if kind == "cidr":
        # Disjoint by construction: i picks the kind of block (i % 4) and
        # j = i // 4 its own block of that kind.
        r, j = i % 4, i >> 2
        if r == 0:
            return "10.%d.%d.%d/28" % ((j >> 12) & 255, (j >> 4) & 255, (j & 15) << 4)
        if r == 1:
            return "100.%d.%d.%d/32" % (64 + ((j >> 16) & 63), (j >> 8) & 255, j & 255)
        if r == 2:
            return "%d.%d.%d.0/24" % (11 + ((j >> 16) & 15), (j >> 8) & 255, j & 255)
        return "2001:db8:%x:%x::/64" % ((j >> 16) & 0xffff, j & 0xffff)
    if kind == "addr":
        return "bulk%d@bulk%d.test" % (i, i % 997)
    if kind == "regex":
        return "/regex%d-.*@regex%d\\.test/" % (i, i % 13)
    raise SystemExit("unknown kind %r" % kind)


def cmd_resp(args):
    key, kind, n = args[0], args[1], int(args[2])
    first = int(args[3]) if len(args) > 3 else 0
    w = sys.stdout.buffer
    batch = []
    for i in range(first, first + n):
        batch.append(member(kind, i))
        if len(batch) == 1000:
            w.write(resp("SADD", key, *batch))
            batch = []
    if batch:
        w.write(resp("SADD", key, *batch))
    w.flush()
    return 0


def attrs(words, n=None):
    over = {}
    for a in words:
        k, _, v = a.partition("=")
        over[k] = v.replace("%d", str(n)) if n is not None else v
    return over


def ask(ep, over):
    pc.ENDPOINT = ep
    s = pc.connect(timeout=2)
    try:
        s.sendall(pc.build(over))
        r, _ = pc.read_reply(s)
    finally:
        s.close()
    return (r or b"(no reply)").decode("utf-8", "replace").strip()


def cmd_poll(args):
    deadline, eps, probes = 1.5, [], [[]]
    while args and args[0].startswith("-") and args[0] != "--":
        opt = args.pop(0)
        if opt == "-d":
            deadline = float(args.pop(0))
        elif opt == "-s":
            eps.append(args.pop(0))
        else:
            raise SystemExit(__doc__)
    for a in args:
        if a == "--":
            probes.append([])
        else:
            probes[-1].append(a)
    todo = [(ep, p[0], attrs(p[1:])) for p in probes for ep in eps]
    last = {}
    n = 0
    while todo and (n == 0 or time.monotonic() - T0 < deadline):
        n += 1
        left = []
        for ep, rx, over in todo:
            try:
                r = ask(ep, over)
            except OSError as e:
                r = "(%s)" % e
            if re.search(rx, r):
                print("matched: %s %s after %.2fs: %s" % (
                    os.path.basename(ep), over.get("client_address", ""),
                    time.monotonic() - T0, r.splitlines()[0]))
            else:
                last[(ep, rx)] = r
                left.append((ep, rx, over))
        todo = left
        if todo:
            time.sleep(0.05)
    for ep, rx, over in todo:
        print("NOT matched in %.1fs: %s %s: expected /%s/, last reply: %s" % (
            deadline, os.path.basename(ep), over.get("client_address", ""),
            rx, last.get((ep, rx))))
    return 1 if todo else 0


def cmd_many(args):
    ep, n, conns = None, 100, 4
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-s":
            ep = args.pop(0)
        elif opt == "-n":
            n = int(args.pop(0))
        elif opt == "-c":
            conns = int(args.pop(0))
        else:
            raise SystemExit(__doc__)
    rx, words = re.compile(args[0]), args[1:]
    pc.ENDPOINT = ep
    counts = {"match": 0, "other": 0}
    others = []
    lock = threading.Lock()

    def run(k):
        s, buf = None, b""
        try:
            s = pc.connect(timeout=10)
            for i in range(k, n, conns):
                over = attrs(words, i)
                over["instance"] = "many.%d" % i
                s.sendall(pc.build(over))
                r, buf = pc.read_reply(s, buf)
                r = (r or b"(no reply)").decode("utf-8", "replace").strip()
                with lock:
                    if rx.search(r):
                        counts["match"] += 1
                    else:
                        counts["other"] += 1
                        others.append(r)
                if r == "(no reply)":
                    break
        except OSError as e:
            # The rest of this connection's requests count as unanswered.
            with lock:
                others.append("connection %d: %s: %s" % (k, type(e).__name__, e))
        finally:
            if s is not None:
                s.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("many: %d of %d replies matched /%s/, %d other, %d unanswered" % (
        counts["match"], n, rx.pattern, counts["other"],
        n - counts["match"] - counts["other"]))
    for r in others[:5]:
        print("many: other reply: %s" % r)
    return 0 if counts["match"] == n else 1


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmds = {"resp": cmd_resp, "poll": cmd_poll, "many": cmd_many}
    if argv[0] not in cmds:
        raise SystemExit(__doc__)
    return cmds[argv[0]](list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
