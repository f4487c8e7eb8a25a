/*
 * greylist.c - sluice-ctl greylist show|forget: policyd's greylisting
 * state of a triplet or of a client.
 *
 *   sluice-ctl [-c FILE] [--json] greylist show --client IP [--from ADDR --to ADDR]
 *   sluice-ctl [-c FILE] [--json] greylist forget --client IP [--from ADDR --to ADDR]
 *
 * With --from and --to: the one triplet (client network, sender,
 * recipient), its key built by greylist_keys() (policyd/greylist.h, the
 * check's own construction: sender normalized, client masked to
 * greylist.ipv4_prefix/ipv6_prefix). With --client alone: every triplet
 * of the client's network and its pass counter, found with SCAN MATCH
 * <prefix>gl:{SUBJECT}:* (never KEYS), pages of 1000, at most 100000
 * keys shown or forgotten (the output says when it stopped there).
 * Triplets keyed on an SPF-authorized domain (greylist.spf_domain_triplet,
 * subject "spf:DOMAIN") are not the client's and are not included.
 *
 * show: per key its state - "waiting" (first seen at T, passes from T +
 * greylist.delay on, until the key expires), "passed" (remembered until
 * its TTL runs out), the pass counter ("auto-allowlisted" once it reaches
 * greylist.auto_allowlist_clients) - and its TTL; --json: an array of
 * objects. forget: deletes them (DEL), so the next attempt is a new
 * triplet, and says how many. Time is Redis's (TIME), as the scripts'.
 * Exit 0, or 2 on usage or Redis errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "greylist.h"
#include "network.h"
#include "redis.h"

#define SCAN_PAGE "1000"
#define KEYS_MAX 100000

struct gl_cmd {
	const struct ctl_opts *opts;
	struct redis_client *redis;
	bool forget;
	long now;
	int shown, deleted;
};

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Redis's clock (the scripts' own), or -1 when Redis does not answer. */
static long
redis_now(struct redis_client *redis)
{
	redisReply *r = redis_command(redis, "TIME");
	long now = -1;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
	    && r->element[0]->type == REDIS_REPLY_STRING)
		now = strtol(r->element[0]->str, NULL, 10);
	if (r)
		freeReplyObject(r);
	return now;
}

/* One key: show its state, or delete it. -1 on a Redis failure. */
static int
one_key(struct gl_cmd *c, const char *key, bool is_awl)
{
	const struct greylist_conf *g = &c->opts->cfg->policyd.greylist;
	redisReply *v, *t;
	char state[160];
	long ttl, n;

	if (c->forget) {
		const char *argv[] = { "DEL", key };
		redisReply *r = redis_command_argv(c->redis, 2, argv, NULL);

		if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
			fprintf(stderr, "sluice-ctl greylist: DEL %s: %s\n", key,
				r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply")
				: redis_client_error(c->redis));
			if (r)
				freeReplyObject(r);
			return -1;
		}
		c->deleted += (int)r->integer;
		freeReplyObject(r);
		return 0;
	}
	{
		const char *gargv[] = { "GET", key }, *targv[] = { "TTL", key };

		v = redis_command_argv(c->redis, 2, gargv, NULL);
		t = redis_command_argv(c->redis, 2, targv, NULL);
	}
	if (v == NULL || t == NULL) {
		fprintf(stderr, "sluice-ctl greylist: %s\n", redis_client_error(c->redis));
		if (v) freeReplyObject(v);
		if (t) freeReplyObject(t);
		return -1;
	}
	ttl = t->type == REDIS_REPLY_INTEGER ? (long)t->integer : -2;
	if (v->type == REDIS_REPLY_NIL) {
		snprintf(state, sizeof(state), "new (no state: the next attempt is deferred)");
	} else if (v->type != REDIS_REPLY_STRING) {
		snprintf(state, sizeof(state), "not a string key (the daemon's script fails on it)");
	} else if (is_awl) {
		n = strtol(v->str, NULL, 10);
		if (g->auto_allowlist_clients > 0 && n >= g->auto_allowlist_clients)
			snprintf(state, sizeof(state), "auto-allowlisted (%ld passed triplets)", n);
		else
			snprintf(state, sizeof(state), "%ld passed triplet(s) of %d for auto-allowlisting",
				 n, g->auto_allowlist_clients);
	} else if (v->str[0] == 'p') {
		snprintf(state, sizeof(state), "passed (first seen %ld s ago)",
			 c->now - strtol(v->str + 1, NULL, 10));
	} else {
		long seen = strtol(v->str, NULL, 10), left = seen + g->delay - c->now;

		if (left > 0)
			snprintf(state, sizeof(state), "deferred: first seen %ld s ago, passes in %ld s",
				 c->now - seen, left);
		else
			snprintf(state, sizeof(state), "waiting: first seen %ld s ago, passes at the"
				 " next attempt", c->now - seen);
	}
	if (c->opts->json) {
		printf("%s{\"key\":", c->shown ? "," : "");
		json_string(key);
		printf(",\"kind\":\"%s\",\"value\":", is_awl ? "pass-counter" : "triplet");
		if (v->type == REDIS_REPLY_STRING)
			json_string(v->str);
		else
			printf("null");
		printf(",\"ttl\":%ld,\"state\":", ttl);
		json_string(state);
		putchar('}');
	} else {
		printf("%s\n  state: %s\n  ttl: %ld\n", key, state, ttl);
	}
	c->shown++;
	freeReplyObject(v);
	freeReplyObject(t);
	return 0;
}

