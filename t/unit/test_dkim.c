/*
 * test_dkim.c - the pure parts of DKIM signing: canonicalization (RFC
 * 6376's own example and the empty-body hashes), streaming in chunks cut
 * anywhere, From: parsing, signature identity, the key store's checks and
 * lookups, the h= list with oversigning, and x=.
 * (t/unit/test_dkim_diff.c compares with libopendkim and python3-dkim.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim_canon.h"
#include "dkim_keys.h"
#include "dkim_parse.h"
#include "dkim_sig.h"
#include "dkim_sign.h"

static EVP_MD *sha256;

static void
b64_sha256(const void *p, size_t n, char *out)
{
	unsigned char h[DKIM_HASH_LEN];

	SHA256(p, n, h);
	dkim_base64(out, h, sizeof(h));
}

/* Body hash of text fed in chunks of `chunk` bytes (0: all at once). */
static void
body_hash(enum canon mode, const char *text, size_t len, size_t chunk, char *out)
{
	struct dkim_body b;
	unsigned char h[DKIM_HASH_LEN];
	size_t off = 0, n;

	assert_int_equal(dkim_body_init(&b, mode, sha256), 0);
	if (chunk == 0)
		chunk = len ? len : 1;
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		assert_int_equal(dkim_body_update(&b, (const unsigned char *)text + off, n), 0);
		off += n;
	}
	assert_int_equal(dkim_body_final(&b, h), 0);
	dkim_body_free(&b);
	dkim_base64(out, h, sizeof(h));
}

static void
expect_body(enum canon mode, const char *in, const char *canonical)
{
	char got[64], want[64];
	size_t len = strlen(in), chunk;

	b64_sha256(canonical, strlen(canonical), want);
	for (chunk = 0; chunk <= len; chunk++) {
		body_hash(mode, in, len, chunk, got);
		if (strcmp(got, want) != 0)
			fail_msg("%s body %s in chunks of %zu: %s, want hash of %s",
				 mode == CANON_SIMPLE ? "simple" : "relaxed", in, chunk, got,
				 canonical);
	}
}

