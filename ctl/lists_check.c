/*
 * lists_check.c - sluice-ctl lists check: the list members the daemons skip.
 *
 *   sluice-ctl [-c FILE] [--json] lists check
 *
 * Reads every Redis list and map of SPEC.md (sluice:permit:*,
 * sluice:forbid:*, sluice:greylist:allow:*, sluice:internal, sluice:mailboxes,
 * sluice:ratelimit:exempt:*, sluice:domainmap, sluice:catchall,
 * sluice:copy:domain, sluice:alias:*; with the configured redis.prefix)
 * with the daemons' own loader (common/lists_read.c, through
 * lists_refresh_report()), so it finds exactly what they skip: an invalid
 * IP or CIDR in an IP list, a regex that does not compile or is too
 * costly, a malformed domain or map entry, a key of the wrong type (the
 * daemons keep its last good contents). One line per skipped member:
 * "KEY: 'MEMBER': REASON" (a whole key: "KEY: REASON"); --json: an array
 * of {"key", "member", "reason"}. Exit 0 when every member is valid,
 * 1 when some are skipped, 2 when Redis cannot be read.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "lists.h"

struct found {
	bool json;
	int count;
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

static void
report(void *arg, const char *key, const char *member, const char *why)
{
	struct found *f = arg;

	if (f->json) {
		printf("%s{\"key\":", f->count ? "," : "");
		json_string(key);
		printf(",\"member\":");
		json_string(member);
		printf(",\"reason\":");
		json_string(why);
		putchar('}');
	} else if (*member) {
		printf("%s: '%s': %s\n", key, member, why);
	} else {
		printf("%s: %s\n", key, why);
	}
	f->count++;
}

int
ctl_lists(const struct ctl_opts *opts, int argc, char **argv)
{
	struct found found = { opts->json, 0 };
	struct redis_client *redis;
	const struct lists *empty, *lists;
	char err[1024] = "";
	int skipped = 0;

	if (argc != 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: sluice-ctl lists check\n");
		return 2;
	}
	if ((redis = redis_client_new(&opts->cfg->redis)) == NULL
	    || (empty = lists_new(opts->cfg->redis_prefix)) == NULL) {
		fprintf(stderr, "sluice-ctl lists check: out of memory\n");
		redis_client_free(redis);
		return 2;
	}
	if (opts->json)
		putchar('[');
	lists = lists_refresh_report(empty, redis, report, &found, &skipped, err, sizeof(err));
	lists_release(empty);
	redis_client_free(redis);
	if (lists == NULL) {
		if (opts->json)
			printf("]\n");
		fprintf(stderr, "sluice-ctl lists check: reading the lists from Redis: %s\n", err);
		return 2;
	}
	if (opts->json)
		printf("]\n");
	else if (found.count == 0)
		printf("lists: %zu entries, all valid\n", lists_entries(lists));
	lists_release(lists);
	return found.count ? 1 : 0;
}
