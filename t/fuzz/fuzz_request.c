/*
 * fuzz_request.c - the policy protocol as a connection delivers it: the
 * input is the byte stream of one client. Framing as policyd/worker.c's
 * conn_process() does it (each line checked with policy_line_check() as
 * it arrives, an empty line ends a request, POLICY_LINE_MAX and
 * POLICY_REQUEST_MAX bound both), then policy_request_parse() on each
 * complete request, in a heap copy of exactly len + 1 bytes (the one
 * writable byte past len the parser may use).
 * Properties: every attribute the parser returns points into the
 * request's buffer and is NUL-terminated there; the named fields agree
 * with policy_request_get().
 */
#include "fuzz.h"
#include "request.h"

static void
check_inside(const char *p, const char *buf, size_t len)
{
	if (p == NULL)
		return;
	FUZZ_ASSERT(p >= buf && p <= buf + len);
	FUZZ_ASSERT(strlen(p) <= (size_t)(buf + len - p));
}

static void
parse_one(const uint8_t *data, size_t len)
{
	struct policy_request *req = malloc(sizeof(*req));
	char *buf = malloc(len + 1);
	const char *why = NULL;
	size_t i;

	if (req == NULL || buf == NULL)
		abort();
	memcpy(buf, data, len);
	buf[len] = 'X';		/* the parser may write here, never read it as data */
	if (policy_request_parse(buf, len, req, &why) == 0) {
		FUZZ_ASSERT(req->attr_count <= POLICY_ATTR_MAX);
		for (i = 0; i < req->attr_count; i++) {
			check_inside(req->attrs[i].name, buf, len);
			check_inside(req->attrs[i].value, buf, len);
		}
		FUZZ_ASSERT(req->request != NULL);
		FUZZ_ASSERT(policy_request_get(req, "request") != NULL);
		FUZZ_ASSERT((req->sender == NULL) == (policy_request_get(req, "sender") == NULL));
		FUZZ_ASSERT((req->client_address == NULL)
			    == (policy_request_get(req, "client_address") == NULL));
		(void)policy_request_get(req, "no_such_attribute");
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	free(buf);
	free(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0, line_start = 0, pos;

	if (size > 4 * POLICY_REQUEST_MAX)
		return 0;
	for (pos = 0; pos < size; pos++) {
		const char *why = NULL;

		if (pos - start > POLICY_REQUEST_MAX)
			return 0;	/* worker: request too long, connection closed */
		if (data[pos] != '\n')
			continue;
		if (pos > line_start) {
			if (pos - line_start > POLICY_LINE_MAX)
				return 0;
			if (policy_line_check((const char *)data + line_start, pos - line_start, &why) < 0) {
				FUZZ_ASSERT(why != NULL);
				return 0;	/* worker: connection closed */
			}
			line_start = pos + 1;
			continue;
		}
		if (pos == start)
			return 0;	/* "empty request" */
		parse_one(data + start, pos - start);
		start = line_start = pos + 1;
	}
	return 0;
}
