/* test_patterns.c - address, domain, regex and CIDR lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "patterns.h"

static struct pattern_list list;

static int
setup(void **state)
{
	static const char *const items[] = {
		"Alice@Example.com", "example.org", "/.*@ttt-point\\.de/", "/news-[0-9]+@.*/",
		"192.0.2.0/24", "2001:db8::/32", "203.0.113.9",
	};
	size_t i;

	(void)state;
	memset(&list, 0, sizeof(list));
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		assert_int_equal(pattern_list_add(&list, items[i], NULL), 0);
	pattern_list_seal(&list);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pattern_list_free(&list);
	return 0;
}

static void
test_addresses(void **state)
{
	(void)state;
	assert_true(pattern_match_address(&list, "alice@example.com"));
	assert_true(pattern_match_address(&list, "ALICE@EXAMPLE.COM"));
	assert_false(pattern_match_address(&list, "bob@example.com"));
	assert_true(pattern_match_address(&list, "bob@example.org"));	/* its domain */
	assert_false(pattern_match_address(&list, "bob@sub.example.org"));
	assert_true(pattern_match_address(&list, "x@ttt-point.de"));
	assert_true(pattern_match_address(&list, "X@TTT-POINT.DE"));
	assert_false(pattern_match_address(&list, "x@ttt-pointXde"));
	assert_false(pattern_match_address(&list, "x@ttt-point.de.evil"));	/* anchored */
	assert_true(pattern_match_address(&list, "news-42@lists.example"));
	assert_false(pattern_match_address(&list, "xnews-42@lists.example"));
	assert_false(pattern_match_address(&list, NULL));
	assert_false(pattern_match_address(&list, ""));
}

static void
test_domains(void **state)
{
	(void)state;
	assert_true(pattern_match_domain(&list, "example.org", false));
	assert_true(pattern_match_domain(&list, "EXAMPLE.ORG", false));
	assert_false(pattern_match_domain(&list, "mail.example.org", false));
	assert_true(pattern_match_domain(&list, "mail.example.org", true));
	assert_true(pattern_match_domain(&list, "a.b.example.org", true));
	assert_false(pattern_match_domain(&list, "badexample.org", true));
	assert_false(pattern_match_domain(&list, "org", true));
	assert_false(pattern_match_domain(&list, "", true));
}

static void
test_networks(void **state)
{
	struct net_addr a;

	(void)state;
	assert_int_equal(net_addr_parse("192.0.2.200", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("192.0.3.1", &a), 0);
	assert_false(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("203.0.113.9", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("2001:db8:ffff::1", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("2001:db9::1", &a), 0);
	assert_false(pattern_match_ip(&list, &a));
	assert_int_equal(pattern_list_size(&list), 7);
}

static void
test_refused_items(void **state)
{
	struct pattern_list l;
	const char *why = NULL;
	char big[400];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/a(/", &why), -1);
	assert_non_null(strstr(why, "regular expression"));
	assert_int_equal(pattern_list_add(&l, "", &why), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pattern_list_add(&l, big, &why), -1);
	pattern_list_seal(&l);
	assert_false(pattern_match_address(&l, "a@b"));
	pattern_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_refused_items),
	};

	return cmocka_run_group_tests_name("patterns", tests, setup, teardown);
}
