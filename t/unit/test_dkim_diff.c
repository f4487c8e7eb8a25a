/*
 * test_dkim_diff.c - differential test of our DKIM signer against the
 * references: over the corpus in t/dkim/ (folded and repeated headers,
 * empty bodies, trailing blank lines, whitespace runs, 8-bit, a last
 * line without CRLF, odd header case) plus generated 1 MiB bodies, for
 * every pair of header and body canonicalization and for RSA-2048 and
 * Ed25519 keys:
 *   - our body hash (fed in odd-sized chunks, as libmilter cuts them)
 *     equals the bh= libopendkim computes for the same message;
 *   - libopendkim verifies every signature we make;
 *   - python3-dkim verifies every signature we make (t/dkim/verify.py).
 * Messages are fed to our signer the way Postfix feeds a milter: header
 * values with their leading space and "\n" between continuation lines.
 * Public keys come from a file (libopendkim's DKIM_QUERY_FILE), not DNS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <opendkim/dkim.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dkim_sig.h"

#define MAX_FIELDS 64
#define MAX_MSGS 32
#define CHUNK 7919		/* a prime: chunk ends fall everywhere */

struct msg {
	char name[64];
	char *raw;		/* CRLF line ends */
	size_t len;
	size_t nf;
	char *field_name[MAX_FIELDS], *field_value[MAX_FIELDS];	/* milter form */
	const char *field_raw[MAX_FIELDS];	/* "Name: value" as in raw */
	size_t field_len[MAX_FIELDS];
	const char *body;
	size_t body_len;
};

static struct msg msgs[MAX_MSGS];
static size_t nmsgs;
static char tmpdir[64], keysfile[128], rsa_pem[4096];
static struct dkim_keys *keys;	/* [0] RSA-2048, [1] Ed25519 */
static EVP_MD *sha256;
static DKIM_LIB *lib;

/* ------------------------------------------------------------ corpus -- */

static void
parse_msg(struct msg *m)
{
	const char *p = m->raw, *end = m->raw + m->len, *line, *eol;

	m->nf = 0;
	while (p < end && !(p[0] == '\r' && p[1] == '\n')) {
		line = p;
		do {	/* a field runs until a line that does not start with WSP */
			eol = strstr(p, "\r\n");
			assert_non_null(eol);
			p = eol + 2;
		} while (p < end && (*p == ' ' || *p == '\t'));
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		assert_non_null(colon);
		assert_true(m->nf < MAX_FIELDS);
		m->field_raw[m->nf] = line;
		m->field_len[m->nf] = (size_t)(eol - line);
		m->field_name[m->nf] = strndup(line, (size_t)(colon - line));
		/* milter form: value after the colon, CRLF folds as bare LF */
		char *v = strndup(colon + 1, (size_t)(eol - colon - 1)), *s, *d;
		for (s = d = v; *s; s++)
			if (!(s[0] == '\r' && s[1] == '\n'))
				*d++ = *s;
		*d = '\0';
		m->field_value[m->nf++] = v;
	}
	m->body = p < end ? p + 2 : end;
	m->body_len = (size_t)(end - m->body);
}

static void
add_msg(const char *name, const char *text, size_t len)
{
	struct msg *m = &msgs[nmsgs++];
	size_t i, o = 0;

	assert_true(nmsgs <= MAX_MSGS);
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->raw = malloc(2 * len + 1);
	for (i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			m->raw[o++] = '\r';
		m->raw[o++] = text[i];
	}
	m->raw[o] = '\0';
	m->len = o;
	parse_msg(m);
}

static void
load_corpus(void)
{
	DIR *dir = opendir(SRCDIR "/t/dkim");
	struct dirent *e;
	char path[512], *text;
	FILE *fp;
	long n;

	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL) {
		if (strlen(e->d_name) < 5 || strcmp(e->d_name + strlen(e->d_name) - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), SRCDIR "/t/dkim/%s", e->d_name);
		assert_non_null(fp = fopen(path, "rb"));
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		text = malloc((size_t)n + 1);
		assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
		fclose(fp);
		add_msg(e->d_name, text, (size_t)n);
		free(text);
	}
	closedir(dir);
	assert_true(nmsgs >= 10);
}