static void
test_body_canon(void **state)
{
	(void)state;
	/* RFC 6376 3.4.5 */
	expect_body(CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	expect_body(CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n");
	/* empty bodies: relaxed hashes nothing, simple one CRLF */
	expect_body(CANON_RELAXED, "", "");
	expect_body(CANON_SIMPLE, "", "\r\n");
	expect_body(CANON_RELAXED, "\r\n\r\n", "");
	expect_body(CANON_SIMPLE, "\r\n\r\n", "\r\n");
	expect_body(CANON_RELAXED, " \t \r\n  \r\n", "");
	/* a missing final CRLF is added */
	expect_body(CANON_SIMPLE, "abc", "abc\r\n");
	expect_body(CANON_RELAXED, "abc  ", "abc\r\n");
	/* empty lines inside stay, whitespace-only lines become empty */
	expect_body(CANON_RELAXED, "a\r\n \r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n");
	expect_body(CANON_SIMPLE, "a\r\n \r\n\r\nb\r\n\r\n", "a\r\n \r\n\r\nb\r\n");
	/* bare LF is a line end, bare CR an ordinary byte */
	expect_body(CANON_SIMPLE, "a\nb\n\n", "a\r\nb\r\n");
	expect_body(CANON_RELAXED, "a\rb \r\r\n", "a\rb \r\r\n");
	expect_body(CANON_SIMPLE, "x\r", "x\r\r\n");
	/* leading whitespace becomes one space in relaxed */
	expect_body(CANON_RELAXED, "\t\t x\r\n", " x\r\n");
}

static void
test_body_large(void **state)
{
	size_t len = 1024 * 1024 + 77, i;
	char *body = malloc(len), a[64], b[64];

	(void)state;
	assert_non_null(body);
	for (i = 0; i < len; i++)
		body[i] = "ab  \t\r\nxyz\n\r\xe9"[i % 13];
	body_hash(CANON_RELAXED, body, len, 0, a);
	body_hash(CANON_RELAXED, body, len, 8191, b);
	assert_string_equal(a, b);
	body_hash(CANON_SIMPLE, body, len, 0, a);
	body_hash(CANON_SIMPLE, body, len, 1, b);
	assert_string_equal(a, b);
	free(body);
}

static void
expect_header(enum canon mode, const char *name, const char *value, const char *want)
{
	struct dkim_buf out;

	dkim_buf_init(&out, 4096);
	assert_int_equal(dkim_header_canon(&out, mode, name, value, true), 0);
	assert_string_equal(out.data, want);
	dkim_buf_free(&out);
}

static void
test_header_canon(void **state)
{
	struct dkim_buf small;

	(void)state;
	/* RFC 6376 3.4.5, values as libmilter gives them */
	expect_header(CANON_RELAXED, "A", " X", "a:X\r\n");
	expect_header(CANON_RELAXED, "B ", " Y\t\n\tZ  ", "b:Y Z\r\n");
	expect_header(CANON_SIMPLE, "B", " Y\t\n\tZ  ", "B: Y\t\r\n\tZ  \r\n");
	expect_header(CANON_SIMPLE, "S", " a\r\n b", "S: a\r\n b\r\n");
	expect_header(CANON_RELAXED, "SUBJECT", "", "subject:\r\n");
	expect_header(CANON_RELAXED, "To", "  a@x.test ,\n\t  b@y.test\t", "to:a@x.test , b@y.test\r\n");
	/* the bound holds */
	dkim_buf_init(&small, 8);
	assert_int_equal(dkim_header_canon(&small, CANON_SIMPLE, "Subject", " too long", true), -1);
	dkim_buf_free(&small);
}

static void
expect_from(const char *value, const char *domain)
{
	char got[DKIM_DOMAIN_MAX + 1];
	const char *why = NULL;
	int rc = dkim_from_domain(value, got, sizeof(got), &why);

	if (domain == NULL) {
		if (rc == 0)
			fail_msg("From: %s gave %s, expected an error", value, got);
		assert_non_null(why);
		return;
	}
	if (rc != 0)
		fail_msg("From: %s: %s", value, why);
	assert_string_equal(got, domain);
}

static void
test_from_domain(void **state)
{
	char big[4000];

	(void)state;
	expect_from(" a@Example.TEST", "example.test");
	expect_from(" Anna <anna@x.test>", "x.test");
	expect_from(" \"Smith, John\" <j@y.test>", "y.test");
	expect_from(" \"a@evil.test\" <j@good.test>", "good.test");
	expect_from(" (comment) j@good.test (another)", "good.test");
	expect_from(" \"quoted local\"@q.test", "q.test");
	/* Where readers differ, refused (t/unit/test_dkim_from.c has more):
	 * Python reads the author of the first two as c@evil.test. */
	expect_from(" c@evil.test <a@example.test>", NULL);
	expect_from(" c@evil.test<a@example.test>", NULL);
	expect_from(" <a@example.test>c@evil.test", NULL);
	expect_from(" <a@example.test> c@evil.test", NULL);
	expect_from(" (comment @evil.test) j@good.test", NULL);
	expect_from(" \"quoted@local\"@q.test", NULL);
	expect_from(" \"a \\\" <c@evil.test>\" <a@example.test>", NULL);
	expect_from(" =?utf-8?q?c=40evil.test?= <a@example.test>", NULL);
	expect_from(" j@good.test.", NULL);	/* Python: no author */
	expect_from(" Name <a@x.test>,", NULL);
	expect_from(" a@x.test, b@y.test", NULL);
	expect_from(" <a@x.test> <b@y.test>", NULL);
	expect_from(" undisclosed-recipients:;", NULL);
	expect_from(" nobody", NULL);
	expect_from(" a@[192.0.2.1]", NULL);
	expect_from(" a@bad..test", NULL);
	expect_from(" <a@x.test", NULL);
	expect_from("", NULL);
	expect_from(" a@x.test b@y.test", NULL);		/* no comma: still two */
	expect_from(" a@x.test (c) @y.test", NULL);
	expect_from(" a@x.test (comment)", "x.test");
	/* a display name longer than any address is still just a name */
	memset(big, 'n', 600);
	memcpy(big, " \"", 2);
	strcpy(big + 600, "\" <a@example.test>");
	expect_from(big, "example.test");
	memset(big, 'n', 600);
	big[0] = ' ';
	strcpy(big + 600, " <a@example.test>");
	expect_from(big, "example.test");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	expect_from(big, NULL);
}

static void
test_sig_identity(void **state)
{
	char d[64], s[64];

	(void)state;
	assert_int_equal(dkim_sig_identity(" v=1; a=rsa-sha256; d=example.test;\n\ts = sel\n\t1 ; b=abc", d, sizeof(d), s, sizeof(s)), 0);
	assert_string_equal(d, "example.test");
	assert_string_equal(s, "sel1");
	assert_int_equal(dkim_sig_identity(" v=1", d, sizeof(d), s, sizeof(s)), 0);
	assert_string_equal(d, "");
	assert_int_equal(dkim_sig_identity(" d=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", d, sizeof(d), s, sizeof(s)), -1);
}

/* ---------------------------------------------------------------- keys -- */

static char keydir[64];

static char *
write_key(const char *name, int type, int bits, mode_t mode)
{
	static char path[128];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *key = NULL;
	FILE *fp;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
	if (type == EVP_PKEY_EC)
		assert_int_equal(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &key), 1);
	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	chmod(path, mode);
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return path;
}

static int
setup_keys(void **state)
{
	(void)state;
	strcpy(keydir, "/tmp/sluice-test-dkim.XXXXXX");
	assert_non_null(mkdtemp(keydir));
	write_key("rsa.key", EVP_PKEY_RSA, 1024, 0600);
	write_key("ed.key", EVP_PKEY_ED25519, 0, 0400);
	write_key("open.key", EVP_PKEY_RSA, 1024, 0640);
	write_key("world.key", EVP_PKEY_ED25519, 0, 0604);
	write_key("gw.key", EVP_PKEY_ED25519, 0, 0620);
	write_key("ec.key", EVP_PKEY_EC, 0, 0600);
	write_key("short.key", EVP_PKEY_RSA, 512, 0600);
	return 0;
}

static int
teardown_keys(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", keydir);
	return system(cmd);
}

static struct dkim_keys *
load(const char *domain, const char *file, char *err, size_t errsize)
{
	char path[128];
	struct dkim_key_conf k = { (char *)(uintptr_t)domain, (char *)(uintptr_t)"sel",
				   path, (char *)(uintptr_t)"sluice.conf:12" };

	snprintf(path, sizeof(path), "%s/%s", keydir, file);
	err[0] = '\0';
	return dkim_keys_load(&k, 1, err, errsize);
}

static void
expect_key_error(const char *file, const char *part)
{
	char err[512], want[300];
	struct dkim_keys *ks = load("example.test", file, err, sizeof(err));

	assert_null(ks);
	snprintf(want, sizeof(want), "sluice.conf:12: key %s/%s: ", keydir, file);
	if (strncmp(err, want, strlen(want)) != 0 || strstr(err, part) == NULL)
		fail_msg("error '%s' is not '%s...%s'", err, want, part);
}

static void
test_key_checks(void **state)
{
	char err[512];
	struct dkim_keys *ks;

	(void)state;
	expect_key_error("open.key", "readable by group or others (chmod 600)");
	expect_key_error("world.key", "readable by group or others (chmod 600)");
	expect_key_error("gw.key", "writable by group or others (chmod 600)");
	expect_key_error("missing.key", "cannot open");
	expect_key_error("ec.key", "unsupported key type");
	expect_key_error("short.key", "too short");
	expect_key_error("", "not a regular file");
	ks = load("Example.TEST", "rsa.key", err, sizeof(err));
	assert_non_null(ks);
	assert_string_equal(ks->keys[0].domain, "example.test");
	assert_int_equal(ks->keys[0].alg, DKIM_ALG_RSA_SHA256);
	assert_null(ks->keys[0].ed_template);
	dkim_keys_free(ks);
	ks = load("example.test", "ed.key", err, sizeof(err));
	assert_non_null(ks);
	assert_int_equal(ks->keys[0].alg, DKIM_ALG_ED25519_SHA256);
	assert_non_null(ks->keys[0].ed_template);	/* decoded and ready once */
	dkim_keys_free(ks);
}

static void
test_key_store(void **state)
{
	char rsa[128], ed[128], err[512];
	struct dkim_key_conf conf[] = {
		{ (char *)(uintptr_t)"b.test", (char *)(uintptr_t)"r", rsa, (char *)(uintptr_t)"c:1" },
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"new", ed, (char *)(uintptr_t)"c:2" },
		{ (char *)(uintptr_t)"a.test", (char *)(uintptr_t)"r", rsa, (char *)(uintptr_t)"c:3" },
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"old", rsa, (char *)(uintptr_t)"c:4" },
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"OLD", rsa, (char *)(uintptr_t)"c:5" },
	};
	const struct dkim_key *k;
	struct dkim_keys *ks;

	(void)state;
	snprintf(rsa, sizeof(rsa), "%s/rsa.key", keydir);
	snprintf(ed, sizeof(ed), "%s/ed.key", keydir);
	assert_null(dkim_keys_load(conf, 5, err, sizeof(err)));
	assert_non_null(strstr(err, "c:5: selector OLD of domain example.test is listed twice (also at c:4)"));
	ks = dkim_keys_load(conf, 4, err, sizeof(err));
	assert_non_null(ks);
	/* both keys of the domain, in config order */
	assert_int_equal(dkim_keys_find(ks, "example.test", false, &k), 2);
	assert_string_equal(k[0].selector, "new");
	assert_string_equal(k[1].selector, "old");
	assert_int_equal(dkim_keys_find(ks, "a.test", false, &k), 1);
	assert_int_equal(dkim_keys_find(ks, "c.test", false, &k), 0);
	assert_null(k);
	/* parent domains only when asked, never a top-level domain */
	assert_int_equal(dkim_keys_find(ks, "mail.sub.example.test", false, &k), 0);
	assert_int_equal(dkim_keys_find(ks, "mail.sub.example.test", true, &k), 2);
	assert_string_equal(k->domain, "example.test");
	assert_int_equal(dkim_keys_find(ks, "xexample.test", true, &k), 0);
	dkim_keys_free(ks);
}

