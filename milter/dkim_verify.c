/*
 * dkim_verify.c - verifying every DKIM-Signature of a message (see
 * dkim_verify.h for the interface and contract).
 *
 * Work per message, in the order libmilter gives it:
 *   header  fields are kept (dkim_headers: bounded), signatures counted.
 *   eoh     each signature up to the bound is parsed (dkim_vsig.c); the
 *           usable ones are attached to a body hasher, one per distinct
 *           (body canon, l=), made with the signer's canonicalization.
 *   body    every hasher is fed each chunk: the body is canonicalized
 *           once per combination, not once per signature.
 *   finish  per signature: body hash compared; key fetched (once per
 *           name) and checked; header hash over the h= fields selected
 *           bottom-up (RFC 6376 5.4.2; a name listed more often than it
 *           occurs contributes nothing, which is what oversigning relies
 *           on) and this field with b= emptied; RSA PKCS#1 v1.5 or
 *           Ed25519 (over the SHA-256 digest, RFC 8463) verification.
 * The cost past the hashing is one public-key operation per signature.
 */
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_verify.h"
#include "dkim_vsig.h"

#define KEYNAME_MAX (2 * 256 + 16)

struct vbody {
	enum canon canon;
	bool has_l;
	uint64_t l;
	struct dkim_body body;
	unsigned char hash[DKIM_HASH_LEN];
	bool ok;		/* hash computed */
};

struct vkeyans {		/* one key name's answer, fetched once */
	char qname[KEYNAME_MAX];
	bool fetched;
	enum dkim_dns status;
	int count;
	char *txt;		/* count NUL-terminated records */
};

struct vsigslot {
	struct dkim_vsig sig;
	size_t field;		/* index of the field in v->headers */
	bool decided;		/* the result is known already */
	int body;		/* index into v->bodies */
	int key;		/* index into v->keys */
};

struct dkim_verify {
	struct dkim_verify_limits lim;
	struct dkim_key_source src;
	const EVP_MD *sha256;
	struct dkim_headers headers;
	bool headers_dropped;
	bool eoh, finished;
	time_t now;
	size_t nsig, seen;	/* signatures kept, signatures seen */
	struct vsigslot *sigs;
	struct dkim_sigresult *res;
	struct vbody *bodies;
	size_t nbody;
	struct vkeyans *keys;
	size_t nkey;
};

void
dkim_verify_limits_default(struct dkim_verify_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_signatures = 8;
	l->max_sig_bytes = 16384;
	l->rsa_min_bits = 1024;
	l->rsa_max_bits = 8192;
	l->clock_skew = 300;
}

const char *
dkim_res_name(enum dkim_res r)
{
	switch (r) {
	case DKIM_RES_PASS: return "pass";
	case DKIM_RES_FAIL: return "fail";
	case DKIM_RES_NEUTRAL: return "neutral";
	case DKIM_RES_TEMPERROR: return "temperror";
	case DKIM_RES_PERMERROR: return "permerror";
	case DKIM_RES_POLICY: return "policy";
	}
	return "permerror";
}

struct dkim_verify *
dkim_verify_new(const struct dkim_verify_limits *limits, const struct dkim_key_source *keys)
{
	struct dkim_verify *v = calloc(1, sizeof(*v));
	size_t n;

	if (v == NULL)
		return NULL;
	if (limits)
		v->lim = *limits;
	else
		dkim_verify_limits_default(&v->lim);
	if (v->lim.max_signatures > 64)
		v->lim.max_signatures = 64;
	n = v->lim.max_signatures ? v->lim.max_signatures : 1;
	v->src = *keys;
	v->sha256 = v->lim.sha256 ? v->lim.sha256 : EVP_sha256();
	v->sigs = calloc(n, sizeof(*v->sigs));
	v->res = calloc(n, sizeof(*v->res));
	v->bodies = calloc(n, sizeof(*v->bodies));
	v->keys = calloc(n, sizeof(*v->keys));
	if (!v->sigs || !v->res || !v->bodies || !v->keys) {
		dkim_verify_free(v);
		return NULL;
	}
	return v;
}

