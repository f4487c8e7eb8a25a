#!/usr/bin/python3
"""dns_proxy.py - a UDP DNS forwarder whose behaviour a fault test changes
while it runs.

  dns_proxy.py LISTEN_IP:PORT UPSTREAM_IP:PORT MODEFILE

MODEFILE holds one word, re-read for every query:
  pass        forward the query, return the answer (the default)
  drop        read the query, answer nothing (a server that is gone
              silent: the client waits for its own timeout)
  delay SECS  forward, hold the answer SECS seconds (a slow server)
Each query is handled on its own thread, so a delayed one holds up no
other. Logs nothing; the test observes the clients.
"""
import socket
import sys
import threading
import time


def mode(path):
    try:
        words = open(path).read().split()
    except OSError:
        return ("pass", 0.0)
    if not words:
        return ("pass", 0.0)
    if words[0] == "delay" and len(words) > 1:
        return ("delay", float(words[1]))
    return (words[0], 0.0)


def handle(sock, data, peer, upstream, path):
    what, secs = mode(path)
    if what == "drop":
        return
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(5)
    try:
        up.sendto(data, upstream)
        answer, _ = up.recvfrom(65535)
    except OSError:
        return
    finally:
        up.close()
    if what == "delay":
        time.sleep(secs)
    sock.sendto(answer, peer)


def main():
    lhost, lport = sys.argv[1].rsplit(":", 1)
    uhost, uport = sys.argv[2].rsplit(":", 1)
    path = sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((lhost, int(lport)))
    while True:
        data, peer = sock.recvfrom(65535)
        threading.Thread(target=handle, args=(sock, data, peer, (uhost, int(uport)), path),
                         daemon=True).start()


if __name__ == "__main__":
    main()
