/*
 * test_authres.c - Authentication-Results values (milter/authres.h): the
 * exact text we write (folded as Postfix wants, "none" without results,
 * comments, property values bare or quoted as RFC 8601 2.2 allows), the
 * bound, and reading the authserv-id of received fields (tokens, quoted
 * strings, comments before it, garbage). The grammar itself is checked on
 * delivered mail by t/tools/authres.py (t_auth.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authres.h"

static void
test_format(void **state)
{
	struct authres ar;
	const char *spf[] = { "smtp.mailfrom", "a@sender.test", NULL };
	const char *dkim[] = { "header.d", "sender.test", "header.s", "sel", "header.a", "rsa-sha256",
		"header.b", "ab/c+d=", NULL };
	const char *dmarc[] = { "header.from", "sender.test", NULL };

	(void)state;
	authres_start(&ar, "mx.example.test");
	assert_string_equal(authres_value(&ar), " mx.example.test; none");
	authres_start(&ar, "mx.example.test");
	authres_add(&ar, "spf", "pass", NULL, spf);
	authres_add(&ar, "dkim", "pass", NULL, dkim);
	authres_add(&ar, "dmarc", "fail", "p=reject dis=reject", dmarc);
	assert_int_equal(ar.results, 3);
	assert_string_equal(authres_value(&ar),
			    " mx.example.test;\n\tspf=pass smtp.mailfrom=a@sender.test;\n"
			    "\tdkim=pass header.d=sender.test header.s=sel header.a=rsa-sha256"
			    " header.b=\"ab/c+d=\";\n"
			    "\tdmarc=fail (p=reject dis=reject) header.from=sender.test");
}

static void
test_pvalue(void **state)
{
	char out[128];

	(void)state;
	authres_pvalue(out, sizeof(out), "sender.test");
	assert_string_equal(out, "sender.test");
	authres_pvalue(out, sizeof(out), "first.last+tag@sender.test");
	assert_string_equal(out, "first.last+tag@sender.test");
	authres_pvalue(out, sizeof(out), "john doe@sender.test");
	assert_string_equal(out, "\"john doe@sender.test\"");
	authres_pvalue(out, sizeof(out), "a\"b\\c@x.test");
	assert_string_equal(out, "\"a\\\"b\\\\c@x.test\"");
	authres_pvalue(out, sizeof(out), "x;y=z");
	assert_string_equal(out, "\"x;y=z\"");
	authres_pvalue(out, sizeof(out), "ctl\001\r\n\xff");
	assert_string_equal(out, "\"ctl????\"");
	authres_pvalue(out, sizeof(out), "a..b@x.test");
	assert_string_equal(out, "\"a..b@x.test\"");
	authres_pvalue(out, sizeof(out), "");
	assert_string_equal(out, "\"\"");
}

static void
test_bound(void **state)
{
	struct authres ar;
	char big[1500];
	const char *props[] = { "header.d", big, NULL };
	int i;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	authres_start(&ar, "mx.example.test");
	for (i = 0; i < 20; i++)
		authres_add(&ar, "dkim", "fail", NULL, props);
	assert_true(ar.overflow);
	assert_true(ar.results < 20);
	assert_true(strlen(authres_value(&ar)) < AUTHRES_MAX);
	/* never cut inside a resinfo: it ends with the whole value */
	assert_int_equal(authres_value(&ar)[strlen(authres_value(&ar)) - 1], 'a');
}

static void
test_authserv_id(void **state)
{
	char id[64];

	(void)state;
	assert_int_equal(authres_authserv_id(" mx.example.test; spf=pass", id, sizeof(id)), 0);
	assert_string_equal(id, "mx.example.test");
	assert_int_equal(authres_authserv_id("\r\n\t(forged (nested)) MX.example.test 1; none", id,
					     sizeof(id)), 0);
	assert_string_equal(id, "MX.example.test");
	assert_int_equal(authres_authserv_id(" \"mx.example.test\"; none", id, sizeof(id)), 0);
	assert_string_equal(id, "mx.example.test");
	assert_int_equal(authres_authserv_id("mx.example.test;", id, sizeof(id)), 0);
	assert_int_equal(authres_authserv_id("", id, sizeof(id)), -1);
	assert_int_equal(authres_authserv_id(" ; spf=pass", id, sizeof(id)), -1);
	assert_int_equal(authres_authserv_id(" (unterminated mx.example.test;", id, sizeof(id)), -1);
	assert_int_equal(authres_authserv_id(" \"open", id, sizeof(id)), -1);
	assert_int_equal(authres_authserv_id(" averyveryveryveryveryveryveryveryveryveryveryverylongname.example.test",
					     id, 16), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_pvalue),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_authserv_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
