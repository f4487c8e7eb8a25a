/*
 * dmarc.h - DMARC (RFC 7489) evaluation: record parsing, organizational
 * domain from the Public Suffix List (libpsl), identifier alignment and
 * the policy that applies to one message. Pure but for the record
 * lookup, which the caller provides (the milter's resolver with the
 * message's budget; a table in the unit tests).
 *
 * Interface:
 *   dmarc_psl_load()      the Public Suffix List: Debian's publicsuffix
 *                         file, else libpsl's built-in copy. One per
 *                         process, read-only after load (thread-safe).
 *   dmarc_org_domain()    the organizational domain (RFC 7489 3.2): the
 *                         registrable domain, or the name itself when it is
 *                         a public suffix or has a single label.
 *   dmarc_aligned()       relaxed: same organizational domain; strict: equal.
 *   dmarc_record_parse()  one TXT string: 1 when it is not a DMARC record
 *                         (no leading v=DMARC1, ignored as RFC 7489 6.6.3
 *                         says), 0 with the record, -1 for a DMARC record
 *                         with an unusable p= (and no rua=).
 *   dmarc_evaluate()      the result for the From domain (an A-label,
 *                         lowercase) given the SPF result for the SPF
 *                         domain and the DKIM results: the record of the
 *                         From domain, else of its organizational domain
 *                         (whose sp= applies); pass when an authenticated
 *                         identifier is aligned; the policy to apply to a
 *                         failure after pct= (roll: 0..99, the caller's
 *                         random number).
 *
 * Choices where the RFC leaves room: several DMARC records for one name
 * or one with an unusable policy: permerror (no policy applied); a DNS
 * error fetching the record: temperror; a failure where an aligned
 * identifier could not be checked (SPF or DKIM temperror): temperror, so
 * that a DNS hiccup never rejects mail.
 */
#ifndef SLUICE_MILTER_DMARC_H
#define SLUICE_MILTER_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "spf.h"

#define DMARC_DOMAIN_MAX 255
#define DMARC_RECORD_MAX 2048
#define DMARC_RECORDS_MAX 8

struct psl_ctx_st;

enum dmarc_policy { DMARC_P_UNSET, DMARC_P_NONE, DMARC_P_QUARANTINE,
	DMARC_P_REJECT };
enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

struct dmarc_record {
	enum dmarc_policy p, sp;	/* sp UNSET: p applies */
	int pct;			/* 0..100, default 100 */
	bool adkim_strict, aspf_strict;
};

/* One DKIM signature's outcome, as far as DMARC cares. */
struct dmarc_dkim {
	const char *domain;	/* d=, lowercase A-label */
	bool pass;
	bool temperror;
};

/* Fetches the TXT strings at name into recs; returns the lookup status. */
typedef enum dns_status (*dmarc_fetch_fn)(void *arg, const char *name,
					  char recs[][DMARC_RECORD_MAX], int max, int *count);

struct dmarc_input {
	const char *from_domain;
	enum spf_result spf;
	const char *spf_domain;		/* MAIL FROM domain, HELO for <>; NULL if none */
	const struct dmarc_dkim *dkim;
	size_t dkim_count;
	int roll;			/* 0..99, for pct= */
};

struct dmarc_verdict {
	enum dmarc_result result;
	enum dmarc_policy policy;	/* published for this From domain (p= or sp=) */
	enum dmarc_policy apply;	/* to a failure, after pct=: what to do */
	bool spf_aligned, dkim_aligned;
	char org_domain[DMARC_DOMAIN_MAX + 1];
	const char *why;		/* for permerror and temperror */
};

const struct psl_ctx_st *dmarc_psl_load(const char *file, char *err, size_t errsize);
void dmarc_psl_free(const struct psl_ctx_st *psl);
int dmarc_org_domain(const struct psl_ctx_st *psl, const char *domain, char *out, size_t size);
bool dmarc_aligned(const struct psl_ctx_st *psl, const char *a, const char *b, bool strict);
int dmarc_record_parse(const char *txt, struct dmarc_record *rec);
void dmarc_evaluate(const struct psl_ctx_st *psl, const struct dmarc_input *in,
		    dmarc_fetch_fn fetch, void *arg, struct dmarc_verdict *out);
const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
