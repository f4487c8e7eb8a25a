/*
 * dkim_sign.c - the DKIM signing module of sluice-milter
 * (struct milter_module dkim_sign_module, registered in modules.c).
 *
 * Contract (SPEC.md, group dkim): outbound mail - from trusted_networks
 * or a SASL-authenticated client - whose From: domain has keys in
 * dkim.keys gets one DKIM-Signature per key: rsa-sha256 for RSA keys,
 * ed25519-sha256 for Ed25519 keys, c=header_canon/body_canon, the
 * dkim.headers fields as often as they occur, dkim.oversign fields once
 * more, t= and optionally x=. Mail that already carries a signature with
 * one of our (d=, s=) pairs is not signed again with that key. Inbound
 * mail is left alone. Every outbound message adds to the milter's log
 * line either "dkim=signed d=... s=... a=..." (several keys: the s= and
 * a= values comma-separated, in the same order) or "dkim=skipped
 * reason=..." / "dkim=error reason=...".
 *
 * How, and why this shape:
 *   - open() decodes every key once (dkim_keys.c) and fetches SHA-256
 *     once; a SIGHUP builds a new state and the core swaps it in, while
 *     messages in flight keep the state they started with.
 *   - Per message we keep only the header fields a signature can cover
 *     (the sign and oversign lists, From, and DKIM-Signature to see our
 *     own earlier signatures), bounded by dkim_sig.h's limits; the body
 *     is hashed as it streams by, never stored.
 *   - Which keys sign is settled at end of headers, so mail we will not
 *     sign costs no body hashing at all.
 *   - Nothing here can lose mail: a message we cannot sign (absurd
 *     headers, no From, a crypto failure) is accepted unsigned with the
 *     reason in the log. Only running out of memory for the state itself
 *     answers tempfail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim_canon.h"
#include "dkim_keys.h"
#include "dkim_parse.h"
#include "dkim_sig.h"
#include "dkim_sign.h"
#include "module.h"

struct sign_conf {
	struct dkim_keys *keys;
	EVP_MD *sha256;
	const struct strlist *headers;	/* in the config, which outlives us */
	const struct strlist *oversign;
	enum canon header_canon, body_canon;
	struct dkim_sign_options opt;
};

struct sign_msg {
	const char *skip;		/* why not, once decided; NULL: signing */
	struct dkim_headers headers;
	unsigned from_fields;
	const struct dkim_key *keys[DKIM_KEYS_PER_DOMAIN];
	size_t nkeys;
	bool body_open;
	struct dkim_body body;
};

/* ------------------------------------------------------- config state -- */

int
dkim_sign_open_with(const struct sluice_config *cfg, const struct dkim_sign_options *opt,
		    void **conf, char *err, size_t errsize)
{
	struct sign_conf *sc;

	*conf = NULL;
	if (!cfg->dkim.sign || cfg->dkim.key_count == 0)
		return 0;	/* off: the core does not call our hooks */
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	sc->headers = &cfg->dkim.headers;
	sc->oversign = &cfg->dkim.oversign;
	sc->header_canon = cfg->dkim.header_canon;
	sc->body_canon = cfg->dkim.body_canon;
	sc->opt = *opt;
	if ((sc->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		snprintf(err, errsize, "OpenSSL has no SHA-256");
		dkim_sign_close(sc);
		return -1;
	}
	if ((sc->keys = dkim_keys_load(cfg->dkim.keys, cfg->dkim.key_count, err, errsize)) == NULL) {
		dkim_sign_close(sc);
		return -1;
	}
	*conf = sc;
	return 0;
}

static int
sign_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct dkim_sign_options opt = { cfg->dkim.subdomains, cfg->dkim.expire };

	return dkim_sign_open_with(cfg, &opt, conf, err, errsize);
}

void
dkim_sign_close(void *conf)
{
	struct sign_conf *sc = conf;

	if (sc == NULL)
		return;
	dkim_keys_free(sc->keys);
	EVP_MD_free(sc->sha256);
	free(sc);
}

/* ------------------------------------------------------ message state -- */

static void
sign_msg_free(void *state)
{
	struct sign_msg *m = state;

	if (m == NULL)
		return;
	dkim_headers_free(&m->headers);
	dkim_body_free(&m->body);
	free(m);
}

