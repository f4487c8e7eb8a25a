# lists-resp.awk - the Redis commands of bench/lists-bench.sh as RESP, for
# redis-cli --pipe (the fastest way to load a few hundred thousand members).
#
#   awk -v what=lists|unload|big [-v big=N] -v marker=CIDR -f bench/lists-resp.awk
#
#   lists   SADD 10,000 aliases sluice:alias:aliasI@example.com (1 to 3
#           targets: local mailboxes, external partners), 100,000 addresses
#           into sluice:forbid:mailbox, 100 regexes into sluice:permit:mailbox,
#           100,000 CIDRs into sluice:permit:ip (65,536 /24 in 10/8, 24,464
#           /28 in 172.16/12, 10,000 /48 in 2001:db8::/32), then MARKER alone,
#           last, so a daemon that applies MARKER has everything before it.
#   unload  UNLINK all of the above.
#   big     BIG host routes (/32 in 10/8) into sluice:permit:ip, then MARKER.
#
# Nothing here matches bench/policy-load's requests: its clients are never
# in 10/8, 172/8, 192/8 nor IPv6, its senders are @cN.example.net, its
# recipients userN@example.com. Members go 1000 to a command. Run with
# LC_ALL=C: RESP lengths are in bytes.
function emit(n, a,   i, s) {
	s = "*" n "\r\n"
	for (i = 1; i <= n; i++)
		s = s "$" length(a[i]) "\r\n" a[i] "\r\n"
	printf "%s", s
}
# sadd KEY FIRST COUNT: members m(FIRST) .. m(FIRST+COUNT-1) in batches
function sadd(key, first, count, kind,   a, n, i) {
	n = 0
	for (i = first; i < first + count; i++) {
		if (n == 0) { a[1] = "SADD"; a[2] = key; n = 2 }
		a[++n] = member(kind, i)
		if (n == 1002) { emit(n, a); n = 0 }
	}
	if (n > 2) emit(n, a)
}
function member(kind, i,   j) {
	if (kind == "cidr") {
		if (i < 65536)
			return sprintf("10.%d.%d.0/24", int(i / 256), i % 256)
		j = i - 65536
		if (j < 24464)
			return sprintf("172.%d.%d.%d/28", 16 + int(j / 4096), int(j / 16) % 256, (j % 16) * 16)
		return sprintf("2001:db8:%x::/48", i - 90000)
	}
	if (kind == "host")	# step 4: host routes in 10/8 (16M of them at most)
		return sprintf("%d.%d.%d.%d/32", 10 + int(i / 16777216), int(i / 65536) % 256,
			       int(i / 256) % 256, i % 256)
	if (kind == "mailbox")
		return sprintf("spam%d@sender%d.example.org", i, i % 5000)
	if (kind == "regex")
		return sprintf("/.*@hoster[0-9]+\\.example%d/", i)
}
BEGIN {
	if (what == "lists") {
		for (i = 0; i < 10000; i++) {
			a[1] = "SADD"; a[2] = sprintf("sluice:alias:alias%d@example.com", i)
			n = 1 + i % 3
			for (k = 1; k <= n; k++)
				a[2 + k] = (k == 3) ? sprintf("alias%d@partner%d.example.net", i, i % 50) \
						    : sprintf("user%d@example.com", (i * 7 + k) % 20000)
			emit(2 + n, a)
		}
		sadd("sluice:forbid:mailbox", 0, 100000, "mailbox")
		sadd("sluice:permit:mailbox", 0, 100, "regex")
		sadd("sluice:permit:ip", 0, 100000, "cidr")
		a[1] = "SADD"; a[2] = "sluice:permit:ip"; a[3] = marker; emit(3, a)
	} else if (what == "unload") {
		a[1] = "UNLINK"; a[2] = "sluice:permit:ip"; a[3] = "sluice:forbid:mailbox"
		a[4] = "sluice:permit:mailbox"; emit(4, a)
		n = 0
		for (i = 0; i < 10000; i++) {
			if (n == 0) { a[1] = "UNLINK"; n = 1 }
			a[++n] = sprintf("sluice:alias:alias%d@example.com", i)
			if (n == 1001) { emit(n, a); n = 0 }
		}
		if (n > 1) emit(n, a)
	} else if (what == "big") {
		sadd("sluice:permit:ip", 0, big, "host")
		a[1] = "SADD"; a[2] = "sluice:permit:ip"; a[3] = marker; emit(3, a)
	}
}
