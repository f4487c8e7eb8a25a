/*
 * auth.c - the "auth" milter module: SPF and DMARC of inbound mail, one
 * Authentication-Results header (RFC 8601), DMARC enforcement.
 *
 * What it does, per message:
 *   MAIL FROM  skips outbound mail (trusted network, SASL login: the mail
 *              sluice signs) and permitted senders (msg->permitted: no
 *              checks, no A-R of ours, but forged A-R fields claiming our
 *              authserv-id are still removed, RFC 8601 5: the mail comes
 *              from outside, and a permitted envelope sender is easily
 *              forged); else
 *              checks SPF for the MAIL FROM identity, or the HELO identity
 *              for the null sender (RFC 7208 2.4), through libspf2 on the
 *              milter's resolver (dns.h, spf_dns.h).
 *   headers    keeps the first From: value (bounded) and counts the From
 *              fields; notes every Authentication-Results header whose
 *              authserv-id is ours (a forgery: only we write those).
 *   end        evaluates DMARC for the From domain (A-label, libidn2),
 *              deletes the forged headers, inserts ours at index 1 (just
 *              below Postfix's own Received:), and enforces: a failure of a
 *              p=reject domain is refused 550 5.7.1 when dmarc_reject is on,
 *              one of a p=quarantine domain goes to Postfix's hold queue
 *              (smfi_quarantine) when dmarc_quarantine is on.
 *
 * All DNS lookups of a message share one budget (milter.dns_timeout): a
 * slow or dead server makes the results temperror, the mail goes on, and
 * Postfix's milter timeouts are never reached because of us.
 *
 * Several From fields, none, one with several addresses, or one we cannot
 * read: dmarc=permerror (RFC 7489 6.6.1 leaves it to the receiver; we
 * never guess which author counts) and no enforcement.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/nameser.h>
#include <openssl/evp.h>

#include "auth.h"
#include "authres.h"
#include "dkim_parse.h"
#include "dkim_pkey_cache.h"
#include "dmarc.h"
#include "dns.h"
#include "dkim_verify.h"
#include "spf.h"
#include "spf_dns.h"

#define AUTH_FROM_MAX 2048	/* a longer From: value is permerror */
#define AUTH_FORGED_MAX 256	/* more forged A-R fields: tempfail */
#define AUTH_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dafsa"
#define AUTH_PSL_TEXT "/usr/share/publicsuffix/public_suffix_list.dat"
#define AUTH_DKIM_MAX 8		/* signatures verified per message */
#define AUTH_PKEY_CACHE 64	/* decoded DKIM keys kept (dkim_pkey_cache.h) */

struct auth_conf {
	bool spf, dkim, dmarc, dmarc_reject, dmarc_quarantine;
	long budget_ms;
	char authserv_id[256];
	struct dns_resolver *dns;
	const struct psl_ctx_st *psl;
	EVP_MD *sha256;			/* fetched once, not per digest */
	struct dkim_pkey_cache *pkeys;	/* decoded DKIM keys, all messages */
};

struct auth_msg {
	bool skip;
	bool strip_only;			/* skipped, but forged A-R removed */
	struct dns_budget budget;
	bool spf_checked, spf_helo;
	enum spf_result spf;
	char spf_identity[ADDRESS_MAX + 1];	/* the address or HELO name checked */
	char spf_domain[ADDRESS_DOMAIN_MAX + 1];
	unsigned from_count;
	bool from_too_long;
	char from_value[AUTH_FROM_MAX];
	unsigned ar_seen;			/* A-R fields so far (1-based index) */
	unsigned forged[AUTH_FORGED_MAX];
	unsigned forged_count;
	bool forged_overflow;
	bool dkim_nomem;			/* the verifier ran out of memory */
	struct dkim_verify *dkim;		/* NULL: DKIM not checked */
	struct auth_conf *conf;			/* for the key source */
};

static void
auth_close(void *conf)
{
	struct auth_conf *c = conf;

	if (c == NULL)
		return;
	dns_resolver_free(c->dns);
	dmarc_psl_free(c->psl);
	dkim_pkey_cache_free(c->pkeys);
	EVP_MD_free(c->sha256);
	free(c);
}

