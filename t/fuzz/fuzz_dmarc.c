/*
 * fuzz_dmarc.c - the DMARC inputs sluice parses itself (milter/dmarc.c):
 * record parsing (RFC 7489 6.3, tag=value; unknown tags ignored), the
 * organizational domain through the Public Suffix List, alignment, and
 * a whole evaluation whose DNS answers are the input.
 * Input: line 1 is the TXT record at _dmarc of the From domain; line 2
 * the From domain; line 3 the DKIM d=; line 4 the SPF domain; line 5 a
 * second record at the same name (several records: permerror).
 * Properties: a parsed record has pct in 0..100 and a policy; the
 * organizational domain is a suffix of the domain; alignment is
 * symmetric and a domain is aligned with itself; the verdict's policy
 * to apply is none for a pass.
 */
#include <ctype.h>

#include "dmarc.h"
#include "fuzz.h"

#define LINES 5
#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dafsa"

static const struct psl_ctx_st *psl;

struct answers {
	char *const *line;
	size_t n;
};

static enum dns_status
fetch(void *arg, const char *name, char recs[][DMARC_RECORD_MAX], int max, int *count)
{
	const struct answers *a = arg;
	int c = 0;

	FUZZ_ASSERT(name != NULL && strncmp(name, "_dmarc.", 7) == 0);
	if (a->line[0][0] != '\0' && c < max)
		snprintf(recs[c++], DMARC_RECORD_MAX, "%s", a->line[0]);
	if (a->n > 4 && a->line[4][0] != '\0' && c < max)
		snprintf(recs[c++], DMARC_RECORD_MAX, "%s", a->line[4]);
	*count = c;
	return c ? DNS_OK : DNS_NXDOMAIN;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[LINES];
	char org[DMARC_DOMAIN_MAX + 1], tiny[4], err[256];
	struct dmarc_record rec;
	struct dmarc_dkim dkim;
	struct dmarc_input in;
	struct dmarc_verdict out;
	struct answers ans;
	size_t n, i;
	int rc;

	if (psl == NULL && (psl = dmarc_psl_load(PSL_FILE, err, sizeof(err))) == NULL)
		abort();
	if (size > 16384)
		return 0;
	n = fuzz_lines(data, size, line, LINES);
	for (i = n; i < LINES; i++)
		line[i] = fuzz_str(data, 0);
	for (i = 1; i < 4; i++)
		lower(line[i]);
	memset(&rec, 0, sizeof(rec));
	rc = dmarc_record_parse(line[0], &rec);
	FUZZ_ASSERT(rc >= -1 && rc <= 1);
	if (rc == 0) {
		FUZZ_ASSERT(rec.pct >= 0 && rec.pct <= 100);
		FUZZ_ASSERT(rec.p != DMARC_P_UNSET);
	}
	if (dmarc_org_domain(psl, line[1], org, sizeof(org)) == 0) {
		size_t lo = strlen(org), ld = strlen(line[1]);

		if (ld && line[1][ld - 1] == '.')
			ld--;	/* a final dot is dropped */

		FUZZ_ASSERT(lo <= ld && strncmp(line[1] + ld - lo, org, lo) == 0);
	}
	(void)dmarc_org_domain(psl, line[1], tiny, sizeof(tiny));
	FUZZ_ASSERT(dmarc_aligned(psl, line[1], line[2], false)
		    == dmarc_aligned(psl, line[2], line[1], false));
	FUZZ_ASSERT(dmarc_aligned(psl, line[1], line[2], true)
		    == dmarc_aligned(psl, line[2], line[1], true));

	ans.line = line;
	ans.n = LINES;
	dkim.domain = line[2];
	dkim.pass = size & 1;
	dkim.temperror = (size & 6) == 6;
	memset(&in, 0, sizeof(in));
	in.from_domain = line[1];
	in.spf = (enum spf_result)(size % 7);
	in.spf_domain = line[3][0] ? line[3] : NULL;
	in.dkim = &dkim;
	in.dkim_count = line[2][0] ? 1 : 0;
	in.roll = (int)(size % 100);
	memset(&out, 0, sizeof(out));
	dmarc_evaluate(psl, &in, fetch, &ans, &out);
	if (out.result == DMARC_PASS)
		FUZZ_ASSERT(out.spf_aligned || out.dkim_aligned);
	FUZZ_ASSERT(strlen(out.org_domain) < sizeof(out.org_domain));
	(void)dmarc_result_name(out.result);
	(void)dmarc_policy_name(out.apply);
	fuzz_lines_free(line, LINES);
	return 0;
}
