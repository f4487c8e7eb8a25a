/*
 * dmarc.c - DMARC evaluation (see dmarc.h for the contract and choices).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "dmarc.h"

const struct psl_ctx_st *
dmarc_psl_load(const char *file, char *err, size_t errsize)
{
	psl_ctx_t *psl = file ? psl_load_file(file) : NULL;

	if (psl == NULL)
		psl = (psl_ctx_t *)(uintptr_t)psl_builtin();
	if (psl == NULL)
		snprintf(err, errsize, "dmarc: no Public Suffix List (%s, libpsl built-in)",
			 file ? file : "no file");
	return psl;
}

void
dmarc_psl_free(const struct psl_ctx_st *psl)
{
	if (psl && psl != psl_builtin())
		psl_free((psl_ctx_t *)(uintptr_t)psl);
}

int
dmarc_org_domain(const struct psl_ctx_st *psl, const char *domain, char *out, size_t size)
{
	const char *reg;
	size_t n = strlen(domain);

	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, domain, n);
	out[n] = '\0';
	reg = psl_registrable_domain(psl, out);
	if (reg && reg != out)
		memmove(out, reg, strlen(reg) + 1);
	return 0;
}

bool
dmarc_aligned(const struct psl_ctx_st *psl, const char *a, const char *b, bool strict)
{
	char oa[DMARC_DOMAIN_MAX + 1], ob[DMARC_DOMAIN_MAX + 1];

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	if (strcasecmp(a, b) == 0)
		return true;
	if (strict)
		return false;
	return dmarc_org_domain(psl, a, oa, sizeof(oa)) == 0
	    && dmarc_org_domain(psl, b, ob, sizeof(ob)) == 0 && strcasecmp(oa, ob) == 0;
}

static int
policy_word(const char *v, size_t n, enum dmarc_policy *p)
{
	if (n == 4 && strncasecmp(v, "none", 4) == 0)
		*p = DMARC_P_NONE;
	else if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
		*p = DMARC_P_QUARANTINE;
	else if (n == 6 && strncasecmp(v, "reject", 6) == 0)
		*p = DMARC_P_REJECT;
	else
		return -1;
	return 0;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 7489 6.3/6.4: "v=DMARC1" first, then tag=value pairs split by ';'.
 * Unknown tags and malformed optional values are ignored (defaults stay);
 * p= missing or invalid, or sp= invalid: usable only with rua= (p=none). */
int
dmarc_record_parse(const char *txt, struct dmarc_record *rec)
{
	const char *p = txt;
	bool first = true, bad_policy = false, have_p = false, have_rua = false;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	while (*p) {
		const char *tag, *val, *end;
		size_t tn, vn;

		while (is_wsp(*p))
			p++;
		tag = p;
		while (*p && *p != '=' && *p != ';' && !is_wsp(*p))
			p++;
		tn = (size_t)(p - tag);
		while (is_wsp(*p))
			p++;
		if (*p != '=') {	/* not a tag=value: skip to the next ';' */
			if (first)
				return 1;
			while (*p && *p != ';')
				p++;
			if (*p == ';')
				p++;
			continue;
		}
		p++;
		while (is_wsp(*p))
			p++;
		val = p;
		while (*p && *p != ';')
			p++;
		end = p;
		while (end > val && is_wsp(end[-1]))
			end--;
		vn = (size_t)(end - val);
		if (*p == ';')
			p++;
		if (first) {
			if (tn != 1 || tag[0] != 'v' || vn != 6 || strncmp(val, "DMARC1", 6) != 0)
				return 1;
			first = false;
			continue;
		}
		if (tn == 1 && tag[0] == 'p') {
			have_p = true;
			if (policy_word(val, vn, &rec->p) < 0)
				bad_policy = true;
		} else if (tn == 2 && strncmp(tag, "sp", 2) == 0) {
			if (policy_word(val, vn, &rec->sp) < 0)
				bad_policy = true;
		} else if (tn == 3 && strncmp(tag, "pct", 3) == 0) {
			int pct = 0;
			size_t i;

			for (i = 0; i < vn && i < 4 && isdigit((unsigned char)val[i]); i++)
				pct = pct * 10 + (val[i] - '0');
			if (vn > 0 && i == vn && pct <= 100)
				rec->pct = pct;
		} else if (tn == 5 && strncmp(tag, "adkim", 5) == 0 && vn == 1) {
			rec->adkim_strict = val[0] == 's';
		} else if (tn == 4 && strncmp(tag, "aspf", 4) == 0 && vn == 1) {
			rec->aspf_strict = val[0] == 's';
		} else if (tn == 3 && strncmp(tag, "rua", 3) == 0 && vn > 0) {
			have_rua = true;
		}
	}
	if (first)
		return 1;
	if (!have_p || bad_policy) {
		if (!have_rua)
			return -1;
		rec->p = DMARC_P_NONE;	/* RFC 7489 6.6.3 */
		rec->sp = DMARC_P_UNSET;
	}
	return 0;
}