/* ----------------------------------------------------------- signing -- */

static const char *
tag(const char *value, const char *name, char *out, size_t size)
{
	char pat[16];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "%s=", name);
	for (p = value; (p = strstr(p, pat)) != NULL; p++)
		if (p == value || strchr(" \t\n;", p[-1]))
			break;
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	for (n = 0; p[n] && p[n] != ';' && n + 1 < size; n++)
		out[n] = p[n];
	out[n] = '\0';
	return out;
}

static void
test_sig_make(void **state)
{
	char items_headers[2][16] = { "From", "Subject" }, items_over[2][16] = { "from", "Reply-To" };
	char *hp[2] = { items_headers[0], items_headers[1] }, *op[2] = { items_over[0], items_over[1] };
	struct strlist headers = { hp, 2 }, over = { op, 2 };
	struct dkim_sign_params p = { CANON_RELAXED, CANON_SIMPLE, &headers, &over, NULL, 1700000000, 3600 };
	unsigned char bh[DKIM_HASH_LEN] = { 0 };
	struct dkim_headers h = { 0 };
	struct dkim_prepared pr;
	struct dkim_buf v;
	struct dkim_keys *ks;
	char err[512], t[512];

	(void)state;
	p.sha256 = sha256;
	ks = load("example.test", "ed.key", err, sizeof(err));
	assert_non_null(ks);
	assert_int_equal(dkim_headers_add(&h, "Subject", " one"), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "From", " a@example.test"), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "Subject", " two"), DKIM_ADD_OK);
	assert_int_equal(dkim_sig_prepare(&p, &h, &pr, err, sizeof(err)), 0);
	/* every Subject, bottom-up; From and Reply-To once more than present */
	assert_string_equal(pr.hlist.data, "from:from:subject:subject:reply-to");
	assert_string_equal(pr.canon.data, "from:a@example.test\r\nsubject:two\r\nsubject:one\r\n");
	assert_int_equal(dkim_sig_make(&p, &pr, &ks->keys[0], bh, &v, err, sizeof(err)), 0);
	assert_true(v.data[0] == ' ');
	assert_string_equal(tag(v.data, "a", t, sizeof(t)), "ed25519-sha256");
	assert_string_equal(tag(v.data, "c", t, sizeof(t)), "relaxed/simple");
	assert_string_equal(tag(v.data, "t", t, sizeof(t)), "1700000000");
	assert_string_equal(tag(v.data, "x", t, sizeof(t)), "1700003600");
	assert_string_equal(tag(v.data, "s", t, sizeof(t)), "sel");
	assert_non_null(tag(v.data, "b", t, sizeof(t)));
	assert_int_equal(strlen(t) - strspn(t + 72, "\n\t") , 88);	/* 64 bytes, folded */
	assert_null(strstr(v.data, "\r"));	/* folds are "\n\t" for Postfix */
	dkim_buf_free(&v);
	dkim_prepared_free(&pr);
	/* no x= without expire */
	p.expire = 0;
	assert_int_equal(dkim_sig_prepare(&p, &h, &pr, err, sizeof(err)), 0);
	assert_int_equal(dkim_sig_make(&p, &pr, &ks->keys[0], bh, &v, err, sizeof(err)), 0);
	assert_null(tag(v.data, "x", t, sizeof(t)));
	dkim_buf_free(&v);
	dkim_prepared_free(&pr);
	dkim_headers_free(&h);
	dkim_keys_free(ks);
}

