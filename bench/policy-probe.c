/*
 * policy-probe.c - ask a Postfix policy server about one client until its
 * answer is the expected one; print how long that took.
 *
 *   policy-probe -s SOCKET -c CLIENT_IP -e defer|exempt [-k K] [-C CONNS]
 *                [-W TIMEOUT_MS] [-i INTERVAL_US] [-T T0_NS] [-x TAG]
 *
 * Used by bench/lists-bench.sh to see when a change to the Redis lists
 * has reached a daemon. Every request is an RCPT request from CLIENT_IP
 * with a sender never used before (probe-TAG-PID-N@probe.example.org), so
 * with greylisting on it is a new triplet: the answer is DEFER... unless
 * the client is exempt (say listed in sluice:permit:ip), then DUNNO.
 * "defer" expects an action starting with DEFER (or 450), "exempt" DUNNO
 * or another non-refusing action; a numeric 4xx/5xx or a REJECT is
 * neither (counted as others=). A daemon that fails open on a Redis error
 * also answers DUNNO, so run sluice-policyd with fail_open = false when
 * "exempt" must mean exempt.
 *
 * Why several connections held open and K consecutive answers: a daemon
 * may answer from several workers, each with a copy of the lists (today's
 * sluice-policyd refreshes one copy per worker); the server spreads
 * connections over its workers, so the probe holds CONNS connections
 * (default 8) and sends on them in turn, and the change counts as arrived
 * only when K consecutive answers (default 2 * CONNS) are the expected
 * one. The time reported is that of the first answer of that run,
 * measured from T0 (CLOCK_REALTIME in nanoseconds, as `date +%s%N` prints
 * it; default: the probe's start), so a script can take T0 just before it
 * changes Redis and start the probe just after.
 *
 * Output: one key=value line: result=ok|timeout ms=... polls=N errors=N
 * others=N last=ACTION. Exit status: 0 ok, 1 timeout (the expected answer never
 * came, or not K times in a row), 2 usage error. Connection and protocol
 * errors are counted, the connection is opened again, the probe goes on.
 * Every socket operation has a timeout (1 s); the whole probe ends at
 * TIMEOUT_MS (default 10000).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX	64
#define REPLY_MAX	1024
#define IO_TIMEOUT_MS	1000

static struct sockaddr_un sun = { .sun_family = AF_UNIX };

static int64_t
now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
open_conn(void)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000,
			      .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0
	    || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on fd; the action word into action. -1 on any error (the
 * caller closes fd). */