/* The one DMARC record at name: 0 found, 1 none, -1 with out->result set. */
static int
fetch_record(const char *name, dmarc_fetch_fn fetch, void *arg, struct dmarc_record *rec,
	     struct dmarc_verdict *out)
{
	char (*buf)[DMARC_RECORD_MAX] = malloc(DMARC_RECORDS_MAX * sizeof(*buf));
	int count = 0, i, found = 0, invalid = 0;
	enum dns_status st;

	if (buf == NULL) {
		out->result = DMARC_TEMPERROR;
		out->why = "out of memory";
		return -1;
	}
	st = fetch(arg, name, buf, DMARC_RECORDS_MAX, &count);
	if (st == DNS_TEMPFAIL) {
		free(buf);
		out->result = DMARC_TEMPERROR;
		out->why = "DNS error fetching the record";
		return -1;
	}
	for (i = 0; st == DNS_OK && i < count; i++) {
		struct dmarc_record r;
		int rc = dmarc_record_parse(buf[i], &r);

		if (rc == 0 && found++ == 0)
			*rec = r;
		else if (rc < 0)
			invalid++;
	}
	free(buf);
	if (found + invalid == 0)
		return 1;
	if (found + invalid > 1) {
		out->result = DMARC_PERMERROR;
		out->why = "several DMARC records";
		return -1;
	}
	if (invalid) {
		out->result = DMARC_PERMERROR;
		out->why = "DMARC record without a valid policy";
		return -1;
	}
	return 0;
}

static enum dmarc_policy
after_pct(enum dmarc_policy p, int pct, int roll)
{
	if (roll < pct)
		return p;
	/* RFC 7489 6.6.4: the messages not sampled get the next policy down. */
	return p == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
}

void
dmarc_evaluate(const struct psl_ctx_st *psl, const struct dmarc_input *in,
	       dmarc_fetch_fn fetch, void *arg, struct dmarc_verdict *out)
{
	char name[DMARC_DOMAIN_MAX + 16];
	struct dmarc_record rec;
	bool subdomain = false, unsure = false;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	out->result = DMARC_NONE;
	if (in->from_domain == NULL || *in->from_domain == '\0'
	    || dmarc_org_domain(psl, in->from_domain, out->org_domain, sizeof(out->org_domain)) < 0) {
		out->result = DMARC_PERMERROR;
		out->why = "no From domain";
		return;
	}
	snprintf(name, sizeof(name), "_dmarc.%s", in->from_domain);
	if ((rc = fetch_record(name, fetch, arg, &rec, out)) < 0)
		return;
	if (rc == 1) {
		if (strcasecmp(out->org_domain, in->from_domain) == 0)
			return;		/* none */
		snprintf(name, sizeof(name), "_dmarc.%s", out->org_domain);
		if ((rc = fetch_record(name, fetch, arg, &rec, out)) < 0)
			return;
		if (rc == 1)
			return;		/* none */
		subdomain = true;
	}
	out->policy = subdomain && rec.sp != DMARC_P_UNSET ? rec.sp : rec.p;
	if (in->spf_domain && dmarc_aligned(psl, in->from_domain, in->spf_domain, rec.aspf_strict)) {
		if (in->spf == SPF_PASS)
			out->spf_aligned = true;
		else if (in->spf == SPF_TEMPERROR)
			unsure = true;
	}
	for (i = 0; i < in->dkim_count; i++) {
		if (!dmarc_aligned(psl, in->from_domain, in->dkim[i].domain, rec.adkim_strict))
			continue;
		if (in->dkim[i].pass)
			out->dkim_aligned = true;
		else if (in->dkim[i].temperror)
			unsure = true;
	}
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_PASS;
		out->apply = DMARC_P_NONE;
		return;
	}
	if (unsure) {
		out->result = DMARC_TEMPERROR;
		out->why = "an aligned identifier could not be checked";
		return;
	}
	out->result = DMARC_FAIL;
	out->apply = after_pct(out->policy, rec.pct, in->roll);
}

const char *
dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };

	return names[r];
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	static const char *const names[] = { "unset", "none", "quarantine", "reject" };

	return names[p];
}
