/*
 * dkim_keysrc.c - two key sources for the DKIM verifier (see the end of
 * dkim_verify.h): a table for tests, and libresolv's res_nquery with a
 * per-query timeout, the plain choice until the milter's DNS layer (with
 * its cache and per-message budget) plugs in through the same callback.
 *
 * Both write records the way the callback's contract says: each TXT
 * record's character-strings joined, NUL-terminated, back to back. A
 * record set that does not fit in the buffer is a temperror, never a
 * truncated key.
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
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

/* ----------------------------------------------------------- resolv -- */

struct dkim_resolv {
	struct __res_state res;
};

struct dkim_resolv *
dkim_resolv_new(int timeout_s)
{
	struct dkim_resolv *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (res_ninit(&r->res) != 0) {
		free(r);
		return NULL;
	}
	r->res.retrans = timeout_s > 0 ? timeout_s : 1;
	r->res.retry = 1;
	return r;
}

void
dkim_resolv_free(struct dkim_resolv *r)
{
	if (r == NULL)
		return;
	res_nclose(&r->res);
	free(r);
}

/* Appends the character-strings of one TXT rdata; -1 when it does not fit. */
static int
append_txt(const unsigned char *rd, size_t rdlen, char *buf, size_t size, size_t *used)
{
	size_t i = 0, n;

	while (i < rdlen) {
		n = rd[i++];
		if (n > rdlen - i || n >= size - *used)
			return -1;
		memcpy(buf + *used, rd + i, n);
		*used += n;
		i += n;
	}
	if (*used >= size)
		return -1;
	buf[(*used)++] = '\0';
	return 0;
}

static int
resolv_txt(void *arg, const char *qname, char *buf, size_t size, enum dkim_dns *status)
{
	struct dkim_resolv *r = arg;
	unsigned char answer[NS_MAXMSG < 65536 ? NS_MAXMSG : 65536];
	size_t used = 0;
	int len, count = 0, i;
	ns_msg msg;
	ns_rr rr;

	len = res_nquery(&r->res, qname, ns_c_in, ns_t_txt, answer, sizeof(answer));
	if (len < 0) {
		switch (r->res.res_h_errno) {
		case HOST_NOT_FOUND: *status = DKIM_DNS_NXDOMAIN; break;
		case NO_DATA: *status = DKIM_DNS_NODATA; break;
		default: *status = DKIM_DNS_TEMPERROR; break;
		}
		return 0;
	}
	*status = DKIM_DNS_TEMPERROR;
	if (ns_initparse(answer, len, &msg) < 0)
		return 0;
	for (i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return 0;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;	/* CNAMEs on the way */
		if (append_txt(ns_rr_rdata(rr), ns_rr_rdlen(rr), buf, size, &used) < 0)
			return 0;
		count++;
	}
	*status = count ? DKIM_DNS_OK : DKIM_DNS_NODATA;
	return count;
}

struct dkim_key_source
dkim_key_source_resolv(struct dkim_resolv *r)
{
	struct dkim_key_source s = { resolv_txt, r };

	return s;
}
