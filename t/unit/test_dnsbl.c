/*
 * test_dnsbl.c - DNSBL zone entries: parsing, reply filters, weights,
 * query names (common/dnsbl_zone.h), and the policyd.dnsbl config group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dnsbl_zone.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct dnsbl_zone
parsed(const char *spec)
{
	struct dnsbl_zone z;
	const char *why = NULL;

	assert_int_equal(dnsbl_zone_parse(spec, &z, &why), 0);
	return z;
}

static void
test_parse(void **st)
{
	struct dnsbl_zone z;
	const char *why;

	(void)st;
	z = parsed("Zen.Example.TEST=127.0.0.[2..11]*3");
	assert_string_equal(z.name, "zen.example.test");
	assert_string_equal(z.filter, "127.0.0.[2..11]");
	assert_int_equal(z.weight, 3);
	z = parsed("wl.test*-5");
	assert_string_equal(z.name, "wl.test");
	assert_string_equal(z.filter, "");
	assert_int_equal(z.weight, -5);
	z = parsed("bl.test");
	assert_int_equal(z.weight, 1);
	z = parsed("bl.test=127.0.0.2");
	assert_int_equal(z.weight, 1);
	assert_string_equal(z.filter, "127.0.0.2");

	assert_int_equal(dnsbl_zone_parse("", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bad zone", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("a..b", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=127.0.0", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=127.0.0.256", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=127.0.0.[11..2]", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=127.0.0.[2..11", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test=127.0.0.2.5", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test*0", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test*x", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test*", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test*1001", &z, &why), -1);
	assert_int_equal(dnsbl_zone_parse("bl.test*2=127.0.0.2", &z, &why), -1);
	assert_non_null(why);
}

static void
test_filters(void **st)
{
	(void)st;
	assert_true(dnsbl_filter_match("", IP(127, 0, 0, 2)));
	assert_true(dnsbl_filter_match("", IP(10, 1, 2, 3)));
	assert_true(dnsbl_filter_match("127.0.0.2", IP(127, 0, 0, 2)));
	assert_false(dnsbl_filter_match("127.0.0.2", IP(127, 0, 0, 3)));
	assert_false(dnsbl_filter_match("127.0.0.[2..11]", IP(127, 0, 0, 1)));
	assert_true(dnsbl_filter_match("127.0.0.[2..11]", IP(127, 0, 0, 2)));
	assert_true(dnsbl_filter_match("127.0.0.[2..11]", IP(127, 0, 0, 11)));
	assert_false(dnsbl_filter_match("127.0.0.[2..11]", IP(127, 0, 0, 12)));
	assert_false(dnsbl_filter_match("127.0.0.[2..11]", IP(127, 0, 1, 4)));
	assert_true(dnsbl_filter_match("127.0.[0..255].[1;3;5..6]", IP(127, 0, 9, 3)));
	assert_true(dnsbl_filter_match("127.0.[0..255].[1;3;5..6]", IP(127, 0, 9, 6)));
	assert_false(dnsbl_filter_match("127.0.[0..255].[1;3;5..6]", IP(127, 0, 9, 4)));
	assert_false(dnsbl_filter_match("127.0.[0..255].[1;3;5..6]", IP(128, 0, 9, 1)));
}

/* The score the check computes: the weights of the entries listed. */
static int
score(const struct dnsbl_zone *zones, int n, const uint32_t *replies, int count)
{
	int i, s = 0;

	for (i = 0; i < n; i++)
		if (dnsbl_zone_listed(&zones[i], replies, count))
			s += zones[i].weight;
	return s;
}

static void
test_weights(void **st)
{
	struct dnsbl_zone z[3];
	uint32_t two[] = { IP(127, 0, 0, 2) }, many[] = { IP(127, 0, 0, 4), IP(127, 0, 0, 10) };
	uint32_t pbl[] = { IP(127, 0, 0, 11) }, nothing[] = { IP(127, 0, 0, 1) };

	(void)st;
	z[0] = parsed("zen.test=127.0.0.[2..10]*3");
	z[1] = parsed("zen.test=127.0.0.11*1");
	z[2] = parsed("wl.test*-5");
	assert_int_equal(score(z, 2, two, 1), 3);
	assert_int_equal(score(z, 2, many, 2), 3);	/* an entry counts once */
	assert_int_equal(score(z, 2, pbl, 1), 1);
	assert_int_equal(score(z, 2, nothing, 1), 0);
	assert_int_equal(score(z, 3, two, 1), -2);	/* listed in the allowlist too */
	assert_false(dnsbl_zone_listed(&z[2], two, 0));
}

static void
test_query_names(void **st)
{
	char out[DNSBL_QUERY_NAME_MAX + 1];

	(void)st;
	assert_int_equal(dnsbl_query_name("192.0.2.99", "zen.test", out, sizeof(out)), 0);
	assert_string_equal(out, "99.2.0.192.zen.test");
	assert_int_equal(dnsbl_query_name("2001:db8::567:89ab", "bl.test", out, sizeof(out)), 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
	assert_int_equal(dnsbl_query_name("unknown", "bl.test", out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2", "bl.test", out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2.1", "bl.test", out, 10), -1);
}

static struct sluice_config *
load(const char *text, char *err, size_t errsize)
{
	char path[] = "/tmp/test_dnsbl.XXXXXX";
	int fd = mkstemp(path);
	struct sluice_config *cfg;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg = config_load(path, err, errsize);
	unlink(path);
	return cfg;
}

static void
test_config(void **st)
{
	char err[1024] = "";
	struct sluice_config *cfg;

	(void)st;
	cfg = load("hostname = \"mx.example.test\";\npolicyd = { dnsbl = {\n threshold = 3;\n"
		   " budget = \"1500ms\";\n zones = ( \"zen.test=127.0.0.[2..11]*3\",\n \"wl.test*-5\" ); }; };\n",
		   err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->policyd.dnsbl.threshold, 3);
	assert_int_equal(cfg->policyd.dnsbl.budget_ms, 1500);
	assert_int_equal(cfg->policyd.dnsbl.zone_count, 2);
	assert_int_equal(cfg->policyd.dnsbl.zones[1].weight, -5);
	config_free(cfg);

	cfg = load("hostname = \"mx.example.test\";\npolicyd = { dnsbl = {\n"
		   " zones = ( \"zen.test\",\n \"zen.test=127.0.0\" ); }; };\n", err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, ":4: zones: 'zen.test=127.0.0'"));

	cfg = load("hostname = \"mx.example.test\";\npolicyd = { dnsbl = { treshold = 3; }; };\n",
		   err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "treshold"));

	cfg = load("hostname = \"mx.example.test\";\npolicyd = { dnsbl = { budget = \"10ms\"; }; };\n",
		   err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, "budget"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_query_names),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
