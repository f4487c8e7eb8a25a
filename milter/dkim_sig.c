/*
 * dkim_sig.c - making DKIM-Signature header fields (see dkim_sig.h).
 *
 * The layout of the field we write, one tag group per line so that no
 * line nears the 78-character guideline except b= itself:
 *
 *   DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;
 *   	s=s2026; t=1700000000; x=1700604800;
 *   	h=from:to:subject:date;
 *   	bh=...;
 *   	b=...
 *
 * The hash covers the selected fields and then this field with an empty
 * b=, exactly as it will be on the wire (RFC 6376 3.7), so the value is
 * built once with "b=" last, hashed, signed, and the base64 signature is
 * appended (folded every 72 characters, as OpenDKIM and large mail
 * providers do; both verifiers we test with remove b= folds). RSA signs
 * the SHA-256 digest with PKCS#1 v1.5; Ed25519 signs the 32-byte SHA-256
 * digest itself (RFC 8463 section 3). Each signature gets an OpenSSL
 * context of its own (sharing one between threads is not allowed): for
 * RSA a new one, which costs about 1% of the signature; for Ed25519 a
 * copy of the key's ready context, which saves a tenth.
 */
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_sig.h"

#define FOLD "\n\t"
#define LINE_SOFT_MAX 76	/* fold h= before a line passes this */
#define B64_LINE 72		/* b= characters per line */
#define SIG_MAX (DKIM_RSA_BITS_MAX / 8)	/* bytes of the largest signature */

enum dkim_add
dkim_headers_add(struct dkim_headers *h, const char *name, const char *value)
{
	size_t size = strlen(name) + strlen(value) + 2;
	struct dkim_field *grown, *f;

	if (h->count >= DKIM_HEADERS_MAX)
		return DKIM_ADD_TOO_MANY;
	if (size > DKIM_HEADER_BYTES_MAX - h->bytes)
		return DKIM_ADD_TOO_BIG;
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;

		if ((grown = realloc(h->f, cap * sizeof(*h->f))) == NULL)
			return DKIM_ADD_NOMEM;
		h->f = grown;
		h->cap = cap;
	}
	f = &h->f[h->count];
	f->name = strdup(name);
	f->value = strdup(value);
	if (f->name == NULL || f->value == NULL) {
		free(f->name);
		free(f->value);
		return DKIM_ADD_NOMEM;
	}
	h->count++;
	h->bytes += size;
	return DKIM_ADD_OK;
}

