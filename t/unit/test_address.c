/*
 * test_address.c - RFC 5321 envelope paths.
 *
 * Covers the address.h contract: both the SMTP spelling (angle brackets,
 * quotes) and Postfix's internal one give the same result; the null
 * path; bare local parts; address literals; source routes; the octet
 * bounds at and just past each limit; control characters; the key form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "address.h"

/* Parses text and checks local part, domain and canonical form. */
static void
assert_parts(const char *text, const char *local, const char *domain,
	     const char *full)
{
	struct address a;
	const char *why = NULL;

	if (address_parse(text, &a, &why) != 0)
		fail_msg("\"%s\" rejected: %s", text, why ? why : "(no reason)");
	assert_false(a.is_null);
	assert_string_equal(a.local, local);
	assert_string_equal(a.domain, domain);
	assert_string_equal(a.full, full);
}

/* Rejected, with a reason, and the output cleared. */
static void
assert_bad(const char *text)
{
	struct address a;
	const char *why = NULL;

	memset(&a, 'x', sizeof(a));
	if (address_parse(text, &a, &why) != -1)
		fail_msg("\"%s\" accepted as \"%s\"", text, a.full);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	assert_false(a.is_null);
	assert_string_equal(a.full, "");
	assert_string_equal(a.local, "");
}

static void
assert_bad_why(const char *text, const char *reason)
{
	struct address a;
	const char *why = NULL;

	assert_int_equal(address_parse(text, &a, &why), -1);
	assert_string_equal(why, reason);
}

/* "x" repeated n times. */
static char *
rep(char *buf, size_t n)
{
	memset(buf, 'x', n);
	buf[n] = '\0';
	return buf;
}

/* A host name of exactly n octets: labels of 62 or 63 joined by dots. */
static char *
domain_of(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (i % 63 == 62) ? '.' : 'd';
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = 'e';
	buf[n] = '\0';
	return buf;
}

static void
test_simple(void **state)
{
	(void)state;
	assert_parts("user@example.com", "user", "example.com", "user@example.com");
	assert_parts("<user@example.com>", "user", "example.com", "user@example.com");
	assert_parts("John.Doe@Example.COM", "John.Doe", "example.com",
		     "John.Doe@example.com");
	assert_parts("a+tag@sub.example.org", "a+tag", "sub.example.org",
		     "a+tag@sub.example.org");
	assert_parts("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~",
		     "example.com", "!#$%&'*+-/=?^_`{|}~@example.com");
	assert_parts("u@localhost", "u", "localhost", "u@localhost");
	assert_parts("u@123.example", "u", "123.example", "u@123.example");
	assert_parts("u@xn--bcher-kva.example", "u", "xn--bcher-kva.example",
		     "u@xn--bcher-kva.example");
	/* leading or trailing hyphens are tolerated */
	assert_parts("u@-example-.com", "u", "-example-.com", "u@-example-.com");
}

static void
test_null_path(void **state)
{
	struct address a;
	const char *paths[] = { "<>", "" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		memset(&a, 'x', sizeof(a));
		assert_int_equal(address_parse(paths[i], &a, NULL), 0);
		assert_true(a.is_null);
		assert_false(a.domain_is_literal);
		assert_string_equal(a.local, "");
		assert_string_equal(a.domain, "");
		assert_string_equal(a.full, "");
	}
	assert_bad("< >");
	assert_bad("<<>>");
	assert_bad("<\"\">");
}

static void
test_bare_local(void **state)
{
	(void)state;
	assert_parts("postmaster", "postmaster", "", "postmaster");
	assert_parts("<postmaster>", "postmaster", "", "postmaster");
	assert_parts("<Postmaster>", "Postmaster", "", "Postmaster");
	assert_parts("\"post master\"", "post master", "", "post master");
	assert_parts("<\"post master\">", "post master", "", "post master");
}

static void
test_quoted(void **state)
{
	(void)state;
	assert_parts("\"john doe\"@example.test", "john doe", "example.test",
		     "john doe@example.test");
	assert_parts("<\"john doe\"@example.test>", "john doe", "example.test",
		     "john doe@example.test");
	assert_parts("\"a\\\"b\"@x.test", "a\"b", "x.test", "a\"b@x.test");
	assert_parts("\"a\\\\b\"@x.test", "a\\b", "x.test", "a\\b@x.test");
	assert_parts("\"\\a\\b\"@x.test", "ab", "x.test", "ab@x.test");
	assert_parts("\"a@b\"@x.test", "a@b", "x.test", "a@b@x.test");
	assert_parts("\"<a>\"@x.test", "<a>", "x.test", "<a>@x.test");
	assert_parts("\" lead\"@x.test", " lead", "x.test", " lead@x.test");
	assert_parts("\"user\"@x.test", "user", "x.test", "user@x.test");

	assert_bad("\"john doe@example.test");
	assert_bad("\"john doe\\\"@example.test");
	assert_bad("\"abc\\");
	assert_bad("\"a\"b@x.test");
	assert_bad("\"a\" @x.test");
	assert_bad("\"a\"\"b\"@x.test");
	assert_bad_why("\"\"@x.test", "empty local part");
	assert_bad("<\"\"@x.test>");
}

