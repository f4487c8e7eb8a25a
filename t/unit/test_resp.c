/* test_resp.c - resp_format_command() against hiredis's own formatter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "resp.h"

/* The bytes of hiredis's redisFormatCommandArgv() for argv equal ours. */
static void
assert_same_as_hiredis(int argc, const char **argv)
{
	char buf[8192], *theirs = NULL;
	size_t ours;
	int n;

	ours = resp_format_command(buf, sizeof(buf), argc, argv);
	n = redisFormatCommandArgv(&theirs, argc, argv, NULL);
	assert_true(n > 0);
	assert_int_equal(ours, (size_t)n);
	assert_memory_equal(buf, theirs, ours);
	free(theirs);
}

static void
test_commands(void **state)
{
	const char *evalsha[] = { "EVALSHA", "0123456789abcdef0123456789abcdef01234567", "2",
				  "sluice:gl:{192.0.2.1}", "sluice:awl:{192.0.2.1}", "120", "" };
	const char *one[] = { "PING" };
	const char *crlf[] = { "SET", "k\r\n", "v\r\n$3\r\n" };	/* bytes, not syntax */
	char big[1000];
	const char *ten[10];
	int i;

	(void)state;
	assert_same_as_hiredis(7, evalsha);
	assert_same_as_hiredis(1, one);
	assert_same_as_hiredis(3, crlf);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 10; i++)
		ten[i] = i % 2 ? big : "";
	assert_same_as_hiredis(10, ten);	/* lengths of 0 and of 3 digits */
}

/* Not fitting is 0, at every size short of the text, never a partial
 * length; the exact size fits. */
static void
test_bounds(void **state)
{
	const char *argv[] = { "GET", "sluice:mailboxes" };
	char buf[64];
	size_t full, size;

	(void)state;
	full = resp_format_command(buf, sizeof(buf), 2, argv);
	assert_int_equal(full, strlen("*2\r\n$3\r\nGET\r\n$16\r\nsluice:mailboxes\r\n"));
	for (size = 0; size < full; size++)
		assert_int_equal(resp_format_command(buf, size, 2, argv), 0);
	assert_int_equal(resp_format_command(buf, full, 2, argv), full);
	assert_memory_equal(buf, "*2\r\n$3\r\nGET\r\n$16\r\nsluice:mailboxes\r\n", full);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
