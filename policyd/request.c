/*
 * request.c - parse a policy delegation request in place.
 *
 * The server hands over a request only once it has seen the empty line
 * that ends it, and only when it respected the line and size bounds, so
 * this parser never waits for more input and never allocates. Named
 * fields are filled from a table (name -> offset), so adding an attribute
 * that a check needs is one line.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "request.h"

static const struct {
	const char *name;
	size_t len;
	size_t offset;
} known_attrs[] = {
#define ATTR(n) { #n, sizeof(#n) - 1, offsetof(struct policy_request, n) }
	ATTR(request), ATTR(protocol_state), ATTR(protocol_name), ATTR(queue_id),
	ATTR(instance), ATTR(helo_name), ATTR(client_address), ATTR(client_name),
	ATTR(reverse_client_name), ATTR(sender), ATTR(recipient),
	ATTR(recipient_count), ATTR(size), ATTR(sasl_method), ATTR(sasl_username),
	ATTR(sasl_sender),
#undef ATTR
};

/* [a-z0-9_]: the characters of an attribute name */
static const unsigned char name_char[256] = {
	['a' ... 'z'] = 1, ['0' ... '9'] = 1, ['_'] = 1,
};

static int
valid_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!name_char[(unsigned char)name[i]])
			return 0;
	return 1;
}

static int
valid_byte(unsigned char c)
{
	return !((c < 0x20 && c != '\t') || c == 0x7f);
}

/*
 * No NUL, no control character but tab, no DEL. Eight bytes at a time:
 * a word with no byte below 0x20 and none equal to 0x7f is good as it is
 * (the usual has-less-than and has-zero bit tricks); only a word that
 * may hold one (a tab, mostly) is looked at byte by byte.
 */
static int
valid_value(const char *value, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x, del;
		size_t k;

		memcpy(&x, value + i, 8);
		del = x ^ (0x7f * ones);
		if ((((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs) {
			for (k = 0; k < 8; k++)
				if (!valid_byte((unsigned char)value[i + k]))
					return 0;
		}
	}
	for (; i < len; i++)
		if (!valid_byte((unsigned char)value[i]))
			return 0;
	return 1;
}

int
policy_line_check(const char *line, size_t len, const char **why)
{
	const char *eq;

	if (len > POLICY_LINE_MAX) {
		*why = "line too long";
		return -1;
	}
	if ((eq = memchr(line, '=', len)) == NULL) {
		*why = "line without '='";
		return -1;
	}
	if (!valid_name(line, (size_t)(eq - line))) {
		*why = "invalid attribute name";
		return -1;
	}
	if (!valid_value(eq + 1, len - (size_t)(eq - line) - 1)) {
		*why = "control character or NUL in attribute value";
		return -1;
	}
	return 0;
}

static void
set_known(struct policy_request *req, const char *name, size_t len, const char *value)
{
	size_t i;

	for (i = 0; i < sizeof(known_attrs) / sizeof(known_attrs[0]); i++) {
		if (known_attrs[i].len == len && memcmp(known_attrs[i].name, name, len) == 0) {
			*(const char **)((char *)req + known_attrs[i].offset) = value;
			return;
		}
	}
}

static int
parse(char *buf, size_t len, struct policy_request *req, const char **why, bool checked)
{
	char *line = buf, *end = buf + len;

	/* The named fields and the count; attrs[] is written before read. */
	memset(req, 0, offsetof(struct policy_request, attrs));
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *eq;
		size_t line_len;

		if (nl == NULL)
			nl = end;	/* last line without its newline */
		line_len = (size_t)(nl - line);
		if (!checked && policy_line_check(line, line_len, why) < 0)
			return -1;
		if ((eq = memchr(line, '=', line_len)) == NULL) {	/* checked: cannot be */
			*why = "line without '='";
			return -1;
		}
		if (req->attr_count == POLICY_ATTR_MAX) {
			*why = "too many attributes";
			return -1;
		}
		*eq = '\0';
		*nl = '\0';	/* nl may equal end only when buf has room */
		req->attrs[req->attr_count].name = line;
		req->attrs[req->attr_count].value = eq + 1;
		req->attr_count++;
		set_known(req, line, (size_t)(eq - line), eq + 1);
		line = nl + 1;
	}
	if (req->request == NULL) {
		*why = "no request= attribute";
		return -1;
	}
	if (strcmp(req->request, "smtpd_access_policy") != 0) {
		*why = "request= is not smtpd_access_policy";
		return -1;
	}
	return 0;
}

int
policy_request_parse(char *buf, size_t len, struct policy_request *req, const char **why)
{
	return parse(buf, len, req, why, false);
}

int
policy_request_parse_framed(char *buf, size_t len, struct policy_request *req,
			    const char **why)
{
	return parse(buf, len, req, why, true);
}

const char *
policy_request_get(const struct policy_request *req, const char *name)
{
	size_t i;

	for (i = req->attr_count; i-- > 0;)
		if (strcmp(req->attrs[i].name, name) == 0)
			return req->attrs[i].value;
	return NULL;
}