static void
test_internal_form(void **state)
{
	struct address quoted, plain;

	(void)state;
	assert_parts("john doe@example.test", "john doe", "example.test",
		     "john doe@example.test");
	/* split at the last '@' */
	assert_parts("a@b@c.example", "a@b", "c.example", "a@b@c.example");
	assert_parts("<john doe@example.test>", "john doe", "example.test",
		     "john doe@example.test");

	/* both spellings give the same result */
	assert_int_equal(address_parse("\"john doe\"@Example.Test", &quoted, NULL), 0);
	assert_int_equal(address_parse("john doe@example.test", &plain, NULL), 0);
	assert_memory_equal(&quoted, &plain, sizeof(quoted));
	assert_int_equal(address_parse("<\"a@b\"@c.example>", &quoted, NULL), 0);
	assert_int_equal(address_parse("a@b@c.example", &plain, NULL), 0);
	assert_memory_equal(&quoted, &plain, sizeof(quoted));

	assert_bad_why(" user@x.test", "space at the edge of the local part");
	assert_bad("user @x.test");
	assert_bad("< user@x.test>");
	assert_bad("a\"b@x.test");
	assert_bad("a<b@x.test");
	assert_bad("a>b@x.test");
}

static void
test_literals(void **state)
{
	struct address a;

	(void)state;
	assert_int_equal(address_parse("user@[192.0.2.1]", &a, NULL), 0);
	assert_true(a.domain_is_literal);
	assert_string_equal(a.domain, "[192.0.2.1]");
	assert_string_equal(a.full, "user@[192.0.2.1]");
	assert_int_equal(address_parse("<User@[IPv6:2001:DB8::1]>", &a, NULL), 0);
	assert_true(a.domain_is_literal);
	assert_string_equal(a.local, "User");
	assert_string_equal(a.domain, "[ipv6:2001:db8::1]");
	assert_string_equal(a.full, "User@[ipv6:2001:db8::1]");
	assert_parts("u@[ipv6:2001:db8::1]", "u", "[ipv6:2001:db8::1]",
		     "u@[ipv6:2001:db8::1]");
	assert_parts("u@[IPV6:::1]", "u", "[ipv6:::1]", "u@[ipv6:::1]");
	assert_parts("u@[IPv6:::ffff:192.0.2.1]", "u", "[ipv6:::ffff:192.0.2.1]",
		     "u@[ipv6:::ffff:192.0.2.1]");
	assert_int_equal(address_parse("u@example.com", &a, NULL), 0);
	assert_false(a.domain_is_literal);

	assert_bad("u@[192.0.2.256]");
	assert_bad("u@[192.0.2]");
	assert_bad("u@[192.0.2.1.5]");
	assert_bad("u@[2001:db8::1]");		/* needs the IPv6: tag */
	assert_bad("u@[IPv6:192.0.2.1]");
	assert_bad("u@[IPv6:2001:db8::g]");
	assert_bad("u@[IPv6:]");
	assert_bad("u@[]");
	assert_bad("u@[");
	assert_bad("u@[192.0.2.1");
	assert_bad("u@192.0.2.1]");
	assert_bad("u@[192.0.2.1]x");
	assert_bad("u@[ 192.0.2.1]");
	assert_bad("u@[tag:content]");
	assert_bad("u@[IPv6:2001:db8::1%eth0]");
	assert_bad("u@[IPv6:1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa]");
}

static void
test_bad_domains(void **state)
{
	(void)state;
	assert_bad_why("user@", "empty domain");
	assert_bad_why("<user@>", "empty domain");
	assert_bad_why("user@.example", "empty label in domain");
	assert_bad_why("user@example..com", "empty label in domain");
	assert_bad_why("user@example.com.", "domain ends with a dot");
	assert_bad_why("user@exa mple.com", "invalid character in domain");
	assert_bad("user@example.com ");
	assert_bad("user@exa_mple.com");
	assert_bad("user@exa!mple.com");
	assert_bad("user@example.com>");
	assert_bad("user@a,b");
	assert_bad("user@a:b");
	assert_bad("user@\"example\".com");
	assert_bad_why("@example.com", "empty local part");
	assert_bad_why("<@example.com>", "empty local part");
	assert_bad("@");
}

