#!/usr/bin/python3
"""notify_listen.py SOCKET LOG - stand in for systemd's notification socket.

Binds a datagram socket at SOCKET (mode 0666, as systemd's
/run/systemd/notify is, so a daemon that dropped root can still write)
with SO_PASSCRED, and appends one line per datagram to LOG:

    pid=PID uid=UID READY=1|STATUS=serving

(the sender's credentials as the kernel reports them, the way systemd
checks NotifyAccess=main; newlines of the message become '|'). Runs until
killed. Prints "listening" on stdout once bound.
"""
import os
import socket
import struct
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    os.chmod(path, 0o666)
    print("listening", flush=True)
    with open(log, "a", buffering=1) as out:
        while True:
            data, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = uid = -1
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid, uid, _gid = struct.unpack("iII", payload[:12])
            text = data.decode("utf-8", "replace").replace("\n", "|")
            out.write("pid=%d uid=%d %s\n" % (pid, uid, text))


if __name__ == "__main__":
    main()