/* "<prefix>gl:{subject}:*" with the glob characters of the parts escaped. */
static void
scan_pattern(const char *awl, char *out, size_t size)
{
	size_t n = 0, len = strlen(awl) - strlen("awl");	/* up to "...}:" */
	size_t i;

	for (i = 0; i < len && n + 3 < size; i++) {
		if (strchr("*?[]\\", awl[i]))
			out[n++] = '\\';
		out[n++] = awl[i];
	}
	out[n++] = '*';
	out[n] = '\0';
}

static int
scan_client(struct gl_cmd *c, const struct greylist_keys *k)
{
	char cursor[32] = "0", match[3 * TRIPLET_KEY_MAX];
	size_t awl_len = strlen(k->awl);
	int seen = 0;

	scan_pattern(k->awl, match, sizeof(match));
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", match, "COUNT", SCAN_PAGE };
		redisReply *r = redis_command_argv(c->redis, 6, argv, NULL);
		size_t i;

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[0]->type != REDIS_REPLY_STRING
		    || r->element[1]->type != REDIS_REPLY_ARRAY) {
			fprintf(stderr, "sluice-ctl greylist: SCAN: %s\n", r == NULL
				? redis_client_error(c->redis)
				: r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			if (r)
				freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			const redisReply *key = r->element[1]->element[i];

			if (key->type != REDIS_REPLY_STRING)
				continue;
			if (seen++ >= KEYS_MAX) {
				fprintf(stderr, "sluice-ctl greylist: stopped after %d keys\n",
					KEYS_MAX);
				freeReplyObject(r);
				return 0;
			}
			if (one_key(c, key->str, key->len == awl_len
				    && strcmp(key->str, k->awl) == 0) < 0) {
				freeReplyObject(r);
				return -1;
			}
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int
ctl_greylist(const struct ctl_opts *opts, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "client", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct gl_cmd c = { .opts = opts };
	struct greylist_keys k;
	struct net_addr addr;
	const char *client = NULL, *from = NULL, *to = NULL;
	int ch, rc;

	if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "forget") != 0)) {
		fprintf(stderr, "usage: sluice-ctl greylist show|forget --client IP"
			" [--from ADDR --to ADDR]\n");
		return 2;
	}
	c.forget = strcmp(argv[1], "forget") == 0;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': client = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		default:
			fprintf(stderr, "sluice-ctl greylist: unknown option (sluice-ctl -h)\n");
			return 2;
		}
	}
	if (optind < argc || client == NULL || net_addr_parse(client, &addr) < 0
	    || (from == NULL) != (to == NULL)) {
		fprintf(stderr, "sluice-ctl greylist: --client IP, and --from with --to or"
			" neither (sluice-ctl -h)\n");
		return 2;
	}
	if (from && strcmp(from, "<>") == 0)
		from = "";
	if (greylist_keys(opts->cfg, client, from, to, &k) < 0) {
		fprintf(stderr, "sluice-ctl greylist: no greylisting key for these addresses\n");
		return 2;
	}
	if ((c.redis = redis_client_new(&opts->cfg->redis)) == NULL) {
		fprintf(stderr, "sluice-ctl greylist: out of memory\n");
		return 2;
	}
	if ((c.now = redis_now(c.redis)) < 0) {
		fprintf(stderr, "sluice-ctl greylist: Redis: %s\n", redis_client_error(c.redis));
		redis_client_free(c.redis);
		return 2;
	}
	if (opts->json && !c.forget)
		putchar('[');
	rc = from ? one_key(&c, k.key, false) : scan_client(&c, &k);
	if (opts->json && !c.forget)
		printf("]\n");
	if (rc == 0 && c.forget) {
		if (opts->json)
			printf("{\"deleted\":%d}\n", c.deleted);
		else
			printf("forgot %d key(s)\n", c.deleted);
	} else if (rc == 0 && !opts->json && c.shown == 0) {
		printf("no greylisting state for %s (subject %s)\n", client, k.subject);
	}
	redis_client_free(c.redis);
	return rc < 0 ? 2 : 0;
}
