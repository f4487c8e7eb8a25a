/* test_lists.c - the Redis list cache, against a real redis-server that
 * this test starts on a unix socket of its own and stops at the end
 * (redis_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "list_cache.h"
#include "lists.h"
#include "redis_fixture.h"

static struct redis_client *rc;

/* The group's setup and teardown: redis_fixture.h's, and one client. */
static int
start_redis(void **state)
{
	if (redis_setup(state) < 0)
		return -1;
	rc = client();
	return rc ? 0 : -1;
}

static int
stop_redis(void **state)
{
	redis_client_free(rc);
	return redis_teardown(state);
}

static void
redis(const char *fmt, const char *a, const char *b)
{
	redisReply *r = redis_command(rc, fmt, a, b);

	assert_non_null(r);
	freeReplyObject(r);
}

/* A full re-read of *l: the new snapshot replaces it; returns skipped,
 * or -1 when Redis failed (then *l stays). */
static int
refresh(struct lists **l, struct redis_client *c, char *err, size_t errsize)
{
	int skipped;
	struct lists *next = lists_refresh(*l, c, &skipped, err, errsize);

	if (next == NULL)
		return -1;
	lists_release(*l);
	*l = next;
	return skipped;
}

static void
test_refresh_and_match(void **state)
{
	struct lists *l = lists_new("t1:");
	struct net_addr a;
	char err[256];

	(void)state;
	assert_non_null(l);
	/* empty Redis: empty lists, no error */
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_int_equal(pattern_list_size(lists_get(l, LIST_PERMIT_IP)), 0);
	redis("SADD %s %s", "t1:permit:ip", "192.0.2.0/24");
	redis("SADD %s %s", "t1:forbid:mailbox", "/.*@ttt-point\\.de/");
	redis("SADD %s %s", "t1:permit:domain", "Example.ORG");
	redis("SADD %s %s", "t1:greylist:allow:recipient", "abuse@example.test");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_int_equal(net_addr_parse("192.0.2.77", &a), 0);
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	assert_false(pattern_match_ip(lists_get(l, LIST_FORBID_IP), &a));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "X@TTT-point.de"));
	assert_true(pattern_match_domain(lists_get(l, LIST_PERMIT_DOMAIN), "example.org", false));
	assert_true(pattern_match_address(lists_get(l, LIST_GREYLIST_RECIPIENT), "abuse@example.test"));
	/* a removal is seen at the next refresh */
	redis("SREM %s %s", "t1:permit:ip", "192.0.2.0/24");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_false(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	lists_release(l);
}

static void
test_bad_members_and_types(void **state)
{
	struct lists *l = lists_new("t2:");
	struct net_addr a;
	char err[256];

	(void)state;
	redis("SADD %s %s", "t2:permit:ip", "198.51.100.1");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	/* one invalid member among valid ones: skipped and counted */
	redis("SADD %s %s", "t2:permit:ip", "10.0.0.0/99");
	redis("SADD %s %s", "t2:forbid:mailbox", "/a(/");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 2);
	assert_int_equal(net_addr_parse("198.51.100.1", &a), 0);
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	/* a key of the wrong type keeps its last good contents */
	redis("DEL %s%s", "t2:permit:", "ip");
	redis("SET %s %s", "t2:permit:ip", "oops");
	assert_true(refresh(&l, rc, err, sizeof(err)) >= 1);
	assert_non_null(strstr(err, "t2:permit:ip"));
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	lists_release(l);
}

static void
test_redis_down_keeps_lists(void **state)
{
	struct redis_settings rs;
	struct redis_client *dead;
	struct lists *l = lists_new("t1:");
	char err[256];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	snprintf(rs.socket, sizeof(rs.socket), "%s/nothing.sock", redis_dir);
	rs.timeout_ms = 100;
	dead = redis_client_new(&rs);
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "a@ttt-point.de"));
	assert_int_equal(refresh(&l, dead, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nothing.sock"));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "a@ttt-point.de"));
	redis_client_free(dead);
	lists_release(l);
}

/* "/.*@aaa...[.]example/" of exactly len bytes. */
static void
regex_of_length(char *buf, size_t len)
{
	size_t k = len - strlen("/.*@[.]example/");

	strcpy(buf, "/.*@");
	memset(buf + 4, 'a', k);
	strcpy(buf + 4 + k, "[.]example/");
}

/* Issue 7, defects 1 and 2, through the real list loader: anchoring, the
 * 256-byte boundary that -t also draws (test_config.c), and a costly
 * member skipped with a reason naming it while the rest of its list works. */
static void
test_regex_members(void **state)
{
	struct lists *l = lists_new("t3:");
	char err[512], re[300], addr[300];

	(void)state;
	redis("SADD %s %s", "t3:permit:mailbox", "/alice@example\\.com|bob@example\\.com/");
	regex_of_length(re, 256);
	redis("SADD %s %s", "t3:greylist:allow:sender", re);
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_true(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "bob@example.com"));
	assert_false(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX),
					   "alice@example.com.evil.test"));
	assert_false(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "x-bob@example.com"));
	snprintf(addr, sizeof(addr), "u@%.*s.example", 256 - 15, re + 4);
	assert_true(pattern_match_address(lists_get(l, LIST_GREYLIST_SENDER), addr));

	regex_of_length(re, 257);
	redis("SADD %s %s", "t3:greylist:allow:recipient", re);
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "t3:greylist:allow:recipient"));
	assert_non_null(strstr(err, "longer than 256 bytes"));
	redis("DEL %s%s", "t3:greylist:allow:", "recipient");

	redis("SADD %s %s", "t3:forbid:mailbox", "/((.{0,40}){0,40}){0,40}/");
	redis("SADD %s %s", "t3:forbid:mailbox", "/.*@ttt-point\\.de/");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "t3:forbid:mailbox: '/((.{0,40}){0,40}){0,40}/'"));
	assert_non_null(strstr(err, "too large"));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "x@ttt-point.de"));
	/* the next refresh keeps the compiled regexes and still skips the bad one */
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 1);
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "x@ttt-point.de"));
	assert_true(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "alice@example.com"));
	lists_release(l);
}

