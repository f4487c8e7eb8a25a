#!/usr/bin/python3
"""seed.py - writes the seed corpora t/fuzz/corpus/NAME/seed-* from the
project's own test data: the C string literals of the unit tests that
drive each parser, the t/dkim messages (signed here with python3-dkim,
a signer we did not write, for the verifier target), etc/sluice.conf and
the configs the integration tests write, A-R headers of t/tools. Run
from the top of the tree: /usr/bin/python3 t/fuzz/seed.py. Idempotent (not for the DKIM
targets: their keys are new each run): a file is named by the SHA-1 of its content. Fuzzing adds more through
`make fuzz-merge` (entries named by libFuzzer, also content hashes)."""
import glob
import hashlib
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(TOP, "t", "fuzz", "corpus")
MAX_SEEDS = 400

LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        i += 1
        c = s[i]
        simple = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39, "a": 7,
                  "b": 8, "f": 12, "v": 11, "e": 27}
        if c == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 1:])
            out.append(int(m.group(0), 16))
            i += 1 + len(m.group(0))
        elif c in "01234567" and re.match(r"[0-7]{1,3}", s[i:]).group(0) != "0":
            m = re.match(r"[0-7]{1,3}", s[i:])
            out.append(int(m.group(0), 8) & 255)
            i += len(m.group(0))
        else:
            out.append(simple.get(c, ord(c)))
            i += 1
    return bytes(out)


def literals(path):
    """String literals of a C file, adjacent ones joined (C concatenation)."""
    text = open(path, encoding="utf-8", errors="replace").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("#include"))
    out, pos, cur, last_end = [], 0, None, -1
    for m in LIT.finditer(text):
        between = text[last_end:m.start()] if last_end >= 0 else "x"
        piece = unescape(m.group(1))
        if cur is not None and between.strip() == "":
            cur += piece
        else:
            if cur is not None:
                out.append(cur)
            cur = piece
        last_end = m.end()
    if cur is not None:
        out.append(cur)
    return out


def write(name, data, written):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    if written.setdefault(name, 0) >= MAX_SEEDS:
        return
    path = os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    written[name] += 1


def from_tests(name, files, keep=lambda b: True, wrap=lambda b: b, written=None):
    for f in files:
        for lit in literals(os.path.join(TOP, f)):
            if keep(lit):
                write(name, wrap(lit), written)