static void
test_header_limits(void **state)
{
	struct dkim_headers h = { 0 };
	char *big = malloc(DKIM_HEADER_BYTES_MAX);
	size_t i;

	(void)state;
	for (i = 0; i < DKIM_HEADERS_MAX; i++)
		assert_int_equal(dkim_headers_add(&h, "To", " a@b.test"), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "To", " a@b.test"), DKIM_ADD_TOO_MANY);
	dkim_headers_free(&h);
	assert_non_null(big);
	memset(big, 'x', DKIM_HEADER_BYTES_MAX - 1);
	big[DKIM_HEADER_BYTES_MAX - 1] = '\0';
	assert_int_equal(dkim_headers_add(&h, "Subject", big), DKIM_ADD_TOO_BIG);
	big[DKIM_HEADER_BYTES_MAX / 2] = '\0';
	assert_int_equal(dkim_headers_add(&h, "Subject", big), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "Subject", big), DKIM_ADD_TOO_BIG);
	dkim_headers_free(&h);
	free(big);
}

/* The module's open(): off without keys or with sign = false, refuses a
 * config whose key is unsafe, with the config's FILE:LINE. */
static void
test_module_open(void **state)
{
	char path[128], conf[600], err[512];
	struct dkim_sign_options opt = DKIM_SIGN_OPTIONS_DEFAULT;
	struct sluice_config *cfg;
	void *mconf = NULL;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/sluice.conf", keydir);
	snprintf(conf, sizeof(conf), "dkim = {\n  sign = %s;\n  keys = (\n"
		 "    { domain = \"example.test\"; selector = \"s\"; key = \"%s/%s\"; }\n  );\n};\n",
		 "true", keydir, "open.key");
	fp = fopen(path, "w");
	fputs(conf, fp);
	fclose(fp);
	cfg = config_load(path, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(dkim_sign_open_with(cfg, &opt, &mconf, err, sizeof(err)), -1);
	assert_null(mconf);
	assert_non_null(strstr(err, "sluice.conf:4: key "));
	assert_non_null(strstr(err, "open.key: readable by group or others (chmod 600)"));
	cfg->dkim.sign = false;
	assert_int_equal(dkim_sign_open_with(cfg, &opt, &mconf, err, sizeof(err)), 0);
	assert_null(mconf);
	config_free(cfg);
	fp = fopen(path, "w");
	fprintf(fp, "dkim = { keys = ( { domain = \"example.test\"; selector = \"s\"; key = \"%s/rsa.key\"; } ); };\n", keydir);
	fclose(fp);
	cfg = config_load(path, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(dkim_sign_open_with(cfg, &opt, &mconf, err, sizeof(err)), 0);
	assert_non_null(mconf);
	dkim_sign_module.close(mconf);
	config_free(cfg);
}

/* More h= entries than DKIM_HLIST_MAX (300 To: fields, fewer than
 * DKIM_HEADERS_MAX) is a limit: skipped at end of headers with that
 * reason, not an error at end of message. */
static void
test_module_hlist_limit(void **state)
{
	struct dkim_sign_options opt = DKIM_SIGN_OPTIONS_DEFAULT;
	struct milter_msg msg = { .outbound = true };
	struct milter_conn conn = { .msg = &msg };
	struct dkim_sign_params p = { .headers = NULL };
	struct dkim_headers h = { 0 };
	struct sluice_config *cfg;
	struct logline line = { .len = 0 };
	struct milter_call call;
	char path[128], err[512];
	void *mconf = NULL, *mstate = NULL;
	FILE *fp;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/sluice.conf", keydir);
	fp = fopen(path, "w");
	fprintf(fp, "dkim = { keys = ( { domain = \"example.test\"; selector = \"s\"; key = \"%s/rsa.key\"; } ); };\n", keydir);
	fclose(fp);
	cfg = config_load(path, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(dkim_sign_open_with(cfg, &opt, &mconf, err, sizeof(err)), 0);
	conn.cfg = cfg;
	strcpy(msg.queue_id, "4F1A2B3C");
	call = (struct milter_call){ NULL, &conn, mconf, &mstate };
	assert_int_equal(dkim_sign_module.envfrom(&call), SMFIS_CONTINUE);
	assert_int_equal(dkim_sign_module.header(&call, "From", " a@example.test"), SMFIS_CONTINUE);
	for (i = 0; i < 300; i++) {
		assert_int_equal(dkim_sign_module.header(&call, "To", " u@example.test"), SMFIS_CONTINUE);
		assert_int_equal(dkim_headers_add(&h, "To", " u@example.test"), DKIM_ADD_OK);
	}
	assert_int_equal(dkim_sign_module.eoh(&call), SMFIS_CONTINUE);
	assert_int_equal(dkim_sign_module.body(&call, (const unsigned char *)"hi\r\n", 4), SMFIS_CONTINUE);
	assert_int_equal(dkim_sign_module.eom(&call, &line), SMFIS_CONTINUE);
	if (strstr(line.buf, " dkim=skipped reason=too-many-headers") == NULL)
		fail_msg("300 To: fields logged \"%s\", want dkim=skipped reason=too-many-headers", line.buf);
	dkim_sign_module.msg_free(mstate);
	/* the count itself: every instance of a signed name, From included */
	p.headers = &cfg->dkim.headers;
	p.oversign = &cfg->dkim.oversign;
	assert_int_equal(dkim_sig_entries(&p, &h), 300);
	assert_int_equal(dkim_headers_add(&h, "From", " a@example.test"), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "X-Other", " x"), DKIM_ADD_OK);
	assert_int_equal(dkim_sig_entries(&p, &h), 301 + cfg->dkim.oversign.count);
	dkim_headers_free(&h);
	dkim_sign_module.close(mconf);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_canon),
		cmocka_unit_test(test_body_large),
		cmocka_unit_test(test_header_canon),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_sig_identity),
		cmocka_unit_test(test_key_checks),
		cmocka_unit_test(test_key_store),
		cmocka_unit_test(test_sig_make),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_module_open),
		cmocka_unit_test(test_module_hlist_limit),
	};
	int rc;

	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	rc = cmocka_run_group_tests(tests, setup_keys, teardown_keys);
	EVP_MD_free(sha256);
	return rc;
}
