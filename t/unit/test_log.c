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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_line),
		cmocka_unit_test(test_noqueue_and_empty),
		cmocka_unit_test(test_injection_is_neutralized),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
