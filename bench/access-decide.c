/*
 * access-decide.c - what the access decisions cost per request
 * (common/access.c), so that putting permit_forbid and relay first in
 * every policy request is known to be cheap.
 *
 * usage: access-decide        (make bench-access; needs redis-server)
 *
 * Starts its own redis-server on a unix socket in a temporary directory
 * (stopped and removed at exit), fills sluice:permit:* / sluice:forbid:*
 * with 65,536 CIDRs, 65,536 IPs, 100,000 addresses, 100,000 domains and 100 /regex/
 * members, reads one snapshot, then in interleaved rounds measures
 * access_decide() on an empty snapshot and on the full one, and
 * relay_match() on a 10-entry and a 1,000-entry relaying list (no entry
 * matching: the worst case, a linear walk). Prints CPU ns per call per
 * round and the medians. Timings, never pass/fail.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access.h"

#define ROUNDS 7
#define CALLS 200000
#define FILL 100000	/* addresses, domains */

static double
cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* kind: 0 CIDRs 10.a.b.0/24, 1 IPs 172.16.a.b, 2 addresses, 3 domains, 4 regexes */
static void
sadd_many(struct redis_client *c, const char *key, int kind, int n)
{
	static char buf[1001][64];
	const char *argv[1002];
	int i, j;

	for (i = 0; i < n; i += 1000) {
		argv[0] = "SADD";
		argv[1] = key;
		for (j = 0; j < 1000 && i + j < n; j++) {
			int v = i + j;

			if (kind == 0)
				snprintf(buf[j], sizeof(buf[j]), "10.%d.%d.0/24", v >> 8 & 255, v & 255);
			else if (kind == 1)
				snprintf(buf[j], sizeof(buf[j]), "172.16.%d.%d", v >> 8 & 255, v & 255);
			else if (kind == 2)
				snprintf(buf[j], sizeof(buf[j]), "user%d@partner.example", v);
			else if (kind == 3)
				snprintf(buf[j], sizeof(buf[j]), "domain%d.example", v);
			else
				snprintf(buf[j], sizeof(buf[j]), "/spam%d.*@hoster\\.example/", v);
			argv[2 + j] = buf[j];
		}
		freeReplyObject(redis_command_argv(c, 2 + j, argv, NULL));
	}
}

static volatile int sink;

static double
time_decide(const struct lists *l, const struct net_addr *ips, const char *const *senders)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < CALLS; i++)
		sink += access_decide(l, &ips[i & 255], senders[i & 3]).verdict;
	return (cpu_ns() - t0) / CALLS;
}

static double
time_relay(const struct relay_conf *conf, const struct relay_subject *s)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < CALLS / 10; i++)
		sink += relay_match(conf, s);
	return (cpu_ns() - t0) / (CALLS / 10);
}

int
main(void)
{
	char dir[] = "/tmp/sluice-access-bench.XXXXXX", sock[80], cmd[160], err[256];
	const char *senders[4] = { "nobody@nowhere.example", "user7@partner.example",
				   "x@domain99.example", "" };
	double r[4][ROUNDS];
	static struct relay_entry entries[1000];
	static char names[1000][32];
	struct relay_conf small = { entries, 10, false }, big = { entries, 1000, false };
	struct relay_subject subj = { 0 };
	struct net_addr ips[256], client;
	struct redis_settings rs;
	struct redis_client *c;
	struct lists *empty, *full;
	struct stat st;
	pid_t server;
	int i, k, skipped;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	if ((server = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save",
		       "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && stat(sock, &st) != 0; i++)
		usleep(20000);
	memset(&rs, 0, sizeof(rs));
	snprintf(rs.socket, sizeof(rs.socket), "%s", sock);
	rs.timeout_ms = 5000;
	if ((c = redis_client_new(&rs)) == NULL)
		return 1;
	sadd_many(c, "sluice:forbid:ip", 0, 65536);
	sadd_many(c, "sluice:permit:ip", 1, 65536);
	sadd_many(c, "sluice:permit:mailbox", 2, FILL);
	sadd_many(c, "sluice:forbid:domain", 3, FILL);
	sadd_many(c, "sluice:forbid:mailbox", 4, 100);
	empty = lists_new("sluice:");
	full = lists_refresh(empty, c, &skipped, err, sizeof(err));
	if (full == NULL) {
		fprintf(stderr, "lists: %s\n", err);
		return 1;
	}
	printf("lists: %zu entries, %d skipped\n", lists_entries(full), skipped);
	for (i = 0; i < 256; i++) {
		snprintf(cmd, sizeof(cmd), "192.0.2.%d", i);
		net_addr_parse(cmd, &ips[i]);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "relay%d.example", i);
		entries[i].match = names[i];
		entries[i].option = (enum relay_option)(i % 4);
	}
	net_addr_parse("198.51.100.7", &client);
	subj.client = &client;
	subj.client_name = "mail.sender.example";
	subj.sender_domain = "sender.example";
	subj.recipient_domain = "example.com";
	printf("round  decide-empty  decide-full  relay-10  relay-1000   (CPU ns per call)\n");
	for (k = 0; k < ROUNDS; k++) {
		r[0][k] = time_decide(empty, ips, senders);
		r[1][k] = time_decide(full, ips, senders);
		r[2][k] = time_relay(&small, &subj);
		r[3][k] = time_relay(&big, &subj);
		printf("%5d  %12.0f  %11.0f  %8.0f  %10.0f\n", k + 1, r[0][k], r[1][k], r[2][k], r[3][k]);
	}
	for (i = 0; i < 4; i++)
		qsort(r[i], ROUNDS, sizeof(double), cmp);
	printf("median %12.0f  %11.0f  %8.0f  %10.0f\n", r[0][ROUNDS / 2], r[1][ROUNDS / 2],
	       r[2][ROUNDS / 2], r[3][ROUNDS / 2]);
	printf("full/empty %.1fx; relay 1000/10 %.1fx\n", r[1][ROUNDS / 2] / r[0][ROUNDS / 2],
	       r[3][ROUNDS / 2] / r[2][ROUNDS / 2]);
	lists_release(full);
	lists_release(empty);
	redis_client_free(c);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