int
dkim_verify_header(struct dkim_verify *v, const char *name, const char *value)
{
	bool is_sig = strcasecmp(name, "DKIM-Signature") == 0;

	if (v->eoh)
		return 0;
	switch (dkim_headers_add(&v->headers, name, value)) {
	case DKIM_ADD_OK:
		break;
	case DKIM_ADD_NOMEM:
		return -1;
	default:
		v->headers_dropped = true;
		if (is_sig)
			v->seen++;	/* not kept: counted as unchecked */
		return 0;
	}
	if (is_sig && v->seen++ < v->lim.max_signatures)
		v->sigs[v->nsig++].field = v->headers.count - 1;
	return 0;
}

static void
decide(struct dkim_verify *v, size_t i, enum dkim_res r, const char *why)
{
	v->res[i].result = r;
	snprintf(v->res[i].reason, sizeof(v->res[i].reason), "%s", why);
	v->sigs[i].decided = true;
}

static int
attach_body(struct dkim_verify *v, struct vsigslot *s)
{
	size_t j;

	for (j = 0; j < v->nbody; j++)
		if (v->bodies[j].canon == s->sig.bc && v->bodies[j].has_l == s->sig.has_l
		    && (!s->sig.has_l || v->bodies[j].l == s->sig.l)) {
			s->body = (int)j;
			return 0;
		}
	if (dkim_body_init(&v->bodies[j].body, s->sig.bc, v->sha256) < 0)
		return -1;
	v->bodies[j].canon = s->sig.bc;
	v->bodies[j].has_l = s->sig.has_l;
	v->bodies[j].l = s->sig.l;
	if (s->sig.has_l)
		dkim_body_set_limit(&v->bodies[j].body, s->sig.l);
	v->nbody++;
	s->body = (int)j;
	return 0;
}

static int
attach_key(struct dkim_verify *v, struct vsigslot *s, const struct dkim_sigresult *r)
{
	char qname[KEYNAME_MAX];
	size_t j;

	snprintf(qname, sizeof(qname), "%s._domainkey.%s", r->s, r->d);
	for (j = 0; j < v->nkey; j++)
		if (strcasecmp(v->keys[j].qname, qname) == 0) {
			s->key = (int)j;
			return 0;
		}
	memcpy(v->keys[j].qname, qname, sizeof(qname));
	v->nkey++;
	s->key = (int)j;
	return 0;
}

int
dkim_verify_eoh(struct dkim_verify *v)
{
	size_t i;

	if (v->eoh)
		return 0;
	v->eoh = true;
	v->now = v->lim.now ? v->lim.now : time(NULL);
	for (i = 0; i < v->nsig; i++) {
		struct vsigslot *s = &v->sigs[i];
		const struct dkim_field *f = &v->headers.f[s->field];

		if (dkim_vsig_parse(&s->sig, f->value, &v->lim, v->now, &v->res[i]) < 0) {
			if (v->res[i].result == DKIM_RES_TEMPERROR)
				return -1;	/* out of memory */
			s->decided = true;
			continue;
		}
		if (v->headers_dropped) {
			decide(v, i, DKIM_RES_PERMERROR, "header limit");
			continue;
		}
		if (attach_body(v, s) < 0 || attach_key(v, s, &v->res[i]) < 0)
			return -1;
	}
	return 0;
}

int
dkim_verify_body(struct dkim_verify *v, const unsigned char *p, size_t len)
{
	size_t j;

	if (!v->eoh && dkim_verify_eoh(v) < 0)
		return -1;
	for (j = 0; j < v->nbody; j++) {
		struct vbody *b = &v->bodies[j];

		/* Past l=, canonicalizing on would only count bytes. */
		if (b->has_l && b->body.hashed >= b->l)
			continue;
		if (dkim_body_update(&b->body, p, len) < 0)
			return -1;
	}
	return 0;
}

