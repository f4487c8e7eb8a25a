/* test_lists.c - the Redis list cache, against a real redis-server that
 * this test starts on a unix socket of its own and stops at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lists.h"

static char dir[] = "/tmp/sluice-lists.XXXXXX";
static char sock[96];
static pid_t server;
static struct redis_client *client;

static int
start_redis(void **state)
{
	struct redis_settings rs;
	struct stat st;
	int i;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	if ((server = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && stat(sock, &st) != 0; i++)
		usleep(20000);
	memset(&rs, 0, sizeof(rs));
	snprintf(rs.socket, sizeof(rs.socket), "%s", sock);
	rs.timeout_ms = 500;
	client = redis_client_new(&rs);
	return client ? 0 : -1;
}

static int
stop_redis(void **state)
{
	char path[160];

	(void)state;
	redis_client_free(client);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	return system(path) == 0 ? 0 : -1;
}

static void
redis(const char *fmt, const char *a, const char *b)
{
	redisReply *r = redis_command(client, fmt, a, b);

	assert_non_null(r);
	freeReplyObject(r);
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
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	assert_int_equal(pattern_list_size(lists_get(l, LIST_PERMIT_IP)), 0);
	redis("SADD %s %s", "t1:permit:ip", "192.0.2.0/24");
	redis("SADD %s %s", "t1:forbid:mailbox", "/.*@ttt-point\\.de/");
	redis("SADD %s %s", "t1:permit:domain", "Example.ORG");
	redis("SADD %s %s", "t1:greylist:allow:recipient", "abuse@example.test");
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	assert_int_equal(net_addr_parse("192.0.2.77", &a), 0);
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	assert_false(pattern_match_ip(lists_get(l, LIST_FORBID_IP), &a));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "X@TTT-point.de"));
	assert_true(pattern_match_domain(lists_get(l, LIST_PERMIT_DOMAIN), "example.org", false));
	assert_true(pattern_match_address(lists_get(l, LIST_GREYLIST_RECIPIENT), "abuse@example.test"));
	/* a removal is seen at the next refresh */
	redis("SREM %s %s", "t1:permit:ip", "192.0.2.0/24");
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	assert_false(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	lists_free(l);
}

static void
test_bad_members_and_types(void **state)
{
	struct lists *l = lists_new("t2:");
	struct net_addr a;
	char err[256];

	(void)state;
	redis("SADD %s %s", "t2:permit:ip", "198.51.100.1");
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	/* one invalid member among valid ones: skipped and counted */
	redis("SADD %s %s", "t2:permit:ip", "10.0.0.0/99");
	redis("SADD %s %s", "t2:forbid:mailbox", "/a(/");
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 2);
	assert_int_equal(net_addr_parse("198.51.100.1", &a), 0);
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	/* a key of the wrong type keeps its last good contents */
	redis("DEL %s%s", "t2:permit:", "ip");
	redis("SET %s %s", "t2:permit:ip", "oops");
	assert_true(lists_refresh(l, client, err, sizeof(err)) >= 1);
	assert_non_null(strstr(err, "t2:permit:ip"));
	assert_true(pattern_match_ip(lists_get(l, LIST_PERMIT_IP), &a));
	lists_free(l);
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
	snprintf(rs.socket, sizeof(rs.socket), "%s/nothing.sock", dir);
	rs.timeout_ms = 100;
	dead = redis_client_new(&rs);
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "a@ttt-point.de"));
	assert_int_equal(lists_refresh(l, dead, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nothing.sock"));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "a@ttt-point.de"));
	redis_client_free(dead);
	lists_free(l);
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
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 0);
	assert_true(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "bob@example.com"));
	assert_false(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX),
					   "alice@example.com.evil.test"));
	assert_false(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "x-bob@example.com"));
	snprintf(addr, sizeof(addr), "u@%.*s.example", 256 - 15, re + 4);
	assert_true(pattern_match_address(lists_get(l, LIST_GREYLIST_SENDER), addr));

	regex_of_length(re, 257);
	redis("SADD %s %s", "t3:greylist:allow:recipient", re);
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "t3:greylist:allow:recipient"));
	assert_non_null(strstr(err, "longer than 256 bytes"));
	redis("DEL %s%s", "t3:greylist:allow:", "recipient");

	redis("SADD %s %s", "t3:forbid:mailbox", "/((.{0,40}){0,40}){0,40}/");
	redis("SADD %s %s", "t3:forbid:mailbox", "/.*@ttt-point\\.de/");
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "t3:forbid:mailbox: '/((.{0,40}){0,40}){0,40}/'"));
	assert_non_null(strstr(err, "too large"));
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "x@ttt-point.de"));
	/* the next refresh keeps the compiled regexes and still skips the bad one */
	assert_int_equal(lists_refresh(l, client, err, sizeof(err)), 1);
	assert_true(pattern_match_address(lists_get(l, LIST_FORBID_MAILBOX), "x@ttt-point.de"));
	assert_true(pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), "alice@example.com"));
	lists_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_and_match),
		cmocka_unit_test(test_bad_members_and_types),
		cmocka_unit_test(test_redis_down_keeps_lists),
		cmocka_unit_test(test_regex_members),
	};

	return cmocka_run_group_tests_name("lists", tests, start_redis, stop_redis);
}
