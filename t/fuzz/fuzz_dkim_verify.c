/*
 * fuzz_dkim_verify.c - a whole message through the DKIM verifier
 * (milter/dkim_verify.c): header fields split and fed as libmilter does
 * (name apart, value with its leading space, continuation lines joined
 * by "\n"), canonicalised and hashed (dkim_canon.c), every signature
 * parsed, its key fetched from a key source and checked. Input: the
 * first line is the TXT record every key query gets (so a corpus entry
 * signed with a real key verifies, and the fuzzer mutates both); then
 * the message (RFC 5322, CRLF or LF), the body after the first empty
 * line, fed in chunks of 1..64 bytes chosen by the body's length.
 * Properties: never -1 (out of memory only); at most max_signatures
 * results; every result of a header limit or a malformed field is a
 * result, not a crash; each resinfo fits.
 */
#include <ctype.h>

#include "dkim_verify.h"
#include "fuzz.h"

#define NOW 2000000000L	/* after the seeds' t= (2026), before any x= they lack */

struct keyrec {
	const char *txt;
	int queries;
};

static int
key_txt(void *arg, const char *qname, char *buf, size_t size, enum dkim_dns *status)
{
	struct keyrec *k = arg;
	size_t n = strlen(k->txt);

	FUZZ_ASSERT(qname != NULL && strlen(qname) < 1024);
	k->queries++;
	if (n == 0) {
		*status = DKIM_DNS_NXDOMAIN;
		return 0;
	}
	if (strcmp(k->txt, "TEMPERROR") == 0 || n + 1 > size) {
		*status = DKIM_DNS_TEMPERROR;
		return 0;
	}
	memcpy(buf, k->txt, n + 1);
	*status = DKIM_DNS_OK;
	return 1;
}

/* One header field "Name: value" (with its folds) at p..end: the name and
 * the value libmilter would hand over (leading space kept). */
static int
feed_header(struct dkim_verify *v, const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	char *name, *value;
	size_t i, j;
	int rc;

	if (colon == NULL)
		return 0;	/* Postfix would not pass it on as a header */
	name = fuzz_str((const uint8_t *)p, (size_t)(colon - p));
	value = fuzz_str((const uint8_t *)colon + 1, n - (size_t)(colon + 1 - p));
	for (i = j = 0; value[i]; i++)	/* CRLF in folds -> "\n" */
		if (!(value[i] == '\r' && value[i + 1] == '\n'))
			value[j++] = value[i];
	value[j] = '\0';
	rc = dkim_verify_header(v, name, value);
	free(name);
	free(value);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_verify_limits lim;
	struct dkim_key_source src;
	struct keyrec key = { NULL, 0 };
	const struct dkim_sigresult *res;
	struct dkim_verify *v;
	const char *msg, *end, *p, *qn[16];
	char *first, resinfo[1024];
	size_t n, i, unchecked, step;
	const uint8_t *nl;

	if (size > 200000)
		return 0;
	nl = memchr(data, '\n', size);
	first = fuzz_str(data, nl ? (size_t)(nl - data) : size);
	n = strlen(first);
	if (n && first[n - 1] == '\r')
		first[n - 1] = '\0';
	key.txt = first;
	msg = nl ? (const char *)nl + 1 : (const char *)data + size;
	end = (const char *)data + size;

	dkim_verify_limits_default(&lim);
	lim.now = NOW;
	src.txt = key_txt;
	src.arg = &key;
	if ((v = dkim_verify_new(&lim, &src)) == NULL)
		abort();
	/* headers: a line starting with WSP continues the field before it */
	for (p = msg; p < end;) {
		const char *f = p, *q;

		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\r' ? 2 : 1;
			break;	/* the empty line: body follows */
		}
		for (q = p;;) {
			const char *e = memchr(q, '\n', (size_t)(end - q));

			if (e == NULL) {
				q = end;
				break;
			}
			q = e + 1;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		n = (size_t)(q - f);
		if (n && f[n - 1] == '\n')
			n--;
		if (n && f[n - 1] == '\r')
			n--;
		FUZZ_ASSERT(feed_header(v, f, n) == 0);
		p = q;
	}
	FUZZ_ASSERT(dkim_verify_eoh(v) == 0);
	(void)dkim_verify_qnames(v, qn, 16);
	step = (size_t)(end - p) % 64 + 1;
	while (p < end) {
		size_t k = (size_t)(end - p) < step ? (size_t)(end - p) : step;

		FUZZ_ASSERT(dkim_verify_body(v, (const unsigned char *)p, k) == 0);
		p += k;
	}
	n = dkim_verify_finish(v, &res, &unchecked);
	FUZZ_ASSERT(n <= lim.max_signatures);
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(res[i].result == DKIM_RES_PASS || res[i].reason[0] != '\0');
		if (dkim_result_resinfo(&res[i], resinfo, sizeof(resinfo)) >= 0) {
			FUZZ_ASSERT(strlen(resinfo) < sizeof(resinfo));
			if (getenv("FUZZ_VERBOSE"))	/* to see what a corpus entry reaches */
				fprintf(stderr, "%s\n", resinfo);
		}
	}
	dkim_verify_free(v);
	free(first);
	return 0;
}