static void
test_local_bounds(void **state)
{
	char local[80], text[200], quoted[200];

	(void)state;
	snprintf(text, sizeof(text), "%s@x.test", rep(local, 64));
	assert_parts(text, local, "x.test", text);
	snprintf(text, sizeof(text), "<%s>", rep(local, 64));
	assert_parts(text, local, "", local);

	snprintf(text, sizeof(text), "%s@x.test", rep(local, 65));
	assert_bad_why(text, "local part longer than 64 octets");
	assert_bad(rep(local, 65));

	/* quoted: measured on the unquoted form, escapes included */
	snprintf(quoted, sizeof(quoted), "\"\\x%s\"@x.test", rep(local, 63));
	assert_int_equal(address_parse(quoted, &(struct address){ 0 }, NULL), 0);
	snprintf(quoted, sizeof(quoted), "\"\\x%s\"@x.test", rep(local, 64));
	assert_bad_why(quoted, "local part longer than 64 octets");
}

static void
test_domain_bounds(void **state)
{
	char domain[300], text[400], label[80];
	struct address a;

	(void)state;
	snprintf(text, sizeof(text), "u@%s.test", rep(label, 63));
	assert_int_equal(address_parse(text, &a, NULL), 0);
	snprintf(text, sizeof(text), "u@%s.test", rep(label, 64));
	assert_bad_why(text, "domain label longer than 63 octets");
	snprintf(text, sizeof(text), "u@a.%s", rep(label, 64));
	assert_bad_why(text, "domain label longer than 63 octets");

	/* 254-octet domain plus "u@" is exactly the 256-octet limit */
	snprintf(text, sizeof(text), "u@%s", domain_of(domain, 254));
	assert_int_equal(address_parse(text, &a, NULL), 0);
	assert_int_equal(strlen(a.domain), 254);
	assert_int_equal(strlen(a.full), ADDRESS_MAX);
	/* 255 is a legal domain, but no address fits around it */
	snprintf(text, sizeof(text), "u@%s", domain_of(domain, 255));
	assert_bad_why(text, "address longer than 256 octets");
	snprintf(text, sizeof(text), "u@%s", domain_of(domain, 256));
	assert_bad_why(text, "domain longer than 255 octets");
}

static void
test_whole_bounds(void **state)
{
	char local[80], domain[300], text[400];
	struct address a;

	(void)state;
	/* 64 + 1 + 191 = 256 */
	snprintf(text, sizeof(text), "<%s@%s>", rep(local, 64), domain_of(domain, 191));
	assert_int_equal(address_parse(text, &a, NULL), 0);
	assert_int_equal(strlen(a.full), 256);
	snprintf(text, sizeof(text), "<%s@%s>", rep(local, 64), domain_of(domain, 192));
	assert_bad_why(text, "address longer than 256 octets");
}