/* 1 MiB bodies: lines with whitespace runs, 8-bit bytes and blank lines;
 * and one 1 MiB line without any line end. */
static void
add_big_msgs(void)
{
	const char *hdr = "From: anna@example.test\nTo: bob@other.test\nSubject: big\n\n";
	size_t size = 1024 * 1024, i, h = strlen(hdr);
	char *t = malloc(h + size + 8);

	memcpy(t, hdr, h);
	for (i = 0; i < size; i++)
		t[h + i] = "Lorem  ipsum\t dolor \xc3\xa4 sit   \namet\n\n  x \t\n"[i % 43];
	memcpy(t + h + size, "\n\n\n", 4);
	add_msg("big-1mib-lines", t, h + size + 3);
	/* (it ends in whitespace and CRLF: without the CRLF, which Postfix
	 * always sends, python3-dkim keeps that whitespace where libopendkim
	 * and we drop it) */
	for (i = 0; i < size; i++)
		t[h + i] = "abc de\t "[i % 8];
	t[h + size] = '\n';
	add_msg("big-1mib-one-line", t, h + size + 1);
	free(t);
}

/* -------------------------------------------------------------- keys -- */

static void
make_key(int type, const char *sel, FILE *records)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	unsigned char der[1024], *p = der;
	char path[128], b64[2048];
	EVP_PKEY *key = NULL;
	size_t len = sizeof(der);
	FILE *fp;

	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &key), 1);
	snprintf(path, sizeof(path), "%s/%s.key", tmpdir, sel);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	chmod(path, 0600);
	if (type == EVP_PKEY_RSA) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *mem;
		long n;

		PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
		n = BIO_get_mem_data(bio, &mem);
		assert_true(n > 0 && (size_t)n < sizeof(rsa_pem));
		memcpy(rsa_pem, mem, (size_t)n);
		BIO_free(bio);
		len = (size_t)i2d_PUBKEY(key, &p);
	} else {
		assert_int_equal(EVP_PKEY_get_raw_public_key(key, der, &len), 1);
	}
	dkim_base64(b64, der, len);
	fprintf(records, "%s._domainkey.example.test v=DKIM1; k=%s; p=%s\n", sel,
		type == EVP_PKEY_RSA ? "rsa" : "ed25519", b64);
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
}

static int
setup(void **state)
{
	struct dkim_key_conf conf[2] = {
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"rsa", NULL, (char *)(uintptr_t)"t:1" },
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"ed", NULL, (char *)(uintptr_t)"t:2" },
	};
	char p0[128], p1[128], err[512];
	dkim_query_t q = DKIM_QUERY_FILE;
	FILE *records;

	(void)state;
	strcpy(tmpdir, "/tmp/sluice-dkim-diff.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(keysfile, sizeof(keysfile), "%s/keys", tmpdir);
	assert_non_null(records = fopen(keysfile, "w"));
	make_key(EVP_PKEY_RSA, "rsa", records);
	make_key(EVP_PKEY_ED25519, "ed", records);
	fclose(records);
	snprintf(p0, sizeof(p0), "%s/rsa.key", tmpdir);
	snprintf(p1, sizeof(p1), "%s/ed.key", tmpdir);
	conf[0].key_path = p0;
	conf[1].key_path = p1;
	keys = dkim_keys_load(conf, 2, err, sizeof(err));
	if (keys == NULL)
		fail_msg("%s", err);
	assert_int_equal(keys->keys[0].alg, DKIM_ALG_RSA_SHA256);	/* config order */
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	assert_non_null(lib = dkim_init(NULL, NULL));
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &q, sizeof(q)), DKIM_STAT_OK);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, keysfile, strlen(keysfile)), DKIM_STAT_OK);
	load_corpus();
	add_big_msgs();
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	size_t i, j;

	(void)state;
	for (i = 0; i < nmsgs; i++) {
		for (j = 0; j < msgs[i].nf; j++) {
			free(msgs[i].field_name[j]);
			free(msgs[i].field_value[j]);
		}
		free(msgs[i].raw);
	}
	dkim_keys_free(keys);
	EVP_MD_free(sha256);
	dkim_close(lib);
	if (getenv("SLUICE_T_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		return system(cmd);
	}
	return 0;
}