def main():
    w = {}
    ut = "t/unit/"
    # policy requests: the unit tests' requests, framed by an empty line
    from_tests("request", [ut + "test_request.c", ut + "test_checks.c"],
               keep=lambda b: b"=" in b and b"\n" in b,
               wrap=lambda b: b if b.endswith(b"\n\n") else b + (b"\n" if b.endswith(b"\n") else b"\n\n"),
               written=w)
    base = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            b"client_address=192.0.2.7\nclient_name=mail.x.test\nreverse_client_name=mail.x.test\n"
            b"helo_name=mail.x.test\nsender=a@x.test\nrecipient=b@example.test\n"
            b"recipient_count=0\nqueue_id=\ninstance=1a2b.5f3e.1\nsize=0\netrn_domain=\n"
            b"stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
            b"ccert_issuer=\nccert_fingerprint=\nencryption_protocol=TLSv1.3\n"
            b"encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n"
            b"policy_context=\nserver_address=10.0.0.1\nserver_port=25\n\n")
    write("request", base, w)
    write("request", base + base.replace(b"RCPT", b"END-OF-MESSAGE"), w)
    # addresses and senders
    addr_files = [ut + "test_address.c", ut + "test_triplet.c", ut + "test_access.c", ut + "test_rcptval.c"]
    from_tests("address", addr_files, keep=lambda b: len(b) < 300 and b"\n" not in b, written=w)
    from_tests("sender", [ut + "test_triplet.c", ut + "test_ratelimit.c"],
               keep=lambda b: b"@" in b and b"\n" not in b,
               wrap=lambda b: b + b"\nbob@example.test\n192.0.2.7", written=w)
    # networks: lines of blocks, the last one the address looked up
    nets = [l for l in literals(os.path.join(TOP, ut + "test_network.c")) +
            literals(os.path.join(TOP, ut + "test_ipset.c"))
            if len(l) < 60 and re.fullmatch(rb"[0-9a-fA-F:./\[\]%a-z-]+", l or b"-")]
    for i in range(0, len(nets), 6):
        write("network", b"\n".join(nets[i:i + 6]), w)
    for n in nets:
        write("network", n + b"\n" + n.split(b"/")[0], w)
    # list members: flag byte (odd: an IP list), members, the lookup
    pats = [l for l in literals(os.path.join(TOP, ut + "test_patterns.c")) +
            literals(os.path.join(TOP, ut + "test_lists.c"))
            if 0 < len(l) < 200 and b"\n" not in b"" + l]
    for i in range(0, len(pats), 5):
        chunk = pats[i:i + 5]
        write("lists", b"\x00" + b"\n".join(chunk + [b"alice@example.com"]), w)
        write("lists", b"\x01" + b"\n".join(chunk + [b"192.0.2.1"]), w)
    # the config loader: the shipped file, the test configs
    write("config", open(os.path.join(TOP, "etc/sluice.conf"), "rb").read(), w)
    for f in glob.glob(os.path.join(TOP, "t/integration/*.sh")) + [os.path.join(TOP, "t/lib.sh")]:
        text = open(f, "rb").read()
        for m in re.finditer(rb"<<-?\s*'?(\w+)'?\n(.*?)\n\1\n", text, flags=re.S):
            body = m.group(2)
            if re.search(rb"^\s*(redis|milter|policyd|dkim|domains)\s*[:=]", body, flags=re.M):
                write("config", body, w)
    from_tests("config", [ut + "test_config.c"], keep=lambda b: b"=" in b and b";" in b, written=w)
    # DKIM
    eml = sorted(glob.glob(os.path.join(TOP, "t/dkim/*.eml")))
    for f in eml:
        msg = open(f, "rb").read()
        hdr = msg.split(b"\n\n", 1)[0].split(b"\n")
        body = msg.split(b"\n\n", 1)[1] if b"\n\n" in msg else b""
        for i, h in enumerate(hdr):
            if b":" in h:
                write("dkim_canon", bytes([i * 5 & 255]) + h + b"\n" + body, w)
                write("dkim_from", h.split(b":", 1)[1], w) if h.lower().startswith(b"from:") else None
    for line in open(os.path.join(TOP, "t/dkim/from-corpus.txt"), "rb"):
        if line[:2] in (b"+|", b"-|"):
            write("dkim_from", unescape(line[3:].rstrip(b"\n").decode("latin-1")), w)
    from_tests("dkim_from", [ut + "test_dkim_from.c", ut + "test_dkim.c"],
               keep=lambda b: b"@" in b or b"d=" in b, written=w)
    from_tests("dkim_sig", [ut + "test_dkim_verify.c", ut + "test_dkim.c"],
               keep=lambda b: b"=" in b and b";" in b and not b.startswith(b"v=DKIM1"), written=w)
    from_tests("dkim_key", [ut + "test_dkim_verify.c"],
               keep=lambda b: b.startswith(b"v=DKIM1") or b"p=" in b,
               wrap=lambda b: b"\x00" + b, written=w)
    signed_for_verify(eml, w)
    # A-R
    from_tests("authres", [ut + "test_authres.c"], keep=lambda b: len(b) > 0,
               wrap=lambda b: b + b"\nuser@example.test\n\"quoted\"@x.test", written=w)
    for f in ["t/tools/authres.py", "t/integration/t_auth.sh", "t/integration/t_auth_malformed.sh"]:
        for m in re.finditer(rb"Authentication-Results:([^\n\"']*)", open(os.path.join(TOP, f), "rb").read()):
            write("authres", m.group(1) + b"\nx@example.test", w)
    # DMARC: record, From domain, d=, SPF domain
    for lit in literals(os.path.join(TOP, ut + "test_dmarc.c")):
        if lit.lower().startswith(b"v=dmarc"):
            write("dmarc", lit + b"\nexample.com\nmail.example.com\nexample.com\n", w)
            write("dmarc", lit + b"\nsub.example.co.uk\nexample.co.uk\nother.test\n" + lit, w)
    # SRS, DNSBL zones, relay hops, endpoints
    from_tests("srs", [ut + "test_srs.c", ut + "test_alias.c"],
               keep=lambda b: b"@" in b and len(b) < 300, written=w)
    from_tests("dnsbl_zone", [ut + "test_dnsbl.c", ut + "test_config.c"],
               keep=lambda b: 0 < len(b) < 120 and b"." in b and b"\n" not in b,
               wrap=lambda b: b + b"\n192.0.2.99\n\x7f\x00\x00\x02\x7f\x00\x00\x0b", written=w)
    write("dnsbl_zone", b"zen.example.test=127.0.0.[2..11;20]*3\n2001:db8::1\n\x7f\x00\x00\x04", w)
    from_tests("relay_hop", [ut + "test_config.c", ut + "test_access.c", ut + "test_rcptval.c"],
               keep=lambda b: b"|" in b or (0 < len(b) < 80 and b"." in b and b" " not in b), written=w)
    for e in [b"example.test|[192.0.2.1]:2525", b"example.test|[2001:db8::1]:25",
              b"example.test|mx.example.test", b"example.test|mx.example.test:26", b"example.test"]:
        write("relay_hop", e, w)
    from_tests("endpoint", [ut + "test_endpoint.c", ut + "test_config.c"],
               keep=lambda b: b.startswith(b"unix:") or b.startswith(b"inet:"), written=w)
    # DNS rdata: TXT records (DKIM keys, DMARC, SPF) as character-strings,
    # MX and PTR names in wire format, each with its 2-byte length
    def txt(text, cut=255):
        parts = [text[i:i + cut] for i in range(0, len(text), cut)] or [b""]
        return b"".join(bytes([len(p)]) + p for p in parts)

    def wname(name):
        return b"".join(bytes([len(l)]) + l for l in name.split(b".") if l) + b"\x00"

    def recs(*rr):
        return b"\x10" + b"".join(len(r).to_bytes(2, "big") + r for r in rr)
    key = b"v=DKIM1; k=rsa; p=" + b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 8
    write("dns_rdata", recs(txt(key), txt(key, 100)), w)
    write("dns_rdata", recs(txt(b"v=DMARC1; p=reject; rua=mailto:d@example.test"), txt(b"v=spf1 -all")), w)
    write("dns_rdata", recs(txt(b"v=spf1 ip4:192.0.2.0/24 include:_spf.example.test ~all")), w)
    write("dns_rdata", recs(b"\x00\x0a" + wname(b"mx1.example.test"), b"\x00\x14" + wname(b"mx2.example.test")), w)
    write("dns_rdata", recs(wname(b"mail.example.test"), wname(b"."), b""), w)
    # SMTP replies of an internal server (t/tools/smtp_internal.py's) and
    # the recipient probed
    for rcpt, stream in [
            (b"alice@example.test", b"220 internal.test ESMTP\r\n250-internal.test\r\n250-PIPELINING\r\n"
             b"250 8BITMIME\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 Bye\r\n"),
            (b"\"john doe\"@example.test", b"220 x\r\n250 x\r\n250 Ok\r\n550 5.1.1 No such user\r\n"),
            (b"a(b)*c\\d@example.test", b"421 4.3.2 Service not available\r\n"),
            (b"bob@example.test", b"220-first\n220-second\n220 third\n450 4.2.1 try later\n")]:
        write("smtp_reply", rcpt + b"\n" + stream, w)
    from_tests("smtp_reply", [ut + "test_rcptval.c"], keep=lambda b: b"@" in b and b"\n" not in b,
               wrap=lambda b: b + b"\n220 ok\r\n250 ok\r\n", written=w)
    for k, v in sorted(w.items()):
        print("%-12s %d seeds" % (k, v))