static int
ask(int fd, const char *client, const char *tag, uint64_t n, char *action, size_t size)
{
	char req[1024], reply[REPLY_MAX + 1];
	size_t len = 0, off = 0, k;
	int rl;

	rl = snprintf(req, sizeof(req),
		      "request=smtpd_access_policy\n"
		      "protocol_state=RCPT\n"
		      "protocol_name=ESMTP\n"
		      "client_address=%s\n"
		      "client_name=probe.example.org\n"
		      "reverse_client_name=probe.example.org\n"
		      "helo_name=probe.example.org\n"
		      "sender=probe-%s-%ld-%" PRIu64 "@probe.example.org\n"
		      "recipient=user1@example.com\n"
		      "recipient_count=0\n"
		      "instance=probe.%" PRIu64 "\n"
		      "\n",
		      client, tag, (long)getpid(), n, n);
	if (rl <= 0 || (size_t)rl >= sizeof(req))
		return -1;
	while (off < (size_t)rl) {
		ssize_t w = send(fd, req + off, (size_t)rl - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	while (len < 2 || memcmp(reply + len - 2, "\n\n", 2) != 0) {
		ssize_t r;

		if (len >= REPLY_MAX)
			return -1;
		r = recv(fd, reply + len, REPLY_MAX - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
	}
	reply[len] = '\0';
	if (strncmp(reply, "action=", 7) != 0)
		return -1;
	for (k = 0; k + 1 < size && reply[7 + k] && reply[7 + k] != ' ' && reply[7 + k] != '\n'; k++)
		action[k] = reply[7 + k];
	action[k] = '\0';
	return 0;
}

/* 0: deferred by greylisting; 1: exempt (DUNNO, PREPEND, OK...); 2: any
 * other answer, a numeric 4xx/5xx (sluice-policyd's tempfail when Redis
 * fails and fail_open is off) or a REJECT: neither of the two. */
static int
classify(const char *action)
{
	if (strncasecmp(action, "DEFER", 5) == 0 || strncmp(action, "450", 3) == 0)
		return 0;
	if ((action[0] >= '0' && action[0] <= '9') || strncasecmp(action, "REJECT", 6) == 0)
		return 2;
	return 1;
}

static long
parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "policy-probe: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: policy-probe -s SOCKET -c CLIENT_IP -e defer|exempt [-k K]"
		" [-C CONNS] [-W TIMEOUT_MS] [-i INTERVAL_US] [-T T0_NS] [-x TAG]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *client = NULL, *tag = "p";
	int fds[CONNS_MAX], conns = 8, ch, i;
	long k_need = -1, timeout_ms = 10000, interval_us = 1000;
	int64_t t0 = 0, deadline, run_start = 0;
	bool want_defer = false, have_expect = false;
	uint64_t polls = 0, errors = 0, others = 0, n = 0;
	long run = 0;
	char last[64] = "none";

	while ((ch = getopt(argc, argv, "s:c:e:k:C:W:i:T:x:")) != -1) {
		switch (ch) {
		case 's':
			if (strlen(optarg) >= sizeof(sun.sun_path))
				usage();
			strcpy(sun.sun_path, optarg);
			break;
		case 'c':
			client = optarg;
			break;
		case 'e':
			if (strcmp(optarg, "defer") != 0 && strcmp(optarg, "exempt") != 0)
				usage();
			want_defer = strcmp(optarg, "defer") == 0;
			have_expect = true;
			break;
		case 'k':
			k_need = parse_long(optarg, 1, 100000, "-k");
			break;
		case 'C':
			conns = (int)parse_long(optarg, 1, CONNS_MAX, "-C");
			break;
		case 'W':
			timeout_ms = parse_long(optarg, 1, 3600000, "-W");
			break;
		case 'i':
			interval_us = parse_long(optarg, 0, 1000000, "-i");
			break;
		case 'T':
			t0 = (int64_t)strtoll(optarg, NULL, 10);
			break;
		case 'x':
			tag = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || sun.sun_path[0] == '\0' || client == NULL || !have_expect
	    || strlen(client) > 64 || strlen(tag) > 32)
		usage();
	if (k_need < 0)
		k_need = 2L * conns;
	if (t0 <= 0)
		t0 = now_real_ns();
	deadline = now_real_ns() + (int64_t)timeout_ms * 1000000;
	for (i = 0; i < conns; i++)
		fds[i] = open_conn();

	for (i = 0; now_real_ns() < deadline; i = (i + 1) % conns) {
		int64_t t;
		int cls;

		if (fds[i] < 0 && (fds[i] = open_conn()) < 0) {
			errors++;
			run = 0;
			usleep(10000);
			continue;
		}
		polls++;
		if (ask(fds[i], client, tag, ++n, last, sizeof(last)) < 0) {
			errors++;
			close(fds[i]);
			fds[i] = -1;
			run = 0;
			continue;
		}
		t = now_real_ns();
		cls = classify(last);
		if (cls == 2)
			others++;
		if (cls == (want_defer ? 0 : 1)) {
			if (run++ == 0)
				run_start = t;
			if (run >= k_need) {
				printf("result=ok ms=%.1f polls=%" PRIu64 " errors=%" PRIu64
				       " others=%" PRIu64 " last=%s\n", (double)(run_start - t0) / 1e6,
				       polls, errors, others, last);
				return 0;
			}
		} else {
			run = 0;
		}
		if (interval_us)
			usleep((useconds_t)interval_us);
	}
	printf("result=timeout ms=%.1f polls=%" PRIu64 " errors=%" PRIu64 " others=%" PRIu64
	       " last=%s\n", (double)(now_real_ns() - t0) / 1e6, polls, errors, others, last);
	return 1;
}