static int
auth_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct auth_conf *c;

	*conf = NULL;
	if (!cfg->milter.spf && !cfg->milter.dmarc && !cfg->milter.dkim_verify)
		return 0;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errsize, "auth: out of memory");
		return -1;
	}
	c->spf = cfg->milter.spf;
	c->dkim = cfg->milter.dkim_verify;
	c->dmarc = cfg->milter.dmarc;
	c->dmarc_reject = cfg->milter.dmarc_reject;
	c->dmarc_quarantine = cfg->milter.dmarc_quarantine;
	c->budget_ms = cfg->milter.dns_timeout_ms;
	snprintf(c->authserv_id, sizeof(c->authserv_id), "%s", cfg->milter.authserv_id);
	if ((c->dns = dns_resolver_new(NULL, err, errsize)) == NULL) {
		auth_close(c);
		return -1;
	}
	/* OpenSSL 3 looks an implicit EVP_sha256() up in its provider store
	 * (locks, hash tables) at every digest init: fetch it once. */
	if (c->dkim && ((c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL
			|| (c->pkeys = dkim_pkey_cache_new(AUTH_PKEY_CACHE)) == NULL)) {
		snprintf(err, errsize, "auth: cannot set up the DKIM verifier (OpenSSL, memory)");
		auth_close(c);
		return -1;
	}
	if (c->dmarc) {
		c->psl = dmarc_psl_load(AUTH_PSL_FILE, err, errsize);
		if (c->psl == NULL)
			c->psl = dmarc_psl_load(AUTH_PSL_TEXT, err, errsize);
		if (c->psl == NULL) {
			auth_close(c);
			return -1;
		}
	}
	*conf = c;
	return 0;
}

static void
check_spf(struct auth_conf *c, struct milter_conn *conn, struct auth_msg *st)
{
	const struct milter_msg *msg = conn->msg;
	const char *at = strrchr(msg->from, '@');
	struct SPF_dns_server_struct *layer;
	struct spf_checker *checker;
	const char *sender = "";

	st->spf_checked = true;
	st->spf = SPF_NONE;
	if (msg->from[0] && !msg->from_unparsable && at && at[1]) {
		sender = msg->from;
		snprintf(st->spf_identity, sizeof(st->spf_identity), "%s", msg->from);
		snprintf(st->spf_domain, sizeof(st->spf_domain), "%s", at + 1);
	} else if (msg->from[0] == '\0' && conn->helo[0]) {
		/* The null sender: the HELO identity (RFC 7208 2.3, 2.4). */
		st->spf_helo = true;
		snprintf(st->spf_identity, sizeof(st->spf_identity), "%s", conn->helo);
		snprintf(st->spf_domain, sizeof(st->spf_domain), "%s", conn->helo);
	} else {
		return;		/* nothing SPF can speak for: none */
	}
	if ((layer = spf_dns_new(c->dns)) == NULL) {
		st->spf = SPF_TEMPERROR;
		return;
	}
	spf_dns_set_budget(layer, &st->budget);
	if ((checker = spf_checker_new_dns(layer)) == NULL)
		st->spf = SPF_TEMPERROR;
	else
		st->spf = spf_check(checker, conn->client_addr, conn->helo, sender);
	spf_checker_free(checker);
	spf_dns_free(layer);
}

/* The verifier's key source: TXT records from our resolver, within the
 * message's budget (dkim_verify.h: records back to back, NUL-ended). */
static int
key_txt(void *arg, const char *qname, char *buf, size_t size, enum dkim_dns *status)
{
	struct auth_msg *st = arg;
	struct dns_answer ans;
	size_t used = 0;
	int i, n = 0;

	switch (dns_lookup(st->conf->dns, qname, ns_t_txt, &st->budget, &ans)) {
	case DNS_OK:
		*status = DKIM_DNS_OK;
		break;
	case DNS_NXDOMAIN:
		*status = DKIM_DNS_NXDOMAIN;
		break;
	case DNS_NODATA:
		*status = DKIM_DNS_NODATA;
		break;
	default:
		*status = DKIM_DNS_TEMPERROR;
		break;
	}
	for (i = 0; *status == DKIM_DNS_OK && i < ans.count; i++) {
		if (used >= size || dns_txt(&ans, i, buf + used, size - used) < 0)
			continue;	/* malformed or too big: skipped */
		used += strlen(buf + used) + 1;
		n++;
	}
	if (*status == DKIM_DNS_OK && n == 0)
		*status = ans.count ? DKIM_DNS_TEMPERROR : DKIM_DNS_NODATA;
	dns_answer_free(&ans);
	return n;
}

