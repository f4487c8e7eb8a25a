/*
 * test_dns_cache.c - the resolver's answer cache (milter/dns_cache.h): a
 * put answer comes back as an independent copy, by name without case or
 * trailing dot and per type; TTL 0 and TEMPFAIL are never kept; negative
 * answers are kept at most DNS_CACHE_NEGATIVE_MAX seconds; a full cache
 * keeps what it has. Expiry by the clock is covered by the TTL handed
 * back (the remaining seconds), not by sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/nameser.h>
#include <string.h>

#include "dns_cache.h"

static void
test_put_get(void **state)
{
	struct dns_cache *c = dns_cache_new(10);
	char r1[] = "\x0bv=spf1 -all", r2[] = "\x03two";
	char *data[] = { r1, r2 };
	int len[] = { 12, 4 };
	struct dns_answer a, b;
	char txt[64];

	(void)state;
	assert_non_null(c);
	assert_int_equal(dns_answer_make(&a, DNS_OK, 60, 2, data, len), 0);
	dns_cache_put(c, "Example.TEST.", ns_t_txt, &a);
	dns_answer_free(&a);
	assert_false(dns_cache_get(c, "example.test", ns_t_a, &b));	/* other type */
	assert_true(dns_cache_get(c, "example.test", ns_t_txt, &b));
	assert_int_equal(b.status, DNS_OK);
	assert_int_equal(b.count, 2);
	assert_true(b.ttl > 0 && b.ttl <= 60);
	assert_int_equal(dns_txt(&b, 0, txt, sizeof(txt)), 0);
	assert_string_equal(txt, "v=spf1 -all");
	assert_int_equal(dns_txt(&b, 1, txt, sizeof(txt)), 0);
	assert_string_equal(txt, "two");
	dns_answer_free(&b);
	assert_true(dns_cache_get(c, "EXAMPLE.test.", ns_t_txt, &b));	/* case, dot */
	dns_answer_free(&b);
	dns_cache_free(c);
}

static void
test_not_kept(void **state)
{
	struct dns_cache *c = dns_cache_new(2);
	struct dns_answer a, b;

	(void)state;
	dns_answer_make(&a, DNS_TEMPFAIL, 60, 0, NULL, NULL);
	dns_cache_put(c, "t.test", ns_t_txt, &a);
	assert_false(dns_cache_get(c, "t.test", ns_t_txt, &b));
	dns_answer_make(&a, DNS_OK, 0, 0, NULL, NULL);
	dns_cache_put(c, "z.test", ns_t_txt, &a);
	assert_false(dns_cache_get(c, "z.test", ns_t_txt, &b));
	/* negative answers: capped */
	dns_answer_make(&a, DNS_NXDOMAIN, 32768, 0, NULL, NULL);
	dns_cache_put(c, "nx.test", ns_t_txt, &a);
	assert_true(dns_cache_get(c, "nx.test", ns_t_txt, &b));
	assert_int_equal(b.status, DNS_NXDOMAIN);
	assert_true(b.ttl <= DNS_CACHE_NEGATIVE_MAX);
	dns_answer_free(&b);
	/* full (2): the third is not kept, the first two stay */
	dns_answer_make(&a, DNS_NODATA, 60, 0, NULL, NULL);
	dns_cache_put(c, "nodata.test", ns_t_txt, &a);
	dns_cache_put(c, "third.test", ns_t_txt, &a);
	assert_true(dns_cache_get(c, "nodata.test", ns_t_txt, &b));
	dns_answer_free(&b);
	assert_false(dns_cache_get(c, "third.test", ns_t_txt, &b));
	assert_true(dns_cache_get(c, "nx.test", ns_t_txt, &b));
	dns_answer_free(&b);
	dns_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_not_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
