#!/usr/bin/python3
"""from_oracle.py CORPUS: what Python's email parsers read as the author of
each From: value in CORPUS, for t/unit/test_dkim_from.c.

CORPUS: one entry per line that starts with '|' ("+|": a common form we
must sign, not only may); the rest of the line is
the field value as the milter gets it (leading space included), with
backslash escapes (\\t, \\n, \\xHH, \\\\). A "\\n" is a fold: Python gets
the field with CRLF line ends, as on the wire. Other lines are comments.

Output, one line per entry, tab-separated:
  HEX  MODERN  VALID  LEGACY  MUST
HEX is the value's bytes in hex (what the C test feeds our parser), "-"
for an empty value; MUST is 1 for "+|" entries, else 0.
MODERN is what email.policy.default's header parser reads, VALID 0 when
it reports a defect other than obsolete syntax or 8-bit bytes; LEGACY what
email.utils.getaddresses (the older parser many tools still use) reads:
"local@domain" with the local part unquoted and the domain lowercased,
in hex, when the parser yields exactly one address, else "-" (none,
several, or the parser raised). Our parser may sign only when it yields the MODERN
address, VALID is 1, and LEGACY is "-" or the same address.
"""
import codecs
import email.utils
import sys
from email import errors, policy
from email.parser import BytesParser


def one(addrs):
    """(local, domain) pairs -> 'local@domain' if exactly one, else '-'."""
    if len(addrs) != 1:
        return "-"
    local, domain = addrs[0]
    return "%s@%s" % (local, domain.lower())


def modern(value):
    raw = b"From:" + value.replace(b"\n", b"\r\n") + b"\r\n\r\n"
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        field = msg["From"]
        if field is None:
            return "-", False
        # A value Python itself calls invalid ("invalid address in
        # address-list" for "<a@x.test>c@y.test", of which it keeps
        # a@x.test) is one readers may take apart differently: no author.
        # Obsolete syntax ("J. Smith") and raw UTF-8 are not invalid.
        valid = all(isinstance(d, (errors.ObsoleteHeaderDefect, errors.UndecodableBytesDefect))
                    for d in field.defects)
        return one([(a.username, a.domain) for a in field.addresses]), valid
    except Exception:  # a parser that gives up reads no author
        return "-", False


def legacy(value):
    text = value.decode("utf-8", "surrogateescape").replace("\n", "")
    try:
        pairs = [p for p in email.utils.getaddresses([text]) if p != ("", "")]
    except Exception:
        return "-"
    addrs = []
    for _, spec in pairs:
        local, at, domain = spec.rpartition("@")
        if not at:
            local, domain = spec, ""
        if len(local) >= 2 and local[0] == local[-1] == '"':
            local = local[1:-1]
        addrs.append((local, domain))
    return one(addrs)


def clean(s):
    # The C side reads whitespace-separated fields: no raw tab, newline
    # or space may stay in the answers (hex keeps them unambiguous).
    return s.encode("utf-8", "surrogateescape").hex() if s != "-" else "-"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        for line in f.read().split(b"\n"):
            must = line.startswith(b"+|")
            if not line.startswith(b"|") and not must:
                continue
            value = codecs.escape_decode(line[2 if must else 1:])[0]
            addr, valid = modern(value)
            print("%s\t%s\t%d\t%s\t%d" % (value.hex() or "-", clean(addr), valid,
                                          clean(legacy(value)), must))
    return 0


if __name__ == "__main__":
    sys.exit(main())
