#!/usr/bin/python3
"""smtp_internal.py - a test "internal mail server" for recipient probes.

  smtp_internal.py PORT LOG USER...   answers 250 to RCPT TO:<USER>, 550 5.1.1
                                      to any other, 250 to EHLO/MAIL/RSET
  smtp_internal.py PORT LOG --silent  accepts connections and says nothing

LOG gets one line per connection ("connect") and per command, so a test
sees how many connections the probes used and what they asked.
"""
import socket
import sys
import threading


def log(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


def serve(conn, path, users, silent):
    log(path, "connect")
    f = conn.makefile("rwb", buffering=0)
    try:
        if silent:
            while conn.recv(4096):
                pass
            return
        f.write(b"220 internal.test ESMTP\r\n")
        for raw in f:
            line = raw.decode("ascii", "replace").strip()
            log(path, line)
            up = line.upper()
            if up.startswith("EHLO"):
                f.write(b"250-internal.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif up.startswith("RCPT TO:"):
                addr = line[8:].strip().strip("<>").lower()
                f.write(b"250 2.1.5 Ok\r\n" if addr in users else b"550 5.1.1 No such user\r\n")
            elif up.startswith("QUIT"):
                f.write(b"221 Bye\r\n")
                return
            else:
                f.write(b"250 Ok\r\n")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    silent = "--silent" in sys.argv[3:]
    users = {u.lower() for u in sys.argv[3:] if u != "--silent"}
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    log(path, "listening")
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, path, users, silent), daemon=True).start()


if __name__ == "__main__":
    main()
