#!/usr/bin/python3
"""smtp_session_load.py - send N messages over S SMTP sessions and account for each.

    smtp_session_load.py [--server HOST:PORT] [--source IP] [--sessions S]
                 [--messages N] [--until FILE] [--from ADDR] [--to ADDR]
                 --tag TAG --out FILE

Like smtp-source, but the sending side's record is exact: FILE gets one
line per message, "SESSION SEQ NUMBER RESULT CODE TEXT", where RESULT is
accepted (250 at end of DATA, TEXT has the queue ID), tempfail (a 4xx at
any stage, or the connection lost before the 250: the client keeps the
message and would retry), or reject (a 5xx). Messages are numbered
0..N-1 and handed to the sessions in turn; each carries
"Subject: TAG NUMBER" and "X-Load: TAG SESSION SEQ", so the receiving
side can match them. A session reconnects after a 421 or a lost
connection. With --until, no message is started once FILE exists (N is
then the most that are sent): a load that lasts as long as the test
needs, however fast the machine. The summary goes to stdout:
"sent=N accepted=A tempfail=T reject=R seconds=S taken=K", K the
messages the sessions took from the queue (each must have its line).
"""
import argparse
import email.utils
import os
import queue
import smtplib
import sys
import threading
import time


def send_one(conn, args, session, seq, number):
    subject = "%s %d" % (args.tag, number)
    msg = (
        "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
        "Message-ID: <%s.%d@load.test>\r\nX-Load: %s %d %d\r\n\r\n"
        "message %d of the reload-under-load test\r\n"
        % (args.sender, args.rcpt, subject, email.utils.formatdate(), args.tag, number,
           args.tag, session, seq, number)
    )
    code, text = conn.mail(args.sender)
    if code != 250:
        return code, text
    code, text = conn.rcpt(args.rcpt)
    if code not in (250, 251):
        conn.rset()
        return code, text
    code, text = conn.data(msg.encode())
    return code, text


def session_main(args, session, work, results, lock, taken):
    conn = None
    seq = 0
    while True:
        if args.until and os.path.exists(args.until):
            break
        try:
            number = work.get_nowait()
        except queue.Empty:
            break
        with lock:
            taken[0] += 1
        try:
            if conn is None:
                conn = smtplib.SMTP(args.host, args.port, timeout=60,
                                    source_address=(args.source, 0))
                conn.ehlo("load.test")
            code, text = send_one(conn, args, session, seq, number)
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            code, text = 0, ("connection: %s" % e).encode()
            conn = None
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, e.smtp_error
            conn = None
        text = text.decode(errors="replace").replace("\n", " ") if isinstance(text, bytes) else str(text)
        if code == 250:
            result = "accepted"
        elif 500 <= code < 600:
            result = "reject"
        else:
            result = "tempfail"
        with lock:
            results.append("%d %d %d %s %d %s" % (session, seq, number, result, code, text))
        if code == 421 and conn is not None:
            try:
                conn.close()
            except OSError:
                pass
            conn = None
        seq += 1
    if conn is not None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="127.0.0.1:25")
    ap.add_argument("--source", default="127.0.0.1")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--until")
    ap.add_argument("--from", dest="sender", default="load@example.test")
    ap.add_argument("--to", dest="rcpt", default="user@example.test")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    args.host, port = args.server.rsplit(":", 1)
    args.port = int(port)

    work = queue.Queue()
    for n in range(args.messages):
        work.put(n)
    results = []
    lock = threading.Lock()
    taken = [0]
    start = time.monotonic()
    threads = [threading.Thread(target=session_main, args=(args, s, work, results, lock, taken))
               for s in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    with open(args.out, "w") as f:
        for line in results:
            f.write(line + "\n")
    count = {"accepted": 0, "tempfail": 0, "reject": 0}
    for line in results:
        count[line.split()[3]] += 1
    print("sent=%d accepted=%d tempfail=%d reject=%d seconds=%.1f taken=%d"
          % (len(results), count["accepted"], count["tempfail"], count["reject"], seconds,
             taken[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
