/*
 * fuzz_dkim_sig.c - DKIM-Signature fields as the verifier reads them:
 * the strict tag-list parser (milter/dkim_tags.c), every RFC 6376 /
 * RFC 8463 check on the tags (milter/dkim_vsig.c), and the resinfo the
 * A-R header gets from the result (milter/dkim_resinfo.c). Input: the
 * field's value as libmilter gives it (leading space, folds as "\n").
 * Properties: the raw offsets of every tag lie inside the text; every
 * result has a reason unless it is pass; the resinfo fits its buffer or
 * is refused whole (buf "").
 */
#include "dkim_tags.h"
#include "dkim_verify.h"
#include "dkim_vsig.h"
#include "fuzz.h"

#define NOW 1796299875	/* fixed: t= and x= checks are deterministic */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_verify_limits lim;
	struct dkim_tags tags;
	struct dkim_vsig *sig;
	struct dkim_sigresult res;
	const char *why = NULL;
	char resinfo[1024], tiny[16];
	char *text;
	size_t i, len;

	if (size > 20000)
		return 0;
	text = fuzz_str(data, size);
	len = strlen(text);
	memset(&tags, 0, sizeof(tags));
	if (dkim_tags_parse(&tags, text, &why) == 0) {
		FUZZ_ASSERT(tags.count <= DKIM_TAGS_MAX);
		for (i = 0; i < tags.count; i++) {
			FUZZ_ASSERT(tags.t[i].raw_start <= tags.t[i].raw_end && tags.t[i].raw_end <= len);
			FUZZ_ASSERT(dkim_tags_get(&tags, tags.t[i].name) == tags.t[i].value);
			FUZZ_ASSERT(strpbrk(tags.t[i].value, " \t\r\n") == NULL);
		}
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	dkim_tags_free(&tags);

	dkim_verify_limits_default(&lim);
	lim.now = NOW;
	if ((sig = calloc(1, sizeof(*sig))) == NULL)
		abort();
	memset(&res, 0, sizeof(res));
	if (dkim_vsig_parse(sig, text, &lim, NOW, &res) == 0) {
		FUZZ_ASSERT(sig->hcount <= DKIM_HLIST_MAX);
		FUZZ_ASSERT(sig->blen <= DKIM_SIGBYTES_MAX);
		FUZZ_ASSERT(sig->b_raw_start <= sig->b_raw_end && sig->b_raw_end <= len);
		res.result = DKIM_RES_PASS;
		res.reason[0] = '\0';
	} else {
		FUZZ_ASSERT(res.result != DKIM_RES_PASS && res.reason[0] != '\0');
	}
	FUZZ_ASSERT(strlen(res.d) < sizeof(res.d) && strlen(res.s) < sizeof(res.s));
	FUZZ_ASSERT(strlen(res.i) < sizeof(res.i) && strlen(res.b) < sizeof(res.b));
	if (dkim_result_resinfo(&res, resinfo, sizeof(resinfo)) >= 0)
		FUZZ_ASSERT(strlen(resinfo) < sizeof(resinfo));
	if (dkim_result_resinfo(&res, tiny, sizeof(tiny)) < 0)
		FUZZ_ASSERT(tiny[0] == '\0');
	dkim_vsig_free(sig);
	free(sig);
	free(text);
	return 0;
}