void
dkim_headers_free(struct dkim_headers *h)
{
	size_t i;

	for (i = 0; i < h->count; i++) {
		free(h->f[i].name);
		free(h->f[i].value);
	}
	free(h->f);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------ h= list -- */

struct name_list {
	const char *name[DKIM_HLIST_MAX];
	size_t count;
};

static bool
name_listed(const struct name_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (strcasecmp(l->name[i], name) == 0)
			return true;
	return false;
}

static void
name_add(struct name_list *l, const char *name)
{
	if (l->count < DKIM_HLIST_MAX && !name_listed(l, name))
		l->name[l->count++] = name;
}

static bool
strlist_has(const struct strlist *l, const char *name)
{
	size_t i;

	for (i = 0; l && i < l->count; i++)
		if (strcasecmp(l->items[i], name) == 0)
			return true;
	return false;
}

/* The names to sign: From first (RFC 6376 5.4 requires it), then the
 * sign list, then oversigned names the sign list does not have. */
static void
names_to_sign(const struct dkim_sign_params *p, struct name_list *l)
{
	size_t i;

	l->count = 0;
	name_add(l, "From");
	for (i = 0; p->headers && i < p->headers->count; i++)
		name_add(l, p->headers->items[i]);
	for (i = 0; p->oversign && i < p->oversign->count; i++)
		name_add(l, p->oversign->items[i]);
}

/* Appends one name to h=, folding before it when the line gets long. */
static int
hlist_add(struct dkim_buf *hl, size_t *col, const char *name)
{
	size_t n = strlen(name), i;
	char c;

	if (hl->len > 0) {
		if (dkim_buf_append(hl, ":", 1) < 0)
			return -1;
		(*col)++;
		if (*col + n + 1 > LINE_SOFT_MAX) {
			if (dkim_buf_puts(hl, FOLD) < 0)
				return -1;
			*col = 8;	/* a tab is 8 columns */
		}
	}
	for (i = 0; i < n; i++) {
		c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (dkim_buf_append(hl, &c, 1) < 0)
			return -1;
	}
	*col += n;
	return 0;
}

/* Every instance of name, bottom-up, then once more if oversigned. */
static int
cover_name(const struct dkim_sign_params *p, const struct dkim_headers *h,
	   const char *name, struct dkim_prepared *out, size_t *col, size_t *entries)
{
	size_t i;

	for (i = h->count; i-- > 0;) {
		if (strcasecmp(h->f[i].name, name) != 0)
			continue;
		if (++*entries > DKIM_HLIST_MAX
		    || hlist_add(&out->hlist, col, name) < 0
		    || dkim_header_canon(&out->canon, p->header_canon, h->f[i].name,
					 h->f[i].value, true) < 0)
			return -1;
	}
	if (strlist_has(p->oversign, name)
	    && (++*entries > DKIM_HLIST_MAX || hlist_add(&out->hlist, col, name) < 0))
		return -1;
	return 0;
}

size_t
dkim_sig_entries(const struct dkim_sign_params *p, const struct dkim_headers *h)
{
	struct name_list names;
	size_t i, j, n = 0;

	names_to_sign(p, &names);
	for (i = 0; i < names.count; i++) {
		for (j = 0; j < h->count; j++)
			if (strcasecmp(h->f[j].name, names.name[i]) == 0)
				n++;
		if (strlist_has(p->oversign, names.name[i]))
			n++;
	}
	return n;
}

int
dkim_sig_prepare(const struct dkim_sign_params *p, const struct dkim_headers *h,
		 struct dkim_prepared *out, char *err, size_t errsize)
{
	struct name_list names;
	size_t i, col = 8 + 2, entries = 0;	/* after "\th=" */

	dkim_buf_init(&out->hlist, 64 * 1024);
	dkim_buf_init(&out->canon, 2 * (size_t)DKIM_HEADER_BYTES_MAX + 4096);
	names_to_sign(p, &names);
	for (i = 0; i < names.count; i++)
		if (cover_name(p, h, names.name[i], out, &col, &entries) < 0) {
			snprintf(err, errsize, entries > DKIM_HLIST_MAX
				 ? "more than %d header fields to sign" : "out of memory",
				 DKIM_HLIST_MAX);
			dkim_prepared_free(out);
			return -1;
		}
	return 0;
}

void
dkim_prepared_free(struct dkim_prepared *pr)
{
	dkim_buf_free(&pr->hlist);
	dkim_buf_free(&pr->canon);
}

/* ----------------------------------------------------------- signing -- */

/* The field's value up to and including the empty "b=". */
static int
value_without_b(const struct dkim_sign_params *p, const struct dkim_prepared *pr,
		const struct dkim_key *key, const unsigned char bh[DKIM_HASH_LEN],
		struct dkim_buf *v)
{
	char line[1024], bh64[64];
	int n;

	dkim_base64(bh64, bh, DKIM_HASH_LEN);
	n = snprintf(line, sizeof(line), " v=1; a=%s; c=%s/%s; d=%s;" FOLD "s=%s; t=%lld;",
		     dkim_alg_name(key->alg),
		     p->header_canon == CANON_SIMPLE ? "simple" : "relaxed",
		     p->body_canon == CANON_SIMPLE ? "simple" : "relaxed",
		     key->domain, key->selector, (long long)p->timestamp);
	if (n < 0 || (size_t)n >= sizeof(line) || dkim_buf_puts(v, line) < 0)
		return -1;
	if (p->expire > 0) {
		snprintf(line, sizeof(line), " x=%lld;", (long long)p->timestamp + p->expire);
		if (dkim_buf_puts(v, line) < 0)
			return -1;
	}
	return dkim_buf_puts(v, FOLD "h=") < 0
	    || dkim_buf_append(v, pr->hlist.data, pr->hlist.len) < 0
	    || dkim_buf_puts(v, ";" FOLD "bh=") < 0 || dkim_buf_puts(v, bh64) < 0
	    || dkim_buf_puts(v, ";" FOLD "b=") < 0 ? -1 : 0;
}

/* SHA-256 over the covered fields and this field without b= and CRLF. */
static int
header_digest(const struct dkim_sign_params *p, const struct dkim_prepared *pr,
	      const char *sig_value, unsigned char digest[DKIM_HASH_LEN])
{
	struct dkim_buf self;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int rc = -1;

	dkim_buf_init(&self, 64 * 1024 + 4096);
	if (md != NULL
	    && dkim_header_canon(&self, p->header_canon, "DKIM-Signature", sig_value, false) == 0
	    && EVP_DigestInit_ex(md, p->sha256, NULL) == 1
	    && EVP_DigestUpdate(md, pr->canon.data ? pr->canon.data : "", pr->canon.len) == 1
	    && EVP_DigestUpdate(md, self.data, self.len) == 1
	    && EVP_DigestFinal_ex(md, digest, &n) == 1 && n == DKIM_HASH_LEN)
		rc = 0;
	EVP_MD_CTX_free(md);
	dkim_buf_free(&self);
	return rc;
}

static int
sign_rsa(const struct dkim_sign_params *p, EVP_PKEY *pkey,
	 const unsigned char digest[DKIM_HASH_LEN], unsigned char *sig, size_t *len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
	    && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
	    && EVP_PKEY_CTX_set_signature_md(ctx, p->sha256) == 1
	    && EVP_PKEY_sign(ctx, sig, len, digest, DKIM_HASH_LEN) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* From a copy of the key's ready context when there is one (see
 * dkim_keys.h), else from a fresh one. */
static int
sign_ed25519(const struct dkim_key *key, const unsigned char digest[DKIM_HASH_LEN],
	     unsigned char *sig, size_t *len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL
	    && ((key->ed_template && EVP_MD_CTX_copy_ex(md, key->ed_template) == 1)
		|| EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key->pkey, NULL) == 1)
	    && EVP_DigestSign(md, sig, len, digest, DKIM_HASH_LEN) == 1;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* Appends b=: base64, a fold every B64_LINE characters. */
static int
append_b(struct dkim_buf *v, const unsigned char *sig, size_t len)
{
	char b64[4 * ((SIG_MAX + 2) / 3) + 1];
	size_t n, off;

	dkim_base64(b64, sig, len);
	n = strlen(b64);
	for (off = 0; off < n; off += B64_LINE) {
		if (off > 0 && dkim_buf_puts(v, FOLD) < 0)
			return -1;
		if (dkim_buf_append(v, b64 + off, n - off < B64_LINE ? n - off : B64_LINE) < 0)
			return -1;
	}
	return 0;
}

int
dkim_sig_make(const struct dkim_sign_params *p, const struct dkim_prepared *pr,
	      const struct dkim_key *key, const unsigned char bh[DKIM_HASH_LEN],
	      struct dkim_buf *value, char *err, size_t errsize)
{
	unsigned char digest[DKIM_HASH_LEN], sig[SIG_MAX];
	size_t siglen = sizeof(sig);
	int rc;

	dkim_buf_init(value, 64 * 1024 + 4096);
	if (value_without_b(p, pr, key, bh, value) < 0
	    || header_digest(p, pr, value->data, digest) < 0) {
		snprintf(err, errsize, "cannot build the signature header (out of memory)");
		dkim_buf_free(value);
		return -1;
	}
	rc = key->alg == DKIM_ALG_ED25519_SHA256 ? sign_ed25519(key, digest, sig, &siglen)
	    : sign_rsa(p, key->pkey, digest, sig, &siglen);
	if (rc < 0 || append_b(value, sig, siglen) < 0) {
		snprintf(err, errsize, "%s signing with %s failed", dkim_alg_name(key->alg),
			 key->path);
		dkim_buf_free(value);
		return -1;
	}
	return 0;
}
