#!/usr/bin/env python3
"""dnsbl-isolation.py - latency of the requests that need no DNS while
others wait on a DNSBL zone whose server never answers.

  dnsbl-isolation.py SOCKET [--rounds 3] [--seconds 4] [--fast 16] [--slow 64]

Fast requests: RCPT requests for clients whose answers are all in the
Redis cache (10.1.x.y, prefilled by the caller), on --fast connections
(sluice-policyd spreads connections evenly over its workers, so every
worker holds some), one request every 5 ms per connection. Slow
requests: clients never seen (10.2.x.y), each waits the whole budget for
the dead zone, --slow of them always in flight. Rounds alternate: fast
alone, then fast with the slow load, so both see the same machine.
Prints p50/p99/max per round and the worst connection's p99, and the
medians over the rounds.
"""
import argparse, asyncio, itertools, statistics, time

def request(ip, instance):
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            f"client_address={ip}\nclient_name=unknown\nreverse_client_name=unknown\n"
            f"helo_name=h.test\nsender=a@nowhere.test\nrecipient=u@example.test\n"
            f"instance={instance}\n\n").encode()

async def ask(r, w, data):
    w.write(data)
    await w.drain()
    reply = await r.readuntil(b"\n\n")
    return reply

async def fast_conn(sock, n, stop, lat, seq):
    r, w = await asyncio.open_unix_connection(sock)
    mine = []
    while not stop.is_set():
        i = next(seq)
        ip = f"10.1.{(i // 250) % 4}.{i % 250 + 1}"
        t0 = time.perf_counter()
        await ask(r, w, request(ip, f"f{n}-{i}"))
        mine.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.005)
    w.close()
    lat.append(mine)

async def slow_conn(sock, stop, seq, counts):
    r, w = await asyncio.open_unix_connection(sock)
    while not stop.is_set():
        i = next(seq)
        ip = f"10.2.{(i // 250) % 250}.{i % 250 + 1}"
        t0 = time.perf_counter()
        await ask(r, w, request(ip, f"s{i}"))
        counts.append((time.perf_counter() - t0) * 1000)
    w.close()

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]

async def one_round(args, with_slow, seq_slow):
    stop = asyncio.Event()
    lat, slow = [], []
    seq = itertools.count()
    tasks = [asyncio.create_task(fast_conn(args.socket, n, stop, lat, seq)) for n in range(args.fast)]
    if with_slow:
        tasks += [asyncio.create_task(slow_conn(args.socket, stop, seq_slow, slow)) for _ in range(args.slow)]
        await asyncio.sleep(0.5)	# the slow ones are all waiting by now
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.gather(*tasks)
    allv = [x for c in lat for x in c]
    worst = max(pct(c, 0.99) for c in lat if c)
    return dict(n=len(allv), p50=pct(allv, 0.5), p99=pct(allv, 0.99), max=max(allv),
                worst_conn_p99=worst, slow_done=len(slow),
                slow_p50=pct(slow, 0.5) if slow else 0)

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--fast", type=int, default=16)
    ap.add_argument("--slow", type=int, default=64)
    args = ap.parse_args()
    seq_slow = itertools.count()
    res = {False: [], True: []}
    for rnd in range(args.rounds):
        for with_slow in (False, True):
            r = await one_round(args, with_slow, seq_slow)
            res[with_slow].append(r)
            print(f"round={rnd + 1} load={'dead-zone' if with_slow else 'none'} fast_requests={r['n']}"
                  f" p50_ms={r['p50']:.3f} p99_ms={r['p99']:.3f} max_ms={r['max']:.3f}"
                  f" worst_connection_p99_ms={r['worst_conn_p99']:.3f}"
                  f" slow_answered={r['slow_done']} slow_p50_ms={r['slow_p50']:.0f}", flush=True)
    for with_slow in (False, True):
        m = lambda k: statistics.median(r[k] for r in res[with_slow])
        print(f"median load={'dead-zone' if with_slow else 'none'} p50_ms={m('p50'):.3f}"
              f" p99_ms={m('p99'):.3f} worst_connection_p99_ms={m('worst_conn_p99'):.3f}")
    a = statistics.median(r['p99'] for r in res[False])
    b = statistics.median(r['p99'] for r in res[True])
    print(f"ratio p99 dead-zone/none={b / a:.2f}")

asyncio.run(main())