/* Decides not to sign; what was collected is no longer needed. */
static void
skip_message(struct sign_msg *m, const char *why)
{
	if (m->skip == NULL)
		m->skip = why;
	dkim_headers_free(&m->headers);
}

static sfsistat
sign_envfrom(struct milter_call *call)
{
	struct sign_msg *m;

	if (!call->conn->msg->outbound)
		return SMFIS_CONTINUE;	/* inbound: no state, no work */
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return SMFIS_TEMPFAIL;
	*call->state = m;
	return SMFIS_CONTINUE;
}

static bool
worth_keeping(const struct sign_conf *sc, const char *name)
{
	return strcasecmp(name, "From") == 0 || strcasecmp(name, "DKIM-Signature") == 0
	    || strlist_contains(sc->headers, name) || strlist_contains(sc->oversign, name);
}

static sfsistat
sign_header(struct milter_call *call, const char *name, const char *value)
{
	struct sign_msg *m = *call->state;

	if (m == NULL || m->skip || !worth_keeping(call->conf, name))
		return SMFIS_CONTINUE;
	if (strcasecmp(name, "From") == 0)
		m->from_fields++;
	switch (dkim_headers_add(&m->headers, name, value)) {
	case DKIM_ADD_OK:
		break;
	case DKIM_ADD_TOO_MANY:
		skip_message(m, "too-many-headers");
		break;
	case DKIM_ADD_TOO_BIG:
		skip_message(m, "headers-too-large");
		break;
	case DKIM_ADD_NOMEM:
		skip_message(m, "out-of-memory");
		break;
	}
	return SMFIS_CONTINUE;
}

static const char *
from_domain(const struct sign_msg *m, char *domain, size_t size)
{
	const char *why = NULL;
	size_t i;

	if (m->from_fields == 0)
		return "no-from";
	if (m->from_fields > 1)
		return "multiple-from";
	for (i = 0; i < m->headers.count; i++)
		if (strcasecmp(m->headers.f[i].name, "From") == 0)
			return dkim_from_domain(m->headers.f[i].value, domain, size, &why) < 0
			    ? "from-unparsable" : NULL;
	return "no-from";
}

/* Has the message a DKIM-Signature with this key's d= and s= already? */
static bool
signed_before(const struct sign_msg *m, const struct dkim_key *k)
{
	char d[DKIM_DOMAIN_MAX + 1], s[DKIM_DOMAIN_MAX + 1];
	size_t i;

	for (i = 0; i < m->headers.count; i++)
		if (strcasecmp(m->headers.f[i].name, "DKIM-Signature") == 0
		    && dkim_sig_identity(m->headers.f[i].value, d, sizeof(d), s, sizeof(s)) == 0
		    && strcasecmp(d, k->domain) == 0 && strcasecmp(s, k->selector) == 0)
			return true;
	return false;
}

static sfsistat
sign_eoh(struct milter_call *call)
{
	const struct sign_conf *sc = call->conf;
	struct sign_msg *m = *call->state;
	struct dkim_sign_params p = { .headers = sc->headers, .oversign = sc->oversign };
	char domain[DKIM_DOMAIN_MAX + 1];
	const struct dkim_key *first;
	const char *why;
	size_t n, i;

	if (m == NULL || m->skip)
		return SMFIS_CONTINUE;
	if ((why = from_domain(m, domain, sizeof(domain))) != NULL) {
		skip_message(m, why);
		return SMFIS_CONTINUE;
	}
	n = dkim_keys_find(sc->keys, domain, sc->opt.parent_domains, &first);
	for (i = 0; i < n; i++)
		if (!signed_before(m, &first[i]))
			m->keys[m->nkeys++] = &first[i];
	if (m->nkeys == 0) {
		skip_message(m, n == 0 ? "no-key" : "already-signed");
		return SMFIS_CONTINUE;
	}
	/* A limit, found before any body is hashed: the mail goes unsigned
	 * as "skipped", like every other limit, not as a signing error. */
	if (dkim_sig_entries(&p, &m->headers) > DKIM_HLIST_MAX) {
		skip_message(m, "too-many-headers");
		return SMFIS_CONTINUE;
	}
	if (dkim_body_init(&m->body, sc->body_canon, sc->sha256) < 0)
		skip_message(m, "out-of-memory");
	else
		m->body_open = true;
	return SMFIS_CONTINUE;
}

