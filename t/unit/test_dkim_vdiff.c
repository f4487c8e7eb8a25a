/*
 * test_dkim_vdiff.c - differential test of our DKIM verifier
 * (milter/dkim_verify.h) against two verifiers we did not write,
 * libopendkim and python3-dkim (t/dkim/verify.py).
 *
 * Each case signs a corpus message (t/dkim/) with a signature built
 * here tag by tag - so it can carry l=, x=, t=, i=, garbage, duplicate
 * or missing tags - then maybe breaks the message (body changed, header
 * changed, body appended, a second From added), and publishes keys with
 * t=s, t=y, h=, k=, s=, revoked p=, a 512-bit RSA key or the wrong key.
 * Every one of the three verifiers judges every case; the test fails
 * when ours does not give the expected verdict (pass / not pass), or a
 * reference does not either, except the reference deviations listed
 * below (so a verifier that passes everything, or nothing, fails). Keys come from one file: libopendkim reads
 * it as DKIM_QUERY_FILE, python via verify.py, ours through the table
 * key source.
 *
 * The signature is made over our own header selection and b= blanking;
 * a bug there would make libopendkim and python disagree with the
 * intended verdict, which this test reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim_canon.h"
#include "dkim_verify.h"

#define MAX_FIELDS 64
#define CHUNK 977

enum mutate { M_NONE, M_BODY, M_HEADER, M_APPEND, M_FROM_BOTTOM, M_FROM_TOP, M_ADD_REPLYTO };

struct vcase {
	const char *name;
	const char *base;	/* t/dkim/ message */
	const char *alg;	/* a= */
	const char *sel;	/* s=: which published record */
	const char *key;	/* which private key signs: "rsa", "ed", "other", "small" */
	const char *c;
	const char *h;
	const char *extra;	/* tags added before h= (signed) */
	const char *omit;	/* a tag left out: "v", "bh", "d", "h", "s", "a" */
	long l;			/* -1: no l= */
	enum mutate mutate;
	bool pass;		/* the expected common verdict */
};