def signed_for_verify(eml, w):
    """Each t/dkim message signed by python3-dkim (rsa-sha256 and
    ed25519-sha256, both canonicalisations), with its key record as the
    first line: the verifier's happy path is in the corpus."""
    try:
        import dkim
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    except ImportError as e:
        print("dkim_verify: no python3-dkim (%s): seeds without signatures" % e, file=sys.stderr)
        for f in eml:
            write("dkim_verify", b"v=DKIM1; p=\n" + open(f, "rb").read(), w)
        return
    import base64
    rkey = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rpriv = rkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())
    rpub = base64.b64encode(rkey.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    ekey = ed25519.Ed25519PrivateKey.generate()
    epriv = base64.b64encode(ekey.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                serialization.NoEncryption()))
    epub = base64.b64encode(ekey.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw))
    for sel in (0, 2):	# fuzz_dkim_key: byte 0 picks the signature (even: rsa)
        write("dkim_key", bytes([sel]) + b"v=DKIM1; k=rsa; p=" + rpub, w)
        write("dkim_key", bytes([sel + 1]) + b"v=DKIM1; k=ed25519; h=sha256; s=email; t=y:s; p=" + epub, w)
    for f in eml:
        msg = open(f, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for canon in ([b"relaxed", b"relaxed"], [b"simple", b"simple"], [b"relaxed", b"simple"]):
            for alg, priv, rec in ((b"rsa-sha256", rpriv, b"v=DKIM1; k=rsa; p=" + rpub),
                                   (b"ed25519-sha256", epriv, b"v=DKIM1; k=ed25519; p=" + epub)):
                try:
                    sig = dkim.sign(msg, b"sel", b"example.test", priv, canonicalize=tuple(canon),
                                    signature_algorithm=alg, include_headers=[b"from", b"to", b"subject"])
                except Exception as e:  # noqa: BLE001 - a message dkimpy refuses
                    print("dkim_verify: %s: %s" % (os.path.basename(f), e), file=sys.stderr)
                    continue
                write("dkim_verify", rec + b"\n" + sig + msg, w)
        write("dkim_verify", b"TEMPERROR\n" + msg, w)


if __name__ == "__main__":
    main()
