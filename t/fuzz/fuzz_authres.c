/*
 * fuzz_authres.c - Authentication-Results handling (milter/authres.c):
 * the authserv-id of a received A-R field, which decides whether the
 * milter removes it as forged (milter/auth.c compares it with ours), and
 * the writer's quoting of values that came from the message.
 * Input: line 1 is a received A-R value; lines 2.. are values quoted
 * with authres_pvalue() and added to our own header.
 * Properties: the authserv-id is non-empty, NUL-terminated within its
 * buffer, also a tiny one; a quoted pvalue has no control byte and no
 * byte >= 0x80 that is not UTF-8 ('?' instead); our header stays within
 * AUTHRES_MAX and its length is what it says.
 */
#include "authres.h"
#include "fuzz.h"

#define LINES_MAX 32

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[LINES_MAX];
	char id[256], tiny[4], pv[512];
	struct authres *ar;
	size_t n, i, k;

	if (size > 32768)
		return 0;
	n = fuzz_lines(data, size, line, LINES_MAX);
	if (authres_authserv_id(line[0], id, sizeof(id)) == 0) {
		FUZZ_ASSERT(id[0] != '\0' && strlen(id) < sizeof(id));
	}
	if (authres_authserv_id(line[0], tiny, sizeof(tiny)) == 0)
		FUZZ_ASSERT(strlen(tiny) < sizeof(tiny));
	if ((ar = malloc(sizeof(*ar))) == NULL)
		abort();
	authres_start(ar, "mx.example.test");
	for (i = 1; i < n; i++) {
		const char *props[] = { "header.from", pv, "smtp.mailfrom", line[i], NULL };

		authres_pvalue(pv, sizeof(pv), line[i]);
		FUZZ_ASSERT(strlen(pv) < sizeof(pv));
		for (k = 0; pv[k]; k++)
			FUZZ_ASSERT((unsigned char)pv[k] >= 0x20 && pv[k] != 0x7f);
		authres_pvalue(tiny, sizeof(tiny), line[i]);
		FUZZ_ASSERT(strlen(tiny) < sizeof(tiny));
		props[3] = pv;
		authres_add(ar, "dkim", i & 1 ? "pass" : "fail", "a comment", props);
		if (i % 3 == 0)
			authres_add_raw(ar, "spf=none smtp.mailfrom=x@example.test");
		FUZZ_ASSERT(ar->len < AUTHRES_MAX && strlen(ar->buf) == ar->len);
	}
	(void)authres_value(ar);
	FUZZ_ASSERT(ar->len < AUTHRES_MAX && strlen(ar->buf) == ar->len);
	free(ar);
	fuzz_lines_free(line, n);
	return 0;
}
