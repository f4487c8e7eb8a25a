#!/usr/bin/python3
"""syscall_check.py UNIT STRACE_LOG... - would the unit's SystemCallFilter=
have allowed every system call in these strace -f logs?

Reads the SystemCallFilter= lines of UNIT in order, as systemd does: the
first one is an allow list (a leading ~ would make it a deny list), a
later ~ line removes from it, a later plain line adds to it; @groups are
expanded with `systemd-analyze syscall-filter` (this machine's systemd,
so the groups are the ones the unit gets). Prints the calls made and not
allowed, one per line with a count, and "allowed: N distinct calls made"
(exit 0) or "denied: ..." (exit 1).
"""
import re
import subprocess
import sys


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                         capture_output=True, text=True).stdout
    table, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            table[cur] = []
        elif cur and line.startswith("    ") and not line.strip().startswith("#"):
            table[cur].append(line.strip())
    return table


def expand(names, table, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            out |= expand(table.get(n, []), table, seen)
        else:
            out.add(n)
    return out


def allowed_set(unit, table):
    allowed, deny_list = None, False
    for line in open(unit):
        m = re.match(r"^SystemCallFilter=(.*)$", line.strip())
        if not m:
            continue
        val = m.group(1).strip()
        remove = val.startswith("~")
        calls = expand(val.lstrip("~").split(), table)
        if allowed is None:
            deny_list = remove
            allowed = calls
        elif remove != deny_list:
            allowed -= calls
        else:
            allowed |= calls
    if allowed is None or deny_list:
        sys.exit("syscall_check: %s: no allow-list SystemCallFilter=" % unit)
    return allowed


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    table = groups()
    allowed = allowed_set(sys.argv[1], table)
    made = {}
    call = re.compile(r"^\d+\s+(?:\d+:\d+:\d+(?:\.\d+)?\s+)?([a-z_][a-z0-9_]*)\(")
    for log in sys.argv[2:]:
        for line in open(log, errors="replace"):
            m = call.match(line)
            if m:
                made[m.group(1)] = made.get(m.group(1), 0) + 1
    denied = sorted(c for c in made if c not in allowed)
    for c in denied:
        print("%s %d" % (c, made[c]))
    if denied:
        print("denied: %s" % " ".join(denied))
        return 1
    print("allowed: %d distinct calls made" % len(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