/* ------------------------------------------------------------ ours ---- */

static void
our_body_hash(const struct msg *m, enum canon bc, unsigned char bh[DKIM_HASH_LEN])
{
	struct dkim_body b;
	size_t off, n;

	assert_int_equal(dkim_body_init(&b, bc, sha256), 0);
	for (off = 0; off < m->body_len; off += n) {
		n = m->body_len - off < CHUNK ? m->body_len - off : CHUNK;
		assert_int_equal(dkim_body_update(&b, (const unsigned char *)m->body + off, n), 0);
	}
	assert_int_equal(dkim_body_final(&b, bh), 0);
	dkim_body_free(&b);
}

static char *default_names[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date",
	"Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive",
};
static char *oversign_names[] = { "From", "To", "Subject" };

/* Our signature field, "DKIM-Signature:" + value with CRLF folds. */
static char *
our_signature(const struct msg *m, enum canon hc, enum canon bc, const struct dkim_key *k,
	      const unsigned char bh[DKIM_HASH_LEN])
{
	struct strlist hl = { default_names, sizeof(default_names) / sizeof(*default_names) };
	struct strlist ol = { oversign_names, 3 };
	struct dkim_sign_params p = { hc, bc, &hl, &ol, sha256, time(NULL), 0 };
	struct dkim_headers h = { 0 };
	struct dkim_prepared pr;
	struct dkim_buf v, out;
	char err[256];
	size_t i;

	for (i = 0; i < m->nf; i++)
		assert_int_equal(dkim_headers_add(&h, m->field_name[i], m->field_value[i]), DKIM_ADD_OK);
	assert_int_equal(dkim_sig_prepare(&p, &h, &pr, err, sizeof(err)), 0);
	if (dkim_sig_make(&p, &pr, k, bh, &v, err, sizeof(err)) < 0)
		fail_msg("%s: %s", m->name, err);
	dkim_buf_init(&out, 1 << 20);
	assert_int_equal(dkim_header_canon(&out, CANON_SIMPLE, "DKIM-Signature", v.data, false), 0);
	dkim_buf_free(&v);
	dkim_prepared_free(&pr);
	dkim_headers_free(&h);
	return out.data;
}

/* ------------------------------------------------------- libopendkim -- */

static void
feed(DKIM *d, const struct msg *m, const char *extra)
{
	size_t i;

	if (extra)
		assert_int_equal(dkim_header(d, (u_char *)(uintptr_t)extra, strlen(extra)), DKIM_STAT_OK);
	for (i = 0; i < m->nf; i++)
		assert_int_equal(dkim_header(d, (u_char *)(uintptr_t)m->field_raw[i], m->field_len[i]), DKIM_STAT_OK);
	assert_int_equal(dkim_eoh(d), DKIM_STAT_OK);
	if (m->body_len)
		assert_int_equal(dkim_body(d, (u_char *)(uintptr_t)m->body, m->body_len), DKIM_STAT_OK);
	/* libopendkim calls a body without a final CRLF a syntax error; RFC
	 * 6376 says to add one (and Postfix always sends one): add it. */
	if (m->body_len && (m->body_len < 2 || memcmp(m->body + m->body_len - 2, "\r\n", 2) != 0))
		assert_int_equal(dkim_body(d, (u_char *)(uintptr_t)"\r\n", 2), DKIM_STAT_OK);
}

/* The bh= libopendkim computes for this message and body canonicalization. */
static void
opendkim_bh(const struct msg *m, enum canon bc, char *out, size_t size)
{
	DKIM_STAT st;
	DKIM *d = dkim_sign(lib, (u_char *)(uintptr_t)"diff", NULL, (dkim_sigkey_t)rsa_pem,
			    (u_char *)(uintptr_t)"rsa", (u_char *)(uintptr_t)"example.test",
			    DKIM_CANON_RELAXED,
			    bc == CANON_SIMPLE ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED,
			    DKIM_SIGN_RSASHA256, -1L, &st);
	u_char hdr[8192];
	char *p;
	size_t n = 0;

	assert_non_null(d);
	feed(d, m, NULL);
	assert_int_equal(dkim_eom(d, NULL), DKIM_STAT_OK);
	assert_int_equal(dkim_getsighdr(d, hdr, sizeof(hdr), strlen("DKIM-Signature: ")), DKIM_STAT_OK);
	assert_non_null(p = strstr((char *)hdr, "bh="));
	for (p += 3; *p && *p != ';' && n + 1 < size; p++)
		if (!strchr(" \t\r\n", *p))
			out[n++] = *p;
	out[n] = '\0';
	dkim_free(d);
}