size_t
dkim_verify_qnames(const struct dkim_verify *v, const char **out, size_t max)
{
	size_t j;

	for (j = 0; j < v->nkey && j < max; j++)
		out[j] = v->keys[j].qname;
	return v->nkey;
}

/* --------------------------------------------------------- finishing -- */

static void
fetch_key(struct dkim_verify *v, struct vkeyans *k)
{
	if (k->fetched)
		return;
	k->fetched = true;
	if ((k->txt = malloc(DKIM_TXT_MAX)) == NULL) {
		k->status = DKIM_DNS_TEMPERROR;
		return;
	}
	k->status = DKIM_DNS_TEMPERROR;
	k->count = v->src.txt(v->src.arg, k->qname, k->txt, DKIM_TXT_MAX, &k->status);
	if (k->count <= 0 && k->status == DKIM_DNS_OK)
		k->status = DKIM_DNS_NODATA;
}

/* The first record that gives a usable key, or the first one's error. */
static int
find_key(struct dkim_verify *v, struct vsigslot *s, struct dkim_vkey *key, size_t i)
{
	struct vkeyans *k = &v->keys[s->key];
	enum dkim_res first_res = DKIM_RES_PERMERROR, r;
	const char *first_why = "no key", *why;
	const char *p;
	int n;

	fetch_key(v, k);
	if (k->status == DKIM_DNS_TEMPERROR) {
		decide(v, i, DKIM_RES_TEMPERROR, "key lookup failed");
		return -1;
	}
	if (k->status != DKIM_DNS_OK) {
		decide(v, i, DKIM_RES_PERMERROR, "no key");
		return -1;
	}
	for (p = k->txt, n = 0; n < k->count && p < k->txt + DKIM_TXT_MAX; n++) {
		if (dkim_vkey_parse(p, &s->sig, &v->lim, key, &r, &why) == 0)
			return 0;
		if (n == 0) {
			first_res = r;
			first_why = why;
		}
		p += strnlen(p, (size_t)(k->txt + DKIM_TXT_MAX - p)) + 1;
	}
	decide(v, i, first_res, first_why);
	return -1;
}

/* The digest of the selected fields and this signature without b=. */
static int
header_digest(struct dkim_verify *v, struct vsigslot *s, unsigned char digest[DKIM_HASH_LEN])
{
	const struct dkim_headers *h = &v->headers;
	const struct dkim_field *self = &h->f[s->field];
	size_t used[DKIM_HLIST_MAX], k, j, c, vlen = strlen(self->value);
	struct dkim_buf canon, blanked;
	EVP_MD_CTX *md = NULL;
	unsigned int n = 0;
	int rc = -1;

	dkim_buf_init(&canon, 2 * (size_t)DKIM_HEADER_BYTES_MAX + 4096);
	dkim_buf_init(&blanked, vlen + 1);
	for (k = 0; k < s->sig.hcount; k++) {
		/* How often this name came before in h=: take the instance
		 * that many up from the bottom. */
		size_t skip = 0;

		for (j = 0; j < k; j++)
			if (strcasecmp(s->sig.h[j], s->sig.h[k]) == 0)
				skip++;
		used[k] = (size_t)-1;
		for (c = h->count; c-- > 0;)
			if (strcasecmp(h->f[c].name, s->sig.h[k]) == 0 && skip-- == 0) {
				used[k] = c;
				break;
			}
		if (used[k] != (size_t)-1
		    && dkim_header_canon(&canon, s->sig.hc, h->f[c].name, h->f[c].value, true) < 0)
			goto out;
	}
	if (dkim_buf_append(&blanked, self->value, s->sig.b_raw_start) < 0
	    || dkim_buf_append(&blanked, self->value + s->sig.b_raw_end, vlen - s->sig.b_raw_end) < 0
	    || dkim_header_canon(&canon, s->sig.hc, self->name, blanked.data, false) < 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) != NULL && EVP_DigestInit_ex(md, v->sha256, NULL) == 1
	    && EVP_DigestUpdate(md, canon.data, canon.len) == 1
	    && EVP_DigestFinal_ex(md, digest, &n) == 1 && n == DKIM_HASH_LEN)
		rc = 0;
