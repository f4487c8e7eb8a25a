/*
 * lists-lookup.c - what one lookup in the list cache costs, next to what
 * the alternative costs (issue 8's design questions; bench/README).
 *
 * usage: lists-lookup REDIS_SOCKET
 *
 * Against a Redis that holds the lists (bench/lists-bench.sh loads them),
 * prints: the time of a full read; a cached alias lookup against the same
 * lookup done per message in Redis (one pipelined round trip of SMEMBERS
 * for the address and its wildcard: the design not taken); an IP lookup in
 * sluice:permit:ip; and an address tried against 1,000 /regex/ members
 * that it does not match: ending in a literal (/.*@hoster1\.example/,
 * which the literal-tail test of pattern_regex.c skips) and not
 * (/.*@hoster1\.example.* /, which runs). Medians of 5 runs each; timings, never tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lists.h"

#define RUNS 5
#define IP_LOOKUPS 200000

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp);
	return v[RUNS / 2];
}

int
main(int argc, char **argv)
{
	struct redis_settings rs;
	struct redis_client *c;
	struct lists *empty, *l = NULL;
	struct pattern_list re, re_open;
	struct net_addr a;
	double full[RUNS], cached[RUNS], remote[RUNS], ip[RUNS], regex[RUNS], regex_open[RUNS], t;
	char key[96], err[512];
	size_t count;
	int run, i, skipped, hits = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: lists-lookup REDIS_SOCKET\n");
		return 2;
	}
	memset(&rs, 0, sizeof(rs));
	snprintf(rs.socket, sizeof(rs.socket), "%s", argv[1]);
	rs.timeout_ms = 5000;
	c = redis_client_new(&rs);
	empty = lists_new("sluice:");
	memset(&re, 0, sizeof(re));
	memset(&re_open, 0, sizeof(re_open));
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "/.*@hoster%d\\.example/", i);
		(void)pattern_list_add(&re, key, NULL);
		snprintf(key, sizeof(key), "/.*@hoster%d\\.example.*/", i);
		(void)pattern_list_add(&re_open, key, NULL);
	}
	pattern_list_seal(&re);
	pattern_list_seal(&re_open);
	(void)net_addr_parse("192.0.2.77", &a);
	for (run = 0; run < RUNS; run++) {
		t = now_us();
		lists_release(l);
		if ((l = lists_refresh(empty, c, &skipped, err, sizeof(err))) == NULL) {
			fprintf(stderr, "lists-lookup: %s\n", err);
			return 1;
		}
		full[run] = (now_us() - t) / 1000;
		t = now_us();
		for (i = 0; i < 1000000; i++) {
			snprintf(key, sizeof(key), "alias%d@example.com", i % 20000);
			hits += lists_alias(l, key, &count) != NULL;
		}
		cached[run] = (now_us() - t) / 1000000;
		t = now_us();
		for (i = 0; i < 10000; i++) {
			const char *a1[2] = { "SMEMBERS", key }, *a2[2] = { "SMEMBERS", "sluice:alias:alias@*" };
			const char **argvs[2] = { a1, a2 };
			int argcs[2] = { 2, 2 };
			redisReply *r[2];

			snprintf(key, sizeof(key), "sluice:alias:alias%d@example.com", i % 20000);
			if (redis_pipeline(c, 2, argcs, argvs, r) == 0) {
				freeReplyObject(r[0]);
				freeReplyObject(r[1]);
			}
		}
		remote[run] = (now_us() - t) / 10000;
		t = now_us();
		for (i = 0; i < IP_LOOKUPS; i++) {
			a.bytes[3] = (unsigned char)i;
			hits += pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a);
		}
		ip[run] = (now_us() - t) / IP_LOOKUPS;
		t = now_us();
		for (i = 0; i < 2000; i++)
			hits += pattern_match_address(&re, "someone.with.a.long.name@mail.example.org");
		regex[run] = (now_us() - t) / 2000;
		t = now_us();
		for (i = 0; i < 2000; i++)
			hits += pattern_match_address(&re_open, "someone.with.a.long.name@mail.example.org");
		regex_open[run] = (now_us() - t) / 2000;
	}
	printf("entries loaded:                       %zu (hits %d)\n", lists_entries(l), hits);
	printf("full read of every list:              %.0f ms\n", median(full));
	printf("alias lookup, cached:                 %.3f us\n", median(cached));
	printf("alias lookup, per message in Redis:   %.1f us (one round trip, 2 keys)\n",
	       median(remote));
	printf("IP lookup in sluice:permit:ip:        %.3f us\n", median(ip));
	printf("address against 1,000 regexes (miss): %.1f us (a literal tail each), %.1f us (none)\n",
	       median(regex), median(regex_open));
	lists_release(l);
	lists_release(empty);
	pattern_list_free(&re);
	pattern_list_free(&re_open);
	redis_client_free(c);
	return 0;
}