static void
start_dkim(struct auth_conf *c, struct auth_msg *st)
{
	struct dkim_verify_limits limits;
	struct dkim_key_source keys = { key_txt, st };

	dkim_verify_limits_default(&limits);
	limits.max_signatures = AUTH_DKIM_MAX;
	limits.sha256 = c->sha256;
	limits.pkeys = c->pkeys;
	st->conf = c;
	if ((st->dkim = dkim_verify_new(&limits, &keys)) == NULL)
		st->dkim_nomem = true;
}

static sfsistat
auth_envfrom(struct milter_call *call)
{
	struct auth_conf *c = call->conf;
	struct milter_msg *msg = call->conn->msg;
	struct auth_msg *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return SMFIS_TEMPFAIL;
	*call->state = st;
	dns_budget_init(&st->budget, c->budget_ms);
	/* Outbound (the mail sluice signs) and permitted senders: unchecked. */
	if (msg->outbound || msg->permitted) {
		st->skip = true;
		st->strip_only = !msg->outbound;
		return SMFIS_CONTINUE;
	}
	if (c->spf)
		check_spf(c, call->conn, st);
	if (c->dkim)
		start_dkim(c, st);
	return SMFIS_CONTINUE;
}

/* One received Authentication-Results field: a forgery when its
 * authserv-id is ours (only we write those). */
static void
note_ar(const struct auth_conf *c, struct auth_msg *st, const char *value)
{
	char id[256];

	st->ar_seen++;
	if (authres_authserv_id(value, id, sizeof(id)) == 0 && strcasecmp(id, c->authserv_id) == 0) {
		if (st->forged_count < AUTH_FORGED_MAX)
			st->forged[st->forged_count++] = st->ar_seen;
		else
			st->forged_overflow = true;
	}
}

/* Deletes the forged fields, from the last (indexes count per name over
 * the fields as received). */
static void
remove_forged(struct milter_call *call, const struct auth_msg *st)
{
	unsigned i;

	for (i = st->forged_count; i > 0; i--)
		if (smfi_chgheader(call->ctx, (char *)(uintptr_t)"Authentication-Results",
				   (int)st->forged[i - 1], NULL) != MI_SUCCESS)
			log_warning("%s: auth: cannot delete a forged Authentication-Results field",
				    call->conn->msg->queue_id[0] ? call->conn->msg->queue_id : "NOQUEUE");
}