out:
	EVP_MD_CTX_free(md);
	dkim_buf_free(&canon);
	dkim_buf_free(&blanked);
	return rc;
}

static int
verify_signature(struct dkim_verify *v, const struct vsigslot *s, EVP_PKEY *pkey,
		 const unsigned char digest[DKIM_HASH_LEN])
{
	int ok;

	if (s->sig.alg == DKIM_VALG_ED25519_SHA256) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		ok = md != NULL && EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL) == 1
		    && EVP_DigestVerify(md, s->sig.b, s->sig.blen, digest, DKIM_HASH_LEN) == 1;
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

		ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1
		    && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
		    && EVP_PKEY_CTX_set_signature_md(ctx, v->sha256) == 1
		    && EVP_PKEY_verify(ctx, s->sig.b, s->sig.blen, digest, DKIM_HASH_LEN) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	return ok ? 0 : -1;
}

static int
check_one(struct dkim_verify *v, size_t i)
{
	struct vsigslot *s = &v->sigs[i];
	struct vbody *b = &v->bodies[s->body];
	unsigned char digest[DKIM_HASH_LEN];
	struct dkim_vkey key;

	if (!b->ok) {
		decide(v, i, DKIM_RES_TEMPERROR, "out of memory");
		return -1;
	}
	if (b->has_l && b->body.hashed < b->l) {
		decide(v, i, DKIM_RES_FAIL, "l= beyond the body");
		return 0;
	}
	if (memcmp(b->hash, s->sig.bh, DKIM_HASH_LEN) != 0) {
		decide(v, i, DKIM_RES_FAIL, "body hash mismatch");
		return 0;
	}
	if (find_key(v, s, &key, i) < 0)
		return 0;
	v->res[i].testing = key.testing;
	v->res[i].key_bits = key.bits;
	if (header_digest(v, s, digest) < 0) {
		dkim_vkey_free(&key);
		decide(v, i, DKIM_RES_TEMPERROR, "out of memory");
		return -1;
	}
	if (verify_signature(v, s, key.pkey, digest) < 0)
		decide(v, i, DKIM_RES_FAIL, "signature did not verify");
	else
		decide(v, i, DKIM_RES_PASS, "");
	dkim_vkey_free(&key);
	return 0;
}

size_t
dkim_verify_finish(struct dkim_verify *v, const struct dkim_sigresult **res, size_t *unchecked)
{
	size_t i, j;

	if (!v->finished) {
		v->finished = true;
		if (dkim_verify_eoh(v) < 0) {
			for (i = 0; i < v->nsig; i++)
				if (!v->sigs[i].decided)
					decide(v, i, DKIM_RES_TEMPERROR, "out of memory");
		}
		for (j = 0; j < v->nbody; j++)
			v->bodies[j].ok = dkim_body_final(&v->bodies[j].body, v->bodies[j].hash) == 0;
		for (i = 0; i < v->nsig; i++)
			if (!v->sigs[i].decided)
				check_one(v, i);
	}
	*res = v->res;
	if (unchecked)
		*unchecked = v->seen - v->nsig;
	return v->nsig;
}

void
dkim_verify_free(struct dkim_verify *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v->sigs && i < v->nsig; i++)
		dkim_vsig_free(&v->sigs[i].sig);
	for (i = 0; v->bodies && i < v->nbody; i++)
		dkim_body_free(&v->bodies[i].body);
	for (i = 0; v->keys && i < v->nkey; i++)
		free(v->keys[i].txt);
	dkim_headers_free(&v->headers);
	free(v->sigs);
	free(v->res);
	free(v->bodies);
	free(v->keys);
	free(v);
}
