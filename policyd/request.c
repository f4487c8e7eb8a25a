/*
 * request.c - parse a policy delegation request in place.
 *
 * The server hands over a request only once it has seen the empty line
 * that ends it, and only when it respected the line and size bounds, so
 * this parser never waits for more input and never allocates. Named
 * fields are filled from a table (name -> offset), so adding an attribute
 * that a check needs is one line.
 */
#include <stddef.h>
#include <string.h>

#include "request.h"

static const struct {
	const char *name;
	size_t offset;
} known_attrs[] = {
#define ATTR(n) { #n, offsetof(struct policy_request, n) }
	ATTR(request), ATTR(protocol_state), ATTR(protocol_name), ATTR(queue_id),
	ATTR(instance), ATTR(helo_name), ATTR(client_address), ATTR(client_name),
	ATTR(reverse_client_name), ATTR(sender), ATTR(recipient),
	ATTR(recipient_count), ATTR(size), ATTR(sasl_method), ATTR(sasl_username),
	ATTR(sasl_sender),
#undef ATTR
};

static int
valid_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int
valid_value(const char *value, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
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
set_known(struct policy_request *req, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < sizeof(known_attrs) / sizeof(known_attrs[0]); i++) {
		if (strcmp(known_attrs[i].name, name) == 0) {
			*(const char **)((char *)req + known_attrs[i].offset) = value;
			return;
		}
	}
}

int
policy_request_parse(char *buf, size_t len, struct policy_request *req, const char **why)
{
	char *line = buf, *end = buf + len;

	memset(req, 0, sizeof(*req));
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *eq;
		size_t line_len;

		if (nl == NULL)
			nl = end;	/* last line without its newline */
		line_len = (size_t)(nl - line);
		if (policy_line_check(line, line_len, why) < 0)
			return -1;
		eq = memchr(line, '=', line_len);
		if (req->attr_count == POLICY_ATTR_MAX) {
			*why = "too many attributes";
			return -1;
		}
		*eq = '\0';
		*nl = '\0';	/* nl may equal end only when buf has room */
		req->attrs[req->attr_count].name = line;
		req->attrs[req->attr_count].value = eq + 1;
		req->attr_count++;
		set_known(req, line, eq + 1);
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

const char *
policy_request_get(const struct policy_request *req, const char *name)
{
	size_t i;

	for (i = req->attr_count; i-- > 0;)
		if (strcmp(req->attrs[i].name, name) == 0)
			return req->attrs[i].value;
	return NULL;
}