/* Reloading one key shares every other list with the old snapshot. */
static void
test_reload_shares_parts(void **state)
{
	struct lists *l = lists_new("t4:"), *next;
	const char *keys[] = { "t4:permit:domain" };
	struct net_addr a;
	char err[256];
	int skipped;

	(void)state;
	redis("SADD %s %s", "t4:permit:ip", "203.0.113.0/24");
	redis("SADD %s %s", "t4:permit:domain", "one.example");
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	redis("SADD %s %s", "t4:permit:domain", "two.example");
	next = lists_reload(l, rc, keys, 1, &skipped, err, sizeof(err));
	assert_non_null(next);
	assert_ptr_equal(lists_get(next, LIST_PERMIT_IP), lists_get(l, LIST_PERMIT_IP));
	assert_true(pattern_match_domain(lists_get(next, LIST_PERMIT_DOMAIN), "two.example", false));
	/* the old snapshot is unchanged: readers of it see what they saw */
	assert_false(pattern_match_domain(lists_get(l, LIST_PERMIT_DOMAIN), "two.example", false));
	lists_release(l);
	assert_int_equal(net_addr_parse("203.0.113.9", &a), 0);
	assert_true(pattern_match_ip(lists_get(next, LIST_PERMIT_IP), &a));
	assert_int_equal(lists_key_kind(next, "t4:permit:ip"), LISTS_KEY_SET);
	assert_int_equal(lists_key_kind(next, "t4:gl:{x}:a:b"), LISTS_KEY_NONE);
	lists_release(next);
}

/* The hashes and the aliases: read in full, then one changed alias alone,
 * the others kept. */
static void
test_maps_and_aliases(void **state)
{
	struct lists *l = lists_new("t6:"), *next;
	const char *keys[] = { "t6:alias:info@example.com" };
	char key[64], err[256];
	const char *v;
	size_t count;
	int i, skipped;

	(void)state;
	redis("HSET %s %s new.example", "t6:domainmap", "old.example");
	redis("HSET %s Shop.Example %s", "t6:catchall", "orders@shop.example");
	redis("SADD %s %s", "t6:alias:info@example.com", "anna@example.com");
	redis("SADD %s %s", "t6:alias:info@example.com", "info@example.com");
	redis("SADD %s %s", "t6:alias:postmaster@*", "admin@example.com");
	for (i = 0; i < 2500; i++) {	/* more than one SCAN page and pipeline */
		snprintf(key, sizeof(key), "t6:alias:u%d@example.com", i);
		redis("SADD %s %s", key, "target@example.net");
	}
	assert_int_equal(refresh(&l, rc, err, sizeof(err)), 0);
	assert_string_equal(lists_map_get(l, MAP_DOMAINMAP, "OLD.example"), "new.example");
	assert_string_equal(lists_map_get(l, MAP_CATCHALL, "shop.example"), "orders@shop.example");
	assert_null(lists_map_get(l, MAP_COPY_DOMAIN, "shop.example"));
	v = lists_alias(l, "Info@Example.com", &count);
	assert_int_equal(count, 2);
	assert_true(strcmp(v, "anna@example.com") == 0 || strcmp(v, "info@example.com") == 0);
	assert_non_null(strstr("anna@example.com info@example.com", strmap_next(v)));
	v = lists_alias(l, "postmaster@*", &count);
	assert_int_equal(count, 1);
	assert_string_equal(v, "admin@example.com");
	assert_non_null(lists_alias(l, "u2499@example.com", &count));
	assert_int_equal(lists_entries(l), 2 + 2 + 2500);
	assert_int_equal(lists_key_kind(l, "t6:alias:x@y"), LISTS_KEY_ALIAS);
	assert_int_equal(lists_key_kind(l, "t6:catchall"), LISTS_KEY_MAP);

	redis("SREM %s %s", "t6:alias:info@example.com", "anna@example.com");
	next = lists_reload(l, rc, keys, 1, &skipped, err, sizeof(err));
	assert_non_null(next);
	v = lists_alias(next, "info@example.com", &count);
	assert_int_equal(count, 1);
	assert_string_equal(v, "info@example.com");
	assert_non_null(lists_alias(next, "u17@example.com", &count));	/* kept */
	assert_ptr_equal(lists_get(next, LIST_PERMIT_IP), lists_get(l, LIST_PERMIT_IP));
	redis("DEL %s%s", "t6:alias:", "info@example.com");
	lists_release(l);
	l = lists_reload(next, rc, keys, 1, &skipped, err, sizeof(err));
	assert_non_null(l);
	assert_null(lists_alias(l, "info@example.com", &count));
	assert_int_equal(lists_entries(l), 2 + 1 + 2500);
	lists_release(next);
	lists_release(l);
}

