/* test_request.c - the policy request parser: valid, hostile, bounds. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

static int
parse(const char *text, struct policy_request *req, const char **why, char **buf)
{
	size_t len = strlen(text);

	*buf = malloc(len + 1);
	memcpy(*buf, text, len + 1);
	return policy_request_parse(*buf, len, req, why);
}

static void
test_postfix_request(void **state)
{
	struct policy_request req;
	const char *why = NULL;
	char *buf;

	(void)state;
	assert_int_equal(parse("request=smtpd_access_policy\n"
			       "protocol_state=RCPT\n"
			       "protocol_name=ESMTP\n"
			       "client_address=192.0.2.7\n"
			       "client_name=mail.x.test\n"
			       "helo_name=mail.x.test\n"
			       "sender=a@x.test\n"
			       "recipient=b@example.test\n"
			       "recipient_count=0\n"
			       "queue_id=\n"
			       "instance=123.456.7\n"
			       "sasl_username=\n"
			       "ccert_subject=\n"
			       "future_attribute=whatever\n", &req, &why, &buf), 0);
	assert_string_equal(req.protocol_state, "RCPT");
	assert_string_equal(req.client_address, "192.0.2.7");
	assert_string_equal(req.sender, "a@x.test");
	assert_string_equal(req.recipient, "b@example.test");
	assert_string_equal(req.queue_id, "");
	assert_string_equal(req.instance, "123.456.7");
	assert_null(req.reverse_client_name);
	assert_int_equal(req.attr_count, 14);
	assert_string_equal(policy_request_get(&req, "future_attribute"), "whatever");
	assert_null(policy_request_get(&req, "absent"));
	free(buf);
}

static void
test_value_with_equals_and_utf8(void **state)
{
	struct policy_request req;
	const char *why;
	char *buf;

	(void)state;
	assert_int_equal(parse("request=smtpd_access_policy\nsender=a=b@x.test\n"
			       "ccert_subject=CN=J\xc3\xbcrgen\tX\n", &req, &why, &buf), 0);
	assert_string_equal(req.sender, "a=b@x.test");
	assert_string_equal(policy_request_get(&req, "ccert_subject"), "CN=J\xc3\xbcrgen\tX");
	free(buf);
}

static void
test_last_line_without_newline(void **state)
{
	struct policy_request req;
	const char *why;
	char *buf;

	(void)state;
	assert_int_equal(parse("sender=x\nrequest=smtpd_access_policy", &req, &why, &buf), 0);
	assert_string_equal(req.request, "smtpd_access_policy");
	free(buf);
}

static void
expect_invalid(const char *text, size_t len, const char *reason)
{
	struct policy_request req;
	const char *why = NULL;
	char *buf = malloc(len + 1);

	memcpy(buf, text, len);
	buf[len] = '\0';
	assert_int_equal(policy_request_parse(buf, len, &req, &why), -1);
	assert_non_null(why);
	if (strstr(why, reason) == NULL)
		fail_msg("reason '%s' does not mention '%s'", why, reason);
	free(buf);
}

#define INVALID(lit, reason) expect_invalid(lit, sizeof(lit) - 1, reason)

static void
test_invalid(void **state)
{
	char *big;
	size_t i;

	(void)state;
	INVALID("sender=a@b\n", "no request=");
	INVALID("request=other_policy\n", "not smtpd_access_policy");
	INVALID("request=smtpd_access_policy\ngarbage\n", "without '='");
	INVALID("request=smtpd_access_policy\n=value\n", "invalid attribute name");
	INVALID("request=smtpd_access_policy\nSender=x\n", "invalid attribute name");
	INVALID("request=smtpd_access_policy\nsen der=x\n", "invalid attribute name");
	INVALID("request=smtpd_access_policy\nsender=a\rb\n", "control character");
	INVALID("request=smtpd_access_policy\nsender=a\0b\n", "control character");
	INVALID("\x80\xff\x01=\x02\n", "invalid attribute name");

	/* POLICY_ATTR_MAX + 1 attributes */
	big = malloc(64 * (POLICY_ATTR_MAX + 2));
	big[0] = '\0';
	strcat(big, "request=smtpd_access_policy\n");
	for (i = 0; i < POLICY_ATTR_MAX; i++)
		sprintf(big + strlen(big), "a%zu=x\n", i);
	expect_invalid(big, strlen(big), "too many attributes");
	free(big);

	/* a line of POLICY_LINE_MAX + 1 bytes */
	big = malloc(POLICY_LINE_MAX + 64);
	strcpy(big, "request=smtpd_access_policy\nsender=");
	i = strlen(big);
	memset(big + i, 'a', POLICY_LINE_MAX + 1 - 7);
	strcpy(big + i + POLICY_LINE_MAX + 1 - 7, "\n");
	expect_invalid(big, strlen(big), "line too long");
	free(big);
}

static void
test_exactly_max_attributes(void **state)
{
	struct policy_request req;
	const char *why;
	char *big = malloc(64 * (POLICY_ATTR_MAX + 2)), *buf;
	size_t i;

	(void)state;
	strcpy(big, "request=smtpd_access_policy\n");
	for (i = 1; i < POLICY_ATTR_MAX; i++)
		sprintf(big + strlen(big), "a%zu=x\n", i);
	assert_int_equal(parse(big, &req, &why, &buf), 0);
	assert_int_equal(req.attr_count, POLICY_ATTR_MAX);
	free(buf);
	free(big);
}

/* Every byte value at every position of a 40-byte value (the checker
 * reads 8 bytes at a time): refused exactly when it is a control
 * character other than tab, or DEL; the framed parser agrees. */
static void
test_value_bytes_at_every_position(void **state)
{
	const char *why;
	char line[64];
	int pos, b;

	(void)state;
	for (pos = 0; pos < 40; pos++) {
		for (b = 1; b < 256; b++) {
			bool bad = (b < 0x20 && b != '\t') || b == 0x7f;

			memset(line, 'v', sizeof(line));
			memcpy(line, "n=", 2);
			line[2 + pos] = (char)b;
			assert_int_equal(policy_line_check(line, 42, &why), bad ? -1 : 0);
		}
		memset(line, 'v', sizeof(line));
		memcpy(line, "n=", 2);
		line[2 + pos] = '\0';
		assert_int_equal(policy_line_check(line, 42, &why), -1);
	}
}

static void
test_framed_parse(void **state)
{
	struct policy_request req;
	const char *why;
	char buf[] = "request=smtpd_access_policy\nrecipient=b@x.test\nsender=a@x.test\n";

	(void)state;
	assert_int_equal(policy_request_parse_framed(buf, strlen(buf), &req, &why), 0);
	assert_string_equal(req.recipient, "b@x.test");
	assert_string_equal(req.sender, "a@x.test");
	assert_string_equal(policy_request_get(&req, "request"), "smtpd_access_policy");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postfix_request),
		cmocka_unit_test(test_value_with_equals_and_utf8),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_exactly_max_attributes),
		cmocka_unit_test(test_value_bytes_at_every_position),
		cmocka_unit_test(test_framed_parse),
	};

	return cmocka_run_group_tests_name("policy request", tests, NULL, NULL);
}