static const struct vcase cases[] = {
	{ "rsa-relaxed", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject:date", "", NULL, -1, M_NONE, true },
	{ "rsa-simple", "folded.eml", "rsa-sha256", "rsa", "rsa", "simple/simple", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "rsa-mixed", "whitespace.eml", "rsa-sha256", "rsa", "rsa", "relaxed/simple", "from:subject", "", NULL, -1, M_NONE, true },
	{ "rsa-no-c", "basic.eml", "rsa-sha256", "rsa", "rsa", NULL, "from:to", "", NULL, -1, M_NONE, true },
	{ "ed25519", "basic.eml", "ed25519-sha256", "ed", "ed", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "ed25519-simple", "8bit.eml", "ed25519-sha256", "ed", "ed", "simple/simple", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "repeated-bottom-up", "repeated.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:to:subject:subject:cc:cc", "", NULL, -1, M_NONE, true },
	{ "repeated-one-instance", "repeated.eml", "rsa-sha256", "rsa", "rsa", "simple/relaxed", "from:subject:to", "", NULL, -1, M_NONE, true },
	{ "h-missing-field", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:reply-to:to:subject", "", NULL, -1, M_NONE, true },
	{ "oversigned-from-added", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:from:to:subject", "", NULL, -1, M_FROM_TOP, false },
	{ "oversigned-reply-to-added", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:reply-to:to", "", NULL, -1, M_ADD_REPLYTO, false },
	{ "from-added-bottom", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_FROM_BOTTOM, false },
	{ "body-changed", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_BODY, false },
	{ "body-changed-ed", "basic.eml", "ed25519-sha256", "ed", "ed", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_BODY, false },
	{ "header-changed", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_HEADER, false },
	{ "header-unsigned-changed", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to", "", NULL, -1, M_HEADER, true },
	{ "wrong-key", "basic.eml", "rsa-sha256", "rsa", "other", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "l-appended", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, 20, M_APPEND, true },
	{ "l-changed-inside", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, 20, M_BODY, false },
	{ "l-zero", "basic.eml", "rsa-sha256", "rsa", "rsa", "simple/simple", "from:to:subject", "", NULL, 0, M_BODY, true },
	{ "no-l-appended", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_APPEND, false },
	{ "x-expired", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "t=1500000000; x=1600000000;", NULL, -1, M_NONE, false },
	{ "x-future", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "t=1500000000; x=4102444800;", NULL, -1, M_NONE, true },
	{ "t-future", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "t=4102444800;", NULL, -1, M_NONE, false },
	{ "ts-i-subdomain", "basic.eml", "rsa-sha256", "strict", "rsa", "relaxed/relaxed", "from:to:subject", "i=anna@sub.example.test;", NULL, -1, M_NONE, false },
	{ "ts-i-same", "basic.eml", "rsa-sha256", "strict", "rsa", "relaxed/relaxed", "from:to:subject", "i=anna@example.test;", NULL, -1, M_NONE, true },
	{ "i-subdomain", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "i=@sub.example.test;", NULL, -1, M_NONE, true },
	{ "i-foreign", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "i=@other.test;", NULL, -1, M_NONE, false },
	{ "revoked", "basic.eml", "rsa-sha256", "revoked", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "testing-key", "basic.eml", "rsa-sha256", "testing", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "key-h-sha1", "basic.eml", "rsa-sha256", "hsha1", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "key-h-both", "basic.eml", "rsa-sha256", "hboth", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "key-k-mismatch", "basic.eml", "rsa-sha256", "edasrsa", "ed", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "key-s-email", "basic.eml", "rsa-sha256", "semail", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, true },
	{ "rsa-512", "basic.eml", "rsa-sha256", "small", "small", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "no-key-record", "basic.eml", "rsa-sha256", "absent", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "garbage-tag", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "3x=1;", NULL, -1, M_NONE, false },
	{ "unknown-tag", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "zz=whatever;", NULL, -1, M_NONE, true },
	{ "duplicate-d", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "d=example.test;", NULL, -1, M_NONE, false },
	{ "duplicate-h", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "h=from;", NULL, -1, M_NONE, false },
	{ "missing-bh", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", "bh", -1, M_NONE, false },
	{ "missing-v", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", "v", -1, M_NONE, false },
	{ "missing-h", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", NULL, "", "h", -1, M_NONE, false },
	{ "missing-d", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", "d", -1, M_NONE, false },
	{ "h-without-from", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "to:subject", "", NULL, -1, M_NONE, false },
	{ "unknown-a", "basic.eml", "rsa-sha512", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "unknown-c", "basic.eml", "rsa-sha256", "rsa", "rsa", "loose/simple", "from:to:subject", "", NULL, -1, M_NONE, false },
	{ "v-2", "basic.eml", "rsa-sha256", "rsa", "rsa", "relaxed/relaxed", "from:to:subject", "", "v2", -1, M_NONE, false },
};

/*
 * Where the two references disagree with each other (found by this
 * test), RFC 6376 decides, and the one that departs from it is named
 * here; ours must still give the RFC's verdict, and the other reference
 * must agree with it.
 *   python3-dkim 1.1.4 ignores the key's t=s and h= tags and does not
 *   require From in h= (RFC 6376 3.6.1, 5.4);
 *   libopendkim 2.11 accepts tag names that are not ALPHA *ALNUMPUNC and
 *   duplicate tags (RFC 6376 3.2: "Tags with duplicate names MUST NOT
 *   occur"; "signatures with syntax errors ... MUST be ignored").
 */
static const struct deviation {
	const char *name, *who;
} deviations[] = {
	{ "ts-i-subdomain", "python" },
	{ "key-h-sha1", "python" },
	{ "h-without-from", "python" },
	{ "garbage-tag", "opendkim" },
	{ "duplicate-d", "opendkim" },
	{ "duplicate-h", "opendkim" },
};

static bool
deviates(const char *name, const char *who)
{
	size_t i;

	for (i = 0; i < sizeof(deviations) / sizeof(deviations[0]); i++)
		if (strcmp(deviations[i].name, name) == 0 && strcmp(deviations[i].who, who) == 0)
			return true;
	return false;
}

static char tmpdir[64], keysfile[128];
static EVP_PKEY *pk_rsa, *pk_ed, *pk_other, *pk_small;
static struct dkim_key_table table[16];
static char *table_txt[16];
static DKIM_LIB *lib;

/* ------------------------------------------------------------ messages -- */

struct msg {
	size_t nf;
	char *name[MAX_FIELDS], *value[MAX_FIELDS];	/* milter form */
	const char *raw[MAX_FIELDS];
	size_t rawlen[MAX_FIELDS];
	const char *body;
	size_t body_len;
};

/* text with CRLF line ends -> fields in the form libmilter gives them. */
static void
parse_msg(const char *text, size_t len, struct msg *m)
{
	const char *p = text, *end = text + len, *line, *eol, *colon;
	char *v, *s, *d;

	m->nf = 0;
	while (p < end && !(p[0] == '\r' && p[1] == '\n')) {
		line = p;
		do {
			eol = strstr(p, "\r\n");
			assert_non_null(eol);
			p = eol + 2;
		} while (p < end && (*p == ' ' || *p == '\t'));
		assert_non_null(colon = memchr(line, ':', (size_t)(eol - line)));
		assert_true(m->nf < MAX_FIELDS);
		m->raw[m->nf] = line;
		m->rawlen[m->nf] = (size_t)(eol - line);
		m->name[m->nf] = strndup(line, (size_t)(colon - line));
		v = strndup(colon + 1, (size_t)(eol - colon - 1));
		for (s = d = v; *s; s++)
			if (!(s[0] == '\r' && s[1] == '\n'))
				*d++ = *s;
		*d = '\0';
		m->value[m->nf++] = v;
	}
	m->body = p < end ? p + 2 : end;
	m->body_len = (size_t)(end - m->body);
}

static void
free_msg(struct msg *m)
{
	size_t i;

	for (i = 0; i < m->nf; i++) {
		free(m->name[i]);
		free(m->value[i]);
	}
	m->nf = 0;
}

static char *
load_crlf(const char *file, size_t *len)
{
	char path[512], *raw, c;
	FILE *fp;
	size_t n = 0, cap = 1 << 16;
	int ch, prev = 0;

	snprintf(path, sizeof(path), SRCDIR "/t/dkim/%s", file);
	assert_non_null(fp = fopen(path, "rb"));
	raw = malloc(cap);
	while ((ch = getc(fp)) != EOF) {
		c = (char)ch;
		assert_true(n + 3 < cap);
		if (c == '\n' && prev != '\r')
			raw[n++] = '\r';
		raw[n++] = c;
		prev = ch;
	}
	fclose(fp);
	raw[n] = '\0';
	*len = n;
	return raw;
}

/* ---------------------------------------------------------------- keys -- */

static EVP_PKEY *
keygen(int type, int bits)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *key = NULL;

	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &key), 1);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static void
pub_b64(EVP_PKEY *key, char *out)
{
	unsigned char der[2048], *p = der;
	size_t len = sizeof(der);

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
		len = (size_t)i2d_PUBKEY(key, &p);
	else
		assert_int_equal(EVP_PKEY_get_raw_public_key(key, der, &len), 1);
	dkim_base64(out, der, len);
}

static void
publish(FILE *fp, size_t *n, const char *sel, const char *fmt, EVP_PKEY *key)
{
	char b64[2048], txt[4096], qname[128];

	b64[0] = '\0';
	if (key)
		pub_b64(key, b64);
	snprintf(txt, sizeof(txt), fmt, b64);
	snprintf(qname, sizeof(qname), "%s._domainkey.example.test", sel);
	fprintf(fp, "%s %s\n", qname, txt);
	table[*n].qname = strdup(qname);
	table[*n].txt = table_txt[*n] = strdup(txt);
	table[*n].status = DKIM_DNS_OK;
	(*n)++;
}

static int
setup(void **state)
{
	dkim_query_t q = DKIM_QUERY_FILE;
	size_t n = 0;
	FILE *fp;

	(void)state;
	strcpy(tmpdir, "/tmp/sluice-dkim-vdiff.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	pk_rsa = keygen(EVP_PKEY_RSA, 2048);
	pk_other = keygen(EVP_PKEY_RSA, 1024);
	pk_small = keygen(EVP_PKEY_RSA, 512);
	pk_ed = keygen(EVP_PKEY_ED25519, 0);
	snprintf(keysfile, sizeof(keysfile), "%s/keys", tmpdir);
	assert_non_null(fp = fopen(keysfile, "w"));
	publish(fp, &n, "rsa", "v=DKIM1; k=rsa; p=%s", pk_rsa);
	publish(fp, &n, "ed", "v=DKIM1; k=ed25519; p=%s", pk_ed);
	publish(fp, &n, "strict", "v=DKIM1; t=s; p=%s", pk_rsa);
	publish(fp, &n, "revoked", "v=DKIM1; k=rsa; p=%s", NULL);
	publish(fp, &n, "testing", "v=DKIM1; t=y; p=%s", pk_rsa);
	publish(fp, &n, "hsha1", "v=DKIM1; h=sha1; p=%s", pk_rsa);
	publish(fp, &n, "hboth", "v=DKIM1; h=sha1:sha256; p=%s", pk_rsa);
	publish(fp, &n, "edasrsa", "v=DKIM1; k=ed25519; p=%s", pk_rsa);
	publish(fp, &n, "semail", "v=DKIM1; s=email; p=%s", pk_rsa);
	publish(fp, &n, "small", "v=DKIM1; p=%s", pk_small);
	fclose(fp);
	assert_non_null(lib = dkim_init(NULL, NULL));
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &q, sizeof(q)), DKIM_STAT_OK);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, keysfile, strlen(keysfile)), DKIM_STAT_OK);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	size_t i;

	(void)state;
	for (i = 0; table[i].qname; i++) {
		free((char *)(uintptr_t)table[i].qname);
		free(table_txt[i]);
	}
	EVP_PKEY_free(pk_rsa);
	EVP_PKEY_free(pk_ed);
	EVP_PKEY_free(pk_other);
	EVP_PKEY_free(pk_small);
	dkim_close(lib);
	if (getenv("SLUICE_T_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		return system(cmd);
	}
	return 0;
}

/* ------------------------------------------------------------- signing -- */

static void
body_hash(const struct msg *m, enum canon bc, long l, char *b64)
{
	unsigned char bh[DKIM_HASH_LEN];
	struct dkim_body b;

	assert_int_equal(dkim_body_init(&b, bc, EVP_sha256()), 0);
	if (l >= 0)
		dkim_body_set_limit(&b, (uint64_t)l);
	assert_int_equal(dkim_body_update(&b, (const unsigned char *)m->body, m->body_len), 0);
	assert_int_equal(dkim_body_final(&b, bh), 0);
	dkim_body_free(&b);
	dkim_base64(b64, bh, sizeof(bh));
}

/* Header hash input: the h= fields bottom-up, then the signature. */
static void
sign_fields(const struct msg *m, enum canon hc, const char *h, const char *value,
	    EVP_PKEY *key, char *b64)
{
	unsigned char digest[32], sig[1024];
	size_t siglen = sizeof(sig), taken[MAX_FIELDS] = { 0 }, i;
	struct dkim_buf canon;
	unsigned int dn;
	char *names = strdup(h ? h : ""), *name, *save = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	dkim_buf_init(&canon, 1 << 20);
	for (name = strtok_r(names, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
		size_t skip = 0, k;

		/* how many times this name was taken before */
		for (k = 0; k < m->nf; k++)
			if (taken[k] && strcasecmp(m->name[k], name) == 0)
				skip++;
		for (i = m->nf; i-- > 0;)
			if (strcasecmp(m->name[i], name) == 0 && skip-- == 0) {
				taken[i] = 1;
				assert_int_equal(dkim_header_canon(&canon, hc, m->name[i], m->value[i], true), 0);
				break;
			}
	}
	assert_int_equal(dkim_header_canon(&canon, hc, "DKIM-Signature", value, false), 0);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, canon.data, canon.len);
	EVP_DigestFinal_ex(md, digest, &dn);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

		assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
		assert_int_equal(EVP_PKEY_sign(ctx, sig, &siglen, digest, 32), 1);
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *e = EVP_MD_CTX_new();

		assert_int_equal(EVP_DigestSignInit_ex(e, NULL, NULL, NULL, NULL, key, NULL), 1);
		assert_int_equal(EVP_DigestSign(e, sig, &siglen, digest, 32), 1);
		EVP_MD_CTX_free(e);
	}
	dkim_base64(b64, sig, siglen);
	EVP_MD_CTX_free(md);
	dkim_buf_free(&canon);
	free(names);
}

static bool
omitted(const struct vcase *c, const char *tag)
{
	return c->omit && strcmp(c->omit, tag) == 0;
}

/* The whole signed message, CRLF, "DKIM-Signature:" field first. */
static char *
make_case(const struct vcase *c, size_t *outlen)
{
	size_t len, off;
	char *raw = load_crlf(c->base, &len), value[8192], bh[64], b[2048], *out, *p;
	enum canon hc = CANON_SIMPLE, bc = CANON_SIMPLE;
	EVP_PKEY *key = strcmp(c->key, "ed") == 0 ? pk_ed : strcmp(c->key, "other") == 0 ? pk_other
	    : strcmp(c->key, "small") == 0 ? pk_small : pk_rsa;
	struct msg m;

	if (c->c && strncmp(c->c, "relaxed", 7) == 0)
		hc = CANON_RELAXED;
	if (c->c && strchr(c->c, '/') && strcmp(strchr(c->c, '/'), "/relaxed") == 0)
		bc = CANON_RELAXED;
	parse_msg(raw, len, &m);
	body_hash(&m, bc, c->l, bh);
	off = (size_t)snprintf(value, sizeof(value), " %s%sa=%s;", omitted(c, "v") || omitted(c, "v2") ? "" : "v=1; ",
			       omitted(c, "v2") ? "v=2; " : "", c->alg);
	if (c->c)
		off += (size_t)snprintf(value + off, sizeof(value) - off, " c=%s;", c->c);
	if (!omitted(c, "d"))
		off += (size_t)snprintf(value + off, sizeof(value) - off, " d=example.test;");
	off += (size_t)snprintf(value + off, sizeof(value) - off, " s=%s;\n\t%s", c->sel, c->extra);
	if (c->l >= 0)
		off += (size_t)snprintf(value + off, sizeof(value) - off, " l=%ld;", c->l);
	if (c->h)
		off += (size_t)snprintf(value + off, sizeof(value) - off, "\n\th=%s;", c->h);
	if (!omitted(c, "bh"))
		off += (size_t)snprintf(value + off, sizeof(value) - off, "\n\tbh=%s;", bh);
	off += (size_t)snprintf(value + off, sizeof(value) - off, "\n\tb=");
	sign_fields(&m, hc, c->h, value, key, b);
	free_msg(&m);
	/* b= folded once in the middle, as signers do */
	snprintf(value + off, sizeof(value) - off, "%.40s\n\t %s", b, b + 40);

	out = malloc(len + strlen(value) * 2 + 256);
	p = out + sprintf(out, "DKIM-Signature:");
	for (const char *s = value; *s; s++) {
		if (*s == '\n')
			*p++ = '\r';
		*p++ = *s;
	}
	p += sprintf(p, "\r\n");
	switch (c->mutate) {
	case M_FROM_TOP:
		p += sprintf(p, "From: mallory@evil.test\r\n");
		break;
	default:
		break;
	}
	memcpy(p, raw, len);
	p[len] = '\0';
	switch (c->mutate) {
	case M_BODY:		/* change the first letter of the body */
		assert_non_null(p = strstr(p, "\r\n\r\n"));
		p[4] = p[4] == 'X' ? 'Y' : 'X';
		break;
	case M_HEADER:
		assert_non_null(p = strstr(p, "Subject: "));
		p[9] = 'X';
		break;
	case M_FROM_BOTTOM:
	case M_ADD_REPLYTO:
	{
		const char *add = c->mutate == M_ADD_REPLYTO ? "Reply-To: <x@evil.test>\r\n"
		    : "From: <mallory@evil.test>\r\n";

		assert_non_null(p = strstr(p, "\r\n\r\n"));
		memmove(p + 2 + strlen(add), p + 2, strlen(p + 2) + 1);
		memcpy(p + 2, add, strlen(add));
		break;
	}
	case M_APPEND:
		strcat(p, "Appended by someone else.\r\n");
		break;
	default:
		break;
	}
	free(raw);
	*outlen = strlen(out);
	return out;
}

/* ------------------------------------------------------------- judging -- */

static bool
ours(const char *text, size_t len, struct dkim_sigresult *r)
{
	struct dkim_verify_limits lim;
	struct dkim_key_source src = dkim_key_source_table(table);
	const struct dkim_sigresult *res;
	struct dkim_verify *v;
	struct msg m;
	size_t i, n, unchecked, off;

	dkim_verify_limits_default(&lim);
	assert_non_null(v = dkim_verify_new(&lim, &src));
	parse_msg(text, len, &m);
	for (i = 0; i < m.nf; i++)
		assert_int_equal(dkim_verify_header(v, m.name[i], m.value[i]), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	for (off = 0; off < m.body_len; off += CHUNK)
		assert_int_equal(dkim_verify_body(v, (const unsigned char *)m.body + off,
						  m.body_len - off < CHUNK ? m.body_len - off : CHUNK), 0);
	n = dkim_verify_finish(v, &res, &unchecked);
	assert_int_equal(n, 1);
	assert_int_equal(unchecked, 0);
	*r = res[0];
	dkim_verify_free(v);
	free_msg(&m);
	return r->result == DKIM_RES_PASS;
}

static bool
opendkim(const char *text, size_t len, char *why, size_t size)
{
	DKIM_STAT st;
	DKIM *d = dkim_verify(lib, (u_char *)(uintptr_t)"v", NULL, &st);
	DKIM_SIGINFO *si;
	struct msg m;
	size_t i;
	bool ok;

	assert_non_null(d);
	parse_msg(text, len, &m);
	for (i = 0; i < m.nf; i++)
		dkim_header(d, (u_char *)(uintptr_t)m.raw[i], m.rawlen[i]);
	dkim_eoh(d);
	if (m.body_len)
		dkim_body(d, (u_char *)(uintptr_t)m.body, m.body_len);
	st = dkim_eom(d, NULL);
	si = dkim_getsignature(d);
	ok = st == DKIM_STAT_OK && si != NULL && DKIM_SIG_CHECK(si);
	snprintf(why, size, "%s/%s", dkim_getresultstr(st),
		 si ? dkim_sig_geterrorstr(dkim_sig_geterror(si)) : "no signature");
	dkim_free(d);
	free_msg(&m);
	return ok;
}

static void
test_three_verifiers_agree(void **state)
{
	size_t ncase = sizeof(cases) / sizeof(cases[0]), i, bad = 0;
	char path[256], cmd[1024], line[1024], why[256], resinfo[512];
	bool py[sizeof(cases) / sizeof(cases[0])];
	FILE *fp;

	(void)state;
	for (i = 0; i < ncase; i++) {
		size_t len;
		char *text = make_case(&cases[i], &len);

		snprintf(path, sizeof(path), "%s/%02zu-%s.eml", tmpdir, i, cases[i].name);
		assert_non_null(fp = fopen(path, "wb"));
		fwrite(text, 1, len, fp);
		fclose(fp);
		free(text);
	}
	snprintf(cmd, sizeof(cmd), "cd %s && /usr/bin/python3 %s/t/dkim/verify.py keys [0-9]*.eml",
		 tmpdir, SRCDIR);
	assert_non_null(fp = popen(cmd, "r"));
	memset(py, 0, sizeof(py));
	while (fgets(line, sizeof(line), fp)) {
		unsigned idx;

		if (sscanf(line, "ok %u-", &idx) == 1 && idx < ncase)
			py[idx] = true;
	}
	pclose(fp);
	for (i = 0; i < ncase; i++) {
		struct dkim_sigresult r;
		size_t len;
		char *text = make_case(&cases[i], &len);
		bool o = ours(text, len, &r), od = opendkim(text, len, why, sizeof(why));

		dkim_result_resinfo(&r, resinfo, sizeof(resinfo));
		printf("# %-26s expect=%-4s ours=%-4s opendkim=%-4s python=%-4s  %s [%s]\n",
		       cases[i].name, cases[i].pass ? "pass" : "no", o ? "pass" : "no",
		       od ? "pass" : "no", py[i] ? "pass" : "no", resinfo, why);
		if (o != cases[i].pass
		    || (od != cases[i].pass && !deviates(cases[i].name, "opendkim"))
		    || (py[i] != cases[i].pass && !deviates(cases[i].name, "python"))) {
			printf("# ^ DISAGREEMENT\n");
			bad++;
		}
		free(text);
	}
	if (bad)
		fail_msg("%zu of %zu cases: the verifiers disagree or miss the expected verdict", bad, ncase);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_verifiers_agree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
