/* test_log.c - decision lines: fields, sanitizing, truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "log.h"

static void
test_decision_line(void **state)
{
	struct logline line, more;

	(void)state;
	logline_start(&line, "4F1A2B3C");
	logline_add(&line, "greylist", "defer");
	logline_add_client(&line, "mail.x.test", "192.0.2.7");
	logline_add_addr(&line, "from", "a@x.test");
	logline_add_addr(&line, "to", "b@example.test");
	more.len = 0;
	more.buf[0] = '\0';
	more.truncated = false;
	logline_addf(&more, "retry_in", "%d", 120);
	logline_concat(&line, &more);
	assert_string_equal(line.buf, "4F1A2B3C: greylist=defer client=mail.x.test[192.0.2.7] "
			    "from=<a@x.test> to=<b@example.test> retry_in=120");
}

static void
test_noqueue_and_empty(void **state)
{
	struct logline line;

	(void)state;
	logline_start(&line, "");
	logline_add_addr(&line, "from", "");
	logline_add_client(&line, NULL, NULL);
	logline_add(&line, "state", NULL);
	assert_string_equal(line.buf, "NOQUEUE: from=<> client=unknown[unknown] state=");
}

static void
test_injection_is_neutralized(void **state)
{
	struct logline line;

	(void)state;
	logline_start(&line, "ID\nX");
	logline_add_addr(&line, "from", "a@b> to=<forged@x\nsluice: fake line");
	logline_add_client(&line, "evil name", "1.2.3.4]");
	assert_null(strchr(line.buf, '\n'));
	assert_string_equal(line.buf, "ID?X: from=<a@b>?to?<forged@x?sluice:?fake?line> "
			    "client=evil?name[1.2.3.4]]");
}

static void
test_truncation(void **state)
{
	struct logline line;
	char big[LOGLINE_MAX * 2];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	logline_start(&line, "Q");
	logline_add(&line, "k", big);
	logline_add(&line, "after", "ignored");
	assert_true(line.truncated);
	assert_int_equal(strlen(line.buf), LOGLINE_MAX - 1);
	assert_memory_equal(line.buf + LOGLINE_MAX - 4, "...", 3);
}

static void
expect_clean(const char *in, const char *want)
{
	char out[256];

	log_sanitize(out, sizeof(out), in);
	if (strcmp(out, want) != 0)
		fail_msg("'%s' -> '%s', want '%s'", in, out, want);
}

static void
test_utf8_and_high_bytes(void **state)
{
	(void)state;
	/* valid UTF-8 of printable characters stays readable */
	expect_clean("j\xc3\xbcrgen@m\xc3\xbcller.test", "j\xc3\xbcrgen@m\xc3\xbcller.test");
	expect_clean("\xe4\xbe\x8b\xe3\x81\x88", "\xe4\xbe\x8b\xe3\x81\x88");
	expect_clean("\xf0\x9f\x93\xa7", "\xf0\x9f\x93\xa7");	/* U+1F4E7 */
	/* C1 controls: CSI (U+009B) as a raw byte and as UTF-8, NEL */
	expect_clean("a\x9b" "31mb", "a\\x9b31mb");
	expect_clean("a\xc2\x9b" "31m", "a\\xc2\\x9b31m");
	expect_clean("x\xc2\x85y", "x\\xc2\\x85y");
	/* invalid: stray continuation, truncated, overlong, surrogate, too big */
	expect_clean("\x80", "\\x80");
	expect_clean("a\xc3", "a\\xc3");
	expect_clean("\xe4\xbe", "\\xe4\\xbe");
	expect_clean("\xc0\xaf", "\\xc0\\xaf");
	expect_clean("\xe0\x80\x8a", "\\xe0\\x80\\x8a");
	expect_clean("\xed\xa0\x80", "\\xed\\xa0\\x80");
	expect_clean("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	expect_clean("\xff\xfe", "\\xff\\xfe");
	/* valid but hidden: no-break space, line separator, bidi override */
	expect_clean("a\xc2\xa0" "b", "a\\xc2\\xa0b");
	expect_clean("a\xe2\x80\xa8" "b", "a\\xe2\\x80\\xa8b");
	expect_clean("\xe2\x80\xae" "moc.live", "\\xe2\\x80\\xaemoc.live");
	expect_clean("\xef\xbb\xbfx", "\\xef\\xbb\\xbfx");
	/* ASCII as before; a backslash cannot pose as an escape */
	expect_clean("a b=c\n\x7f", "a?b?c??");
	expect_clean("\\x9b", "\\x5cx9b");
}

static void
test_sanitize_never_cuts_a_sequence(void **state)
{
	char out[8];

	(void)state;
	log_sanitize(out, sizeof(out), "abcdef\xc3\xbc");	/* 6 + 2 > 7 */
	assert_string_equal(out, "abcdef");
	log_sanitize(out, sizeof(out), "abcd\x9b");		/* 4 + 4 > 7 */
	assert_string_equal(out, "abcd");
	log_sanitize(out, sizeof(out), "abc\x9b");		/* 3 + 4 = 7 fits */
	assert_string_equal(out, "abc\\x9b");
	log_sanitize(out, 1, "abc");
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_line),
		cmocka_unit_test(test_noqueue_and_empty),
		cmocka_unit_test(test_injection_is_neutralized),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_utf8_and_high_bytes),
		cmocka_unit_test(test_sanitize_never_cuts_a_sequence),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
