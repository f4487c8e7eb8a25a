#!/usr/bin/python3
"""smarthost.py - a test smarthost: STARTTLS, then AUTH PLAIN/LOGIN.

  smarthost.py PORT CERT KEY LOG USER PASSWORD [implicit]

Listens on 127.0.0.1:PORT; with "implicit", TLS from the first byte
(port 465 style, Postfix's smtp_tls_wrappermode), logged "tls" too. EHLO offers STARTTLS before TLS and AUTH PLAIN
LOGIN only inside it (as real submission servers do); AUTH before TLS gets
530 5.7.0, a wrong login or password 535 5.7.8, MAIL before a successful
AUTH 530 5.7.0. LOG gets one line per event, never the password itself:
"connect", "tls", "auth=ok user=U" or "auth=fail user=U", "rcpt=<A>",
"message rcpt=<A> bytes=N". So a test sees that the Postfix SMTP client
used TLS and sent the credentials of the admin's SASL table.
"""
import base64
import socket
import ssl
import sys
import threading


def log(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


def serve(conn, ctx, path, user, password, implicit):
    log(path, "connect")
    tls = False
    if implicit:
        conn = ctx.wrap_socket(conn, server_side=True)
        tls = True
        log(path, "tls")
    authed = False
    rcpts = []
    f = conn.makefile("rwb", buffering=0)

    def reply(text):
        f.write(text.encode() + b"\r\n")

    def check(u, p):
        nonlocal authed
        authed = u == user and p == password
        log(path, "auth=%s user=%s" % ("ok" if authed else "fail", u))
        reply("235 2.7.0 Authentication successful" if authed
              else "535 5.7.8 Authentication credentials invalid")

    reply("220 smarthost.test ESMTP")
    while True:
        raw = f.readline()
        if not raw:
            return
        line = raw.decode("ascii", "replace").rstrip("\r\n")
        up = line.upper()
        if up.startswith(("EHLO", "HELO")):
            ext = ["AUTH PLAIN LOGIN"] if tls else ["STARTTLS"]
            reply("\r\n".join("250-" + e for e in ["smarthost.test", "PIPELINING"] + ext[:-1])
                  + "\r\n250 " + ext[-1])
        elif up == "STARTTLS" and not tls:
            reply("220 2.0.0 Ready to start TLS")
            conn = ctx.wrap_socket(conn, server_side=True)
            f = conn.makefile("rwb", buffering=0)
            tls = True
            log(path, "tls")
        elif up.startswith("AUTH "):
            if not tls:
                reply("530 5.7.0 Must issue a STARTTLS command first")
                continue
            parts = line.split()
            mech = parts[1].upper() if len(parts) > 1 else ""
            if mech == "PLAIN":
                if len(parts) > 2:
                    data = parts[2]
                else:
                    reply("334 ")
                    data = f.readline().decode().strip()
                fields = base64.b64decode(data).split(b"\0")
                u, p = (fields[1].decode(), fields[2].decode()) if len(fields) == 3 else ("", "")
                check(u, p)
            elif mech == "LOGIN":
                reply("334 VXNlcm5hbWU6")
                u = base64.b64decode(f.readline().strip()).decode()
                reply("334 UGFzc3dvcmQ6")
                p = base64.b64decode(f.readline().strip()).decode()
                check(u, p)
            else:
                reply("504 5.5.4 Unrecognized authentication type")
        elif up.startswith("MAIL FROM:"):
            rcpts = []
            reply("250 2.1.0 Ok" if authed else "530 5.7.0 Authentication required")
        elif up.startswith("RCPT TO:"):
            rcpts.append(line[8:].strip())
            log(path, "rcpt=%s" % line[8:].strip())
            reply("250 2.1.5 Ok")
        elif up == "DATA":
            reply("354 End data with <CR><LF>.<CR><LF>")
            size = 0
            while True:
                d = f.readline()
                if not d or d in (b".\r\n", b".\n"):
                    break
                size += len(d)
            log(path, "message rcpt=%s bytes=%d" % (",".join(rcpts), size))
            reply("250 2.0.0 Ok: queued")
        elif up == "QUIT":
            reply("221 2.0.0 Bye")
            return
        elif up in ("RSET", "NOOP"):
            reply("250 2.0.0 Ok")
        else:
            reply("502 5.5.2 Error: command not recognized")


def main():
    port, cert, key, path, user, password = sys.argv[1:7]
    implicit = sys.argv[7:8] == ["implicit"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(16)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=lambda c=conn: _run(c, ctx, path, user, password, implicit),
                         daemon=True).start()


def _run(conn, ctx, path, user, password, implicit):
    try:
        serve(conn, ctx, path, user, password, implicit)
    except (OSError, ValueError, ssl.SSLError) as e:
        log(path, "error %s" % e)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