static sfsistat
auth_header(struct milter_call *call, const char *name, const char *value)
{
	struct auth_conf *c = call->conf;
	struct auth_msg *st = *call->state;

	if (st == NULL || (st->skip && !st->strip_only))
		return SMFIS_CONTINUE;
	if (st->strip_only) {
		if (strcasecmp(name, "Authentication-Results") == 0)
			note_ar(c, st, value);
		return SMFIS_CONTINUE;
	}
	if (st->dkim && dkim_verify_header(st->dkim, name, value) < 0)
		st->dkim_nomem = true;
	if (strcasecmp(name, "From") == 0) {
		if (st->from_count++ == 0) {
			if (strlen(value) >= sizeof(st->from_value))
				st->from_too_long = true;
			else
				snprintf(st->from_value, sizeof(st->from_value), "%s", value);
		}
	} else if (strcasecmp(name, "Authentication-Results") == 0) {
		note_ar(c, st, value);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
auth_eoh(struct milter_call *call)
{
	struct auth_msg *st = *call->state;

	if (st && st->dkim && dkim_verify_eoh(st->dkim) < 0)
		st->dkim_nomem = true;
	return SMFIS_CONTINUE;
}

static sfsistat
auth_body(struct milter_call *call, const unsigned char *chunk, size_t len)
{
	struct auth_msg *st = *call->state;

	if (st && st->dkim && !st->dkim_nomem && dkim_verify_body(st->dkim, chunk, len) < 0)
		st->dkim_nomem = true;
	return SMFIS_CONTINUE;
}

/* The DKIM results: A-R resinfos, DMARC's inputs, the log's summary. */
static void
finish_dkim(struct auth_msg *st, struct authres *ar, struct dmarc_dkim *dd, size_t *ndd,
	    char *summary, size_t ssize)
{
	const struct dkim_sigresult *res = NULL;
	size_t n, i, unchecked = 0, o = 0;
	char info[1024];

	*ndd = 0;
	snprintf(summary, ssize, "none");
	if (st->dkim == NULL)
		return;
	n = dkim_verify_finish(st->dkim, &res, &unchecked);
	if (n == 0)
		authres_add(ar, "dkim", "none", unchecked ? "too many signatures" : NULL, NULL);
	for (i = 0; i < n; i++) {
		if (dkim_result_resinfo(&res[i], info, sizeof(info)) > 0)
			authres_add_raw(ar, info);
		if (*ndd < AUTH_DKIM_MAX && res[i].d[0]) {
			dd[*ndd].domain = res[i].d;
			dd[*ndd].pass = res[i].result == DKIM_RES_PASS;
			dd[*ndd].temperror = res[i].result == DKIM_RES_TEMPERROR;
			(*ndd)++;
		}
		if (o < ssize)
			o += (size_t)snprintf(summary + o, ssize - o, "%s%s", i ? "," : "",
					      dkim_res_name(res[i].result));
	}
}

/* The From domain as DMARC needs it: lowercase A-label; NULL and *why
 * when there is no single author domain. */
static const char *
from_domain(const struct auth_msg *st, char *out, size_t size, const char **why)
{
	char domain[DKIM_DOMAIN_MAX + 1];

	if (st->from_count == 0) {
		*why = "no From field";
		return NULL;
	}
	if (st->from_count > 1) {
		*why = "several From fields";
		return NULL;
	}
	if (st->from_too_long) {
		*why = "From field too long";
		return NULL;
	}
	/* An A-label, lowercase: a UTF-8 domain is converted (dkim_parse.h). */
	if (dkim_from_domain(st->from_value, domain, sizeof(domain), why) < 0)
		return NULL;
	if (strlen(domain) >= size) {
		*why = "From domain too long";
		return NULL;
	}
	memcpy(out, domain, strlen(domain) + 1);
	return out;
}

struct fetch_arg {
	struct auth_conf *conf;
	struct auth_msg *st;
};

static enum dns_status
fetch_txt(void *arg, const char *name, char recs[][DMARC_RECORD_MAX], int max, int *count)
{
	struct fetch_arg *a = arg;
	struct dns_answer ans;
	enum dns_status status;
	int i;

	*count = 0;
	status = dns_lookup(a->conf->dns, name, ns_t_txt, &a->st->budget, &ans);
	for (i = 0; status == DNS_OK && i < ans.count && *count < max; i++) {
		char *buf = malloc((size_t)ans.len[i] + 1);

		if (buf == NULL)
			continue;
		if (dns_txt(&ans, i, buf, (size_t)ans.len[i] + 1) == 0) {
			if (strlen(buf) < DMARC_RECORD_MAX)
				memcpy(recs[(*count)++], buf, strlen(buf) + 1);
			else if (strncmp(buf, "v=DMARC1", 8) == 0)	/* too long: unusable */
				snprintf(recs[(*count)++], DMARC_RECORD_MAX, "v=DMARC1; p=oversized");
		}
		free(buf);
	}
	dns_answer_free(&ans);
	return status;
}

static void
dmarc_comment(const struct dmarc_verdict *v, char *out, size_t size)
{
	if (v->result == DMARC_PASS || v->result == DMARC_FAIL)
		snprintf(out, size, "p=%s dis=%s", dmarc_policy_name(v->policy),
			 v->result == DMARC_PASS ? "none" : dmarc_policy_name(v->apply));
	else if (v->why)
		snprintf(out, size, "%s", v->why);
	else
		out[0] = '\0';
}

static sfsistat
auth_eom(struct milter_call *call, struct logline *line)
{
	struct auth_conf *c = call->conf;
	struct auth_msg *st = *call->state;
	char domain[DMARC_DOMAIN_MAX + 1], comment[256], text[512];
	const char *dom = NULL, *why = NULL;
	struct dmarc_verdict v = { .result = DMARC_NONE };
	struct authres ar;
	struct dmarc_dkim dkim[AUTH_DKIM_MAX];
	size_t ndkim = 0;
	char dkim_summary[128] = "";
	bool evaluated = false;

	if (st && st->forged_overflow) {
		smfi_setreply(call->ctx, (char *)(uintptr_t)"451", (char *)(uintptr_t)"4.7.0",
			      (char *)(uintptr_t)"Too many Authentication-Results header fields");
		logline_add(line, "auth", "tempfail");
		logline_add(line, "reason", "too-many-authentication-results");
		return SMFIS_TEMPFAIL;
	}
	if (st == NULL || st->skip) {
		if (st && st->strip_only) {
			logline_add(line, "auth", "skipped-permitted");
			remove_forged(call, st);
			if (st->forged_count)
				logline_addf(line, "ar_removed", "%u", st->forged_count);
		}
		return SMFIS_CONTINUE;
	}
	if (st->dkim_nomem) {
		logline_add(line, "auth", "tempfail");
		logline_add(line, "reason", "out-of-memory");
		return SMFIS_TEMPFAIL;
	}
	authres_start(&ar, c->authserv_id);
	if (st->spf_checked) {
		const char *props[] = { st->spf_helo ? "smtp.helo" : "smtp.mailfrom",
			st->spf_identity, NULL };

		authres_add(&ar, "spf", spf_result_name(st->spf),
			    st->spf == SPF_TEMPERROR && st->budget.timed_out ? "DNS timeout" : NULL,
			    st->spf_identity[0] ? props : NULL);
	}
	if (c->dkim)
		finish_dkim(st, &ar, dkim, &ndkim, dkim_summary, sizeof(dkim_summary));
	if (c->dmarc) {
		struct dmarc_input in = { 0 };
		struct fetch_arg fa = { c, st };

		if ((dom = from_domain(st, domain, sizeof(domain), &why)) != NULL) {
			in.from_domain = dom;
			in.spf = st->spf_checked ? st->spf : SPF_NONE;
			in.spf_domain = st->spf_checked && st->spf_domain[0] ? st->spf_domain : NULL;
			in.dkim = dkim;
			in.dkim_count = ndkim;
			in.roll = (int)arc4random_uniform(100);
			dmarc_evaluate(c->psl, &in, fetch_txt, &fa, &v);
			evaluated = true;
		} else {
			v.result = DMARC_PERMERROR;
			v.why = why;
		}
		if (v.result == DMARC_TEMPERROR && st->budget.timed_out)
			v.why = "DNS timeout";
		dmarc_comment(&v, comment, sizeof(comment));
		{
			const char *props[] = { "header.from", dom, NULL };

			authres_add(&ar, "dmarc", dmarc_result_name(v.result),
				    comment[0] ? comment : NULL, dom ? props : NULL);
		}
	}
	/* Forged fields first, then ours. */
	remove_forged(call, st);
	if (smfi_insheader(call->ctx, 1, (char *)(uintptr_t)"Authentication-Results",
			   (char *)(uintptr_t)authres_value(&ar)) != MI_SUCCESS)
		log_warning("%s: auth: cannot add the Authentication-Results field",
			    call->conn->msg->queue_id[0] ? call->conn->msg->queue_id : "NOQUEUE");
	if (st->spf_checked)
		logline_add(line, "spf", spf_result_name(st->spf));
	if (c->dkim)
		logline_add(line, "dkim", dkim_summary);
	if (c->dmarc) {
		logline_add(line, "dmarc", dmarc_result_name(v.result));
		logline_add(line, "from_domain", dom ? dom : "");
		if (evaluated && (v.result == DMARC_PASS || v.result == DMARC_FAIL))
			logline_add(line, "dmarc_policy", dmarc_policy_name(v.policy));
		if (why)
			logline_add(line, "dmarc_reason", why);
	}
	if (st->forged_count)
		logline_addf(line, "ar_removed", "%u", st->forged_count);
	if (st->budget.timed_out)
		logline_add(line, "dns", "timeout");
	if (v.result != DMARC_FAIL)
		return SMFIS_CONTINUE;
	if (v.apply == DMARC_P_REJECT && c->dmarc_reject) {
		snprintf(text, sizeof(text), "Message rejected by the DMARC policy of %s", dom);
		smfi_setreply(call->ctx, (char *)(uintptr_t)"550", (char *)(uintptr_t)"5.7.1", text);
		logline_add(line, "action", "reject");
		return SMFIS_REJECT;
	}
	if (v.apply == DMARC_P_QUARANTINE && c->dmarc_quarantine) {
		snprintf(text, sizeof(text), "DMARC policy of %s: quarantine", dom);
		if (smfi_quarantine(call->ctx, text) == MI_SUCCESS)
			logline_add(line, "action", "hold");
		else
			logline_add(line, "action", "hold-failed");
	}
	return SMFIS_CONTINUE;
}

static void
auth_msg_free(void *state)
{
	struct auth_msg *st = state;

	if (st)
		dkim_verify_free(st->dkim);
	free(state);
}

const struct milter_module auth_module = {
	.name = "auth",
	.flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
	.open = auth_open,
	.close = auth_close,
	.envfrom = auth_envfrom,
	.header = auth_header,
	.eoh = auth_eoh,
	.body = auth_body,
	.eom = auth_eom,
	.msg_free = auth_msg_free,
};