static void
test_long_input(void **state)
{
	char big[3000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_bad_why(big, "address too long");
	big[10] = '@';
	assert_bad(big);
}

static void
test_brackets(void **state)
{
	(void)state;
	assert_bad_why("<user@x.test", "unbalanced angle brackets");
	assert_bad_why("user@x.test>", "unbalanced angle brackets");
	assert_bad_why("<", "unbalanced angle brackets");
	assert_bad_why(">", "unbalanced angle brackets");
	assert_bad("<<user@x.test>>");
	assert_bad("<user@x.test> ");
	assert_bad(" <user@x.test>");
	assert_bad("<user@x.test>>");
	assert_bad("<<user@x.test>");
	assert_bad("<a>b@x.test>");
}

static void
test_controls(void **state)
{
	struct address a;

	(void)state;
	assert_bad_why("us\ter@x.test", "control character in address");
	assert_bad_why("user@x.test\r", "control character in address");
	assert_bad_why("user@x.test\n", "control character in address");
	assert_bad_why("\"a\x01\"@x.test", "control character in address");
	assert_bad_why("\"a\\\x01\"@x.test", "control character in address");
	assert_bad_why("user\x7f@x.test", "control character in address");
	assert_bad_why("<user@x.test>\x1b", "control character in address");
	assert_bad_why("\x1f", "control character in address");
	/* a C string ends at NUL: what follows is never seen */
	assert_int_equal(address_parse("user\0@x.test", &a, NULL), 0);
	assert_string_equal(a.full, "user");
}

static void
test_utf8(void **state)
{
	char local[80], text[200];

	(void)state;
	assert_parts("j\xc3\xb6rg@example.com", "j\xc3\xb6rg", "example.com",
		     "j\xc3\xb6rg@example.com");
	assert_parts("\"j\xc3\xb6rg m\"@example.com", "j\xc3\xb6rg m", "example.com",
		     "j\xc3\xb6rg m@example.com");
	/* U-labels pass; only ASCII is lowercased */
	assert_parts("u@B\xc3\x9c" "cher.Example", "u", "b\xc3\x9c" "cher.example",
		     "u@b\xc3\x9c" "cher.example");
	/* 32 two-octet characters fill 64 octets exactly */
	local[0] = '\0';
	for (int i = 0; i < 32; i++)
		strcat(local, "\xc3\xa9");
	snprintf(text, sizeof(text), "%s@x.test", local);
	assert_parts(text, local, "x.test", text);
	snprintf(text, sizeof(text), "a%s@x.test", local);
	assert_bad_why(text, "local part longer than 64 octets");
}

static void
test_source_route(void **state)
{
	(void)state;
	assert_parts("<@a.example,@b.example:user@c.example>", "user", "c.example",
		     "user@c.example");
	assert_parts("<@a.example:user@c.example>", "user", "c.example",
		     "user@c.example");
	assert_parts("@a.example:user@c.example", "user", "c.example",
		     "user@c.example");
	assert_parts("<@[192.0.2.1],@[IPv6:2001:db8::1]:User@C.example>", "User",
		     "c.example", "User@c.example");
	assert_parts("<@a.example:\"john doe\"@c.example>", "john doe", "c.example",
		     "john doe@c.example");

	assert_bad_why("<@:user@c.example>", "malformed source route");
	assert_bad_why("<@a..example:user@c.example>", "malformed source route");
	assert_bad_why("<@a.example,:user@c.example>", "malformed source route");
	assert_bad_why("<@a.example,b.example:user@c.example>", "malformed source route");
	assert_bad_why("<@a.example;@b:user@c.example>", "malformed source route");
	assert_bad_why("<@[192.0.2.1:user@c.example>", "malformed source route");
	assert_bad_why("<@a.example:>", "empty local part");
	assert_bad_why("<@a.example,user@c.example>", "empty local part");
	assert_bad("<@a.example:user@>");
	assert_bad_why("<@a.example:@b.example:user@c.example>",
		       "malformed source route");
}

static void
test_lower(void **state)
{
	struct address a;
	char buf[ADDRESS_MAX + 1], small[5];

	(void)state;
	assert_int_equal(address_parse("<John.DOE@Example.COM>", &a, NULL), 0);
	address_lower(&a, buf, sizeof(buf));
	assert_string_equal(buf, "john.doe@example.com");
	assert_string_equal(a.local, "John.DOE");	/* untouched */

	address_lower(&a, small, sizeof(small));
	assert_string_equal(small, "john");
	memset(small, '#', sizeof(small));
	address_lower(&a, small, 0);
	assert_int_equal(small[0], '#');
	address_lower(&a, small, 1);
	assert_string_equal(small, "");

	/* only ASCII folds: UTF-8 octets are left alone */
	assert_int_equal(address_parse("\xc3\x89Ric@X.test", &a, NULL), 0);
	address_lower(&a, buf, sizeof(buf));
	assert_string_equal(buf, "\xc3\x89ric@x.test");

	assert_int_equal(address_parse("<>", &a, NULL), 0);
	address_lower(&a, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void
test_why_optional(void **state)
{
	struct address a;
	const char *why = NULL;

	(void)state;
	assert_int_equal(address_parse("<bad", &a, NULL), -1);
	assert_int_equal(address_parse(NULL, &a, &why), -1);
	assert_string_equal(why, "no address");
	assert_int_equal(address_parse(NULL, &a, NULL), -1);
	why = "unchanged";
	assert_int_equal(address_parse("user@x.test", &a, &why), 0);
	assert_string_equal(why, "unchanged");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_bare_local),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_internal_form),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_bad_domains),
		cmocka_unit_test(test_local_bounds),
		cmocka_unit_test(test_domain_bounds),
		cmocka_unit_test(test_whole_bounds),
		cmocka_unit_test(test_long_input),
		cmocka_unit_test(test_brackets),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_source_route),
		cmocka_unit_test(test_lower),
		cmocka_unit_test(test_why_optional),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
