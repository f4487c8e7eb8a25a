#!/usr/bin/python3
"""dnsq.py NAME [TYPE] [SERVER]: query DNS (the namespace's resolv.conf, or
SERVER) and print one answer per line. TXT strings are printed joined.
Exit status: 0 answers, 2 NXDOMAIN, 3 no answer of that type, 1 other error."""
import sys

import dns.exception
import dns.resolver
import dns.reversename


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    name = sys.argv[1]
    rtype = sys.argv[2].upper() if len(sys.argv) > 2 else "A"
    res = dns.resolver.Resolver(configure=len(sys.argv) <= 3)
    if len(sys.argv) > 3:
        res.nameservers = [sys.argv[3]]
    res.lifetime = 3.0
    if rtype == "PTR" and not name.endswith(".arpa"):
        name = dns.reversename.from_address(name).to_text()
    try:
        ans = res.resolve(name, rtype)
    except dns.resolver.NXDOMAIN:
        print("NXDOMAIN")
        return 2
    except dns.resolver.NoAnswer:
        print("NOANSWER")
        return 3
    except dns.exception.DNSException as e:
        print("ERROR %s" % e)
        return 1
    for r in ans:
        if rtype == "TXT":
            print(b"".join(r.strings).decode("utf-8", "replace"))
        else:
            print(r.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