static void
opendkim_verify(const struct msg *m, const char *sig, const char *what)
{
	DKIM_STAT st;
	DKIM *d = dkim_verify(lib, (u_char *)(uintptr_t)"verify", NULL, &st);
	DKIM_SIGINFO *si;

	assert_non_null(d);
	feed(d, m, sig);
	st = dkim_eom(d, NULL);
	si = dkim_getsignature(d);
	if (st != DKIM_STAT_OK || si == NULL || !DKIM_SIG_CHECK(si))
		fail_msg("libopendkim does not verify %s: %s (%s)", what, dkim_getresultstr(st),
			 si ? dkim_sig_geterrorstr(dkim_sig_geterror(si)) : "no signature");
	dkim_free(d);
}

static void
write_signed(const struct msg *m, const char *sig, const char *what)
{
	char path[sizeof(tmpdir) + 300];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.eml", tmpdir, what);
	assert_non_null(fp = fopen(path, "wb"));
	fprintf(fp, "%s\r\n", sig);
	fwrite(m->raw, 1, m->len, fp);
	fclose(fp);
}

/* --------------------------------------------------------------- tests -- */

static void
test_body_hash_matches_libopendkim(void **state)
{
	unsigned char bh[DKIM_HASH_LEN];
	char ours[64], theirs[64];
	size_t i, c;

	(void)state;
	for (i = 0; i < nmsgs; i++)
		for (c = 0; c < 2; c++) {
			enum canon bc = c ? CANON_SIMPLE : CANON_RELAXED;

			our_body_hash(&msgs[i], bc, bh);
			dkim_base64(ours, bh, sizeof(bh));
			opendkim_bh(&msgs[i], bc, theirs, sizeof(theirs));
			if (strcmp(ours, theirs) != 0)
				fail_msg("%s, %s body: bh=%s, libopendkim bh=%s", msgs[i].name,
					 c ? "simple" : "relaxed", ours, theirs);
		}
}

static void
test_libopendkim_verifies(void **state)
{
	static const char *const cn[] = { "relaxed", "simple" };
	unsigned char bh[DKIM_HASH_LEN];
	char what[200], *sig;
	size_t i, hc, bc, k;

	(void)state;
	for (i = 0; i < nmsgs; i++)
		for (bc = 0; bc < 2; bc++) {
			our_body_hash(&msgs[i], bc ? CANON_SIMPLE : CANON_RELAXED, bh);
			for (hc = 0; hc < 2; hc++)
				for (k = 0; k < keys->count; k++) {
					snprintf(what, sizeof(what), "%s.%s-%s.%s", msgs[i].name,
						 cn[hc], cn[bc], keys->keys[k].selector);
					sig = our_signature(&msgs[i], hc ? CANON_SIMPLE : CANON_RELAXED,
							    bc ? CANON_SIMPLE : CANON_RELAXED,
							    &keys->keys[k], bh);
					opendkim_verify(&msgs[i], sig, what);
					write_signed(&msgs[i], sig, what);
					free(sig);
				}
		}
}

static void
test_python_dkim_verifies(void **state)
{
	char cmd[512];
	int rc;

	(void)state;
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/t/dkim/verify.py %s %s/*.eml > %s/python.out 2>&1",
		 SRCDIR, keysfile, tmpdir, tmpdir);
	rc = system(cmd);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "grep -v '^ok' %s/python.out | head -20", tmpdir);
		(void)!system(cmd);
		fail_msg("python3-dkim did not verify every signature (exit %d)", rc);
	}
	snprintf(cmd, sizeof(cmd), "test $(grep -c '^ok' %s/python.out) -eq %zu", tmpdir,
		 nmsgs * 8);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_hash_matches_libopendkim),
		cmocka_unit_test(test_libopendkim_verifies),
		cmocka_unit_test(test_python_dkim_verifies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
