#!/usr/bin/python3
"""verify.py KEYS|--dns MESSAGE... - verify every DKIM signature of each
message with python3-dkim, the public keys taken from the file KEYS (lines
"SELECTOR._domainkey.DOMAIN TXT-VALUE", the format of libopendkim's
DKIM_QUERY_FILE) or, with --dns, from DNS (the test namespace's dnsmasq).
Prints "ok FILE #N" or "FAIL FILE #N: why" per signature; exit status 1
when any signature fails or a message has none. Used by
t/unit/test_dkim_diff.c and t/integration/t_dkim.sh."""
import sys

import dkim


def main():
    records = {}
    if sys.argv[1] != "--dns":
        with open(sys.argv[1]) as fp:
            for line in fp:
                name, _, value = line.strip().partition(" ")
                records[name.lower().rstrip(".")] = value.encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.lower().rstrip("."))

    kwargs = {} if sys.argv[1] == "--dns" else {"dnsfunc": dnsfunc}

    failed = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as fp:
            msg = fp.read()
        d = dkim.DKIM(msg)
        nsig = sum(1 for n, _ in d.headers if n.lower() == b"dkim-signature")
        for idx in range(nsig):
            try:
                good = d.verify(idx=idx, **kwargs)
                why = "" if good else "signature did not verify"
            except dkim.DKIMException as e:
                good, why = False, str(e)
            if good:
                print("ok %s #%d" % (path, idx))
            else:
                failed += 1
                print("FAIL %s #%d: %s" % (path, idx, why))
        if nsig == 0:
            failed += 1
            print("FAIL %s: no signature" % path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