static struct sluice_config cache_cfg;
static char cache_prefix[] = "t5:";

static struct list_cache *
start_cache(void)
{
	char err[256];
	struct list_cache *cache;

	memset(&cache_cfg, 0, sizeof(cache_cfg));
	snprintf(cache_cfg.redis.socket, sizeof(cache_cfg.redis.socket), "%s", redis_sock);
	cache_cfg.redis.timeout_ms = 500;
	cache_cfg.redis_prefix = cache_prefix;
	cache_cfg.lists.bulk_timeout_ms = 2000;
	cache_cfg.lists.resync = 300;
	cache = list_cache_start(&cache_cfg, 3000, err, sizeof(err));
	assert_non_null(cache);
	return cache;
}

/* Waits (at most 2 s) until the cache's snapshot says a@b's domain is in
 * the permit:domain list (want) or not. */
static bool
seen(struct list_cache *cache, const char *domain, bool want)
{
	int i;

	for (i = 0; i < 200; i++) {
		unsigned long gen;
		const struct lists *l = list_cache_acquire(cache, &gen);
		bool in = pattern_match_domain(lists_get(l, LIST_PERMIT_DOMAIN), domain, false);

		lists_release(l);
		if (in == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* SADD, SREM, DEL and RENAME reach the cache by client-side caching. */
static void
test_cache_follows_changes(void **state)
{
	struct list_cache *cache;

	(void)state;
	redis("SADD %s %s", "t5:permit:domain", "before.example");
	cache = start_cache();
	assert_true(seen(cache, "before.example", true));	/* the first full read */
	redis("SADD %s %s", "t5:permit:domain", "added.example");
	assert_true(seen(cache, "added.example", true));
	redis("SREM %s %s", "t5:permit:domain", "added.example");
	assert_true(seen(cache, "added.example", false));
	redis("DEL %s%s", "t5:permit:", "domain");
	assert_true(seen(cache, "before.example", false));
	redis("SADD %s %s", "t5:new", "renamed.example");
	redis("RENAME %s %s", "t5:new", "t5:permit:domain");
	assert_true(seen(cache, "renamed.example", true));
	redis("RENAME %s %s", "t5:permit:domain", "t5:away");
	assert_true(seen(cache, "renamed.example", false));
	redis("SADD %s %s", "t5:permit:domain", "flushed.example");
	assert_true(seen(cache, "flushed.example", true));
	redis("FLUSHDB%s%s", "", "");
	assert_true(seen(cache, "flushed.example", false));
	list_cache_stop(cache);
}

static struct list_cache *shared_cache;
static atomic_bool readers_stop;

static void *
reader(void *arg)
{
	struct net_addr a;
	long n = 0;

	(void)arg;
	(void)net_addr_parse("198.51.100.7", &a);
	while (!atomic_load(&readers_stop)) {
		unsigned long gen;
		const struct lists *l = list_cache_acquire(shared_cache, &gen);

		(void)pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a);
		(void)pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "x@y.example");
		lists_release(l);
		n++;
	}
	return (void *)n;
}

/* Snapshots swapped under readers that never stop reading (run under
 * ASan/UBSan by make asan: a part freed too early is a use after free). */
static void
test_swap_under_readers(void **state)
{
	pthread_t t[4];
	char member[64];
	int i;

	(void)state;
	shared_cache = start_cache();
	atomic_store(&readers_stop, false);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (i = 0; i < 300; i++) {
		snprintf(member, sizeof(member), "198.51.%d.0/24", i % 250);
		redis("SADD %s %s", "t5:permit:ip", member);
		redis("SADD %s %s", "t5:permit:mailbox", i % 2 ? "/.*@y\\.example/" : "/z@.*/");
		usleep(2000);
	}
	usleep(300000);
	atomic_store(&readers_stop, true);
	for (i = 0; i < 4; i++) {
		void *n;

		pthread_join(t[i], &n);
		assert_true((long)n > 0);
	}
	list_cache_stop(shared_cache);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_and_match),
		cmocka_unit_test(test_bad_members_and_types),
		cmocka_unit_test(test_redis_down_keeps_lists),
		cmocka_unit_test(test_regex_members),
		cmocka_unit_test(test_reload_shares_parts),
		cmocka_unit_test(test_maps_and_aliases),
		cmocka_unit_test(test_cache_follows_changes),
		cmocka_unit_test(test_swap_under_readers),
	};

	return cmocka_run_group_tests_name("lists", tests, start_redis, stop_redis);
}
