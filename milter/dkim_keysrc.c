/*
 * dkim_keysrc.c - the table key source of the DKIM verifier (see the end
 * of dkim_verify.h), for tests; the milter's own source is its DNS layer
 * with the per-message budget (milter/auth.c).
 *
 * It writes records the way the callback's contract says: each TXT
 * record's character-strings joined, NUL-terminated, back to back. A
 * record set that does not fit in the buffer is a temperror, never a
 * truncated key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_verify.h"

static int
table_txt(void *arg, const char *qname, char *buf, size_t size, enum dkim_dns *status)
{
	const struct dkim_key_table *t = arg;
	size_t used = 0, n;
	int count = 0;

	*status = DKIM_DNS_NXDOMAIN;
	for (; t->qname; t++) {
		if (strcasecmp(t->qname, qname) != 0)
			continue;
		if (t->txt == NULL) {
			*status = t->status;
			return 0;
		}
		n = strlen(t->txt) + 1;
		if (n > size - used) {
			*status = DKIM_DNS_TEMPERROR;
			return 0;
		}
		memcpy(buf + used, t->txt, n);
		used += n;
		count++;
		*status = DKIM_DNS_OK;
	}
	return count;
}

struct dkim_key_source
dkim_key_source_table(const struct dkim_key_table *t)
{
	struct dkim_key_source s = { table_txt, (void *)(uintptr_t)t };

	return s;
}