static sfsistat
sign_body(struct milter_call *call, const unsigned char *chunk, size_t len)
{
	struct sign_msg *m = *call->state;

	if (m && !m->skip && m->body_open && dkim_body_update(&m->body, chunk, len) < 0)
		skip_message(m, "body-hash-failed");
	return SMFIS_CONTINUE;
}

/* Appends ",item" (or "item") to a comma-separated list. */
static void
list_append(char *list, size_t size, const char *item)
{
	size_t len = strlen(list);

	snprintf(list + len, size - len, "%s%s", len ? "," : "", item);
}

/* For error lines: the queue ID first, as on every line of ours. */
static const char *
queue_id(const struct milter_call *call)
{
	const char *id = call->conn->msg ? call->conn->msg->queue_id : "";

	return id[0] ? id : "NOQUEUE";
}

static bool
insert_signature(struct milter_call *call, const struct dkim_sign_params *p,
		 const struct dkim_prepared *pr, const struct dkim_key *k,
		 const unsigned char bh[DKIM_HASH_LEN])
{
	struct dkim_buf value;
	char err[256];
	bool ok;

	if (dkim_sig_make(p, pr, k, bh, &value, err, sizeof(err)) < 0) {
		log_error("%s: dkim: d=%s s=%s: %s", queue_id(call), k->domain, k->selector, err);
		return false;
	}
	/* Index 0: above every other field, Postfix's Received: included. */
	ok = smfi_insheader(call->ctx, 0, (char *)(uintptr_t)"DKIM-Signature",
			    value.data) == MI_SUCCESS;
	if (!ok)
		log_error("%s: dkim: d=%s s=%s: smfi_insheader failed", queue_id(call), k->domain,
			  k->selector);
	dkim_buf_free(&value);
	return ok;
}

/* Makes and inserts one signature per key; logs what was done. */
static void
sign_and_insert(struct milter_call *call, struct sign_msg *m, struct logline *line)
{
	const struct sign_conf *sc = call->conf;
	struct dkim_sign_params p = {
		sc->header_canon, sc->body_canon, sc->headers, sc->oversign,
		sc->sha256, time(NULL), sc->opt.expire
	};
	unsigned char bh[DKIM_HASH_LEN];
	struct dkim_prepared pr;
	char err[256], sels[600] = "", algs[200] = "";
	size_t i;

	if (dkim_body_final(&m->body, bh) < 0) {
		logline_add(line, "dkim", "error");
		logline_add(line, "reason", "body-hash-failed");
		return;
	}
	if (dkim_sig_prepare(&p, &m->headers, &pr, err, sizeof(err)) < 0) {
		log_error("%s: dkim: %s", queue_id(call), err);
		logline_add(line, "dkim", "error");
		logline_add(line, "reason", "header-hash-failed");
		return;
	}
	for (i = 0; i < m->nkeys; i++)
		if (insert_signature(call, &p, &pr, m->keys[i], bh)) {
			list_append(sels, sizeof(sels), m->keys[i]->selector);
			list_append(algs, sizeof(algs), dkim_alg_name(m->keys[i]->alg));
		}
	dkim_prepared_free(&pr);
	if (sels[0] == '\0') {
		logline_add(line, "dkim", "error");
		logline_add(line, "reason", "signing-failed");
		return;
	}
	logline_add(line, "dkim", "signed");
	logline_add(line, "d", m->keys[0]->domain);
	logline_add(line, "s", sels);
	logline_add(line, "a", algs);
}

static sfsistat
sign_eom(struct milter_call *call, struct logline *line)
{
	struct sign_msg *m = *call->state;

	if (m == NULL)
		return SMFIS_CONTINUE;
	if (m->skip == NULL && !m->body_open)
		skip_message(m, "no-end-of-headers");
	if (m->skip) {
		logline_add(line, "dkim", "skipped");
		logline_add(line, "reason", m->skip);
		return SMFIS_CONTINUE;
	}
	sign_and_insert(call, m, line);
	return SMFIS_CONTINUE;
}

const struct milter_module dkim_sign_module = {
	.name = "dkim_sign",
	.flags = SMFIF_ADDHDRS,
	.open = sign_open,
	.close = dkim_sign_close,
	.envfrom = sign_envfrom,
	.header = sign_header,
	.eoh = sign_eoh,
	.body = sign_body,
	.eom = sign_eom,
	.msg_free = sign_msg_free,
};
