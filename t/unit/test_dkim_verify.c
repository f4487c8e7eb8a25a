/*
 * test_dkim_verify.c - the DKIM verifier (milter/dkim_verify.h) on
 * malformed and oversized input, its bounds, the key source statuses and
 * the resinfo formatting. (Verdicts on well-formed signatures are proven
 * against libopendkim and python3-dkim in test_dkim_vdiff.c.) Every case
 * must give a result, never a crash; the suite runs under ASan/UBSan in
 * `make asan` and was run under valgrind (see the report).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <openssl/x509.h>

#include "dkim_canon.h"
#include "dkim_sig.h"
#include "dkim_tags.h"
#include "dkim_verify.h"
#include "dkim_vsig.h"

static const char body[] = "Hello\r\n\r\nBye\r\n";
static char bh_relaxed[64];

static const struct dkim_key_table keys[] = {
	{ "rsa._domainkey.example.test", "v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", DKIM_DNS_OK },
	{ "slow._domainkey.example.test", NULL, DKIM_DNS_TEMPERROR },
	{ "nodata._domainkey.example.test", NULL, DKIM_DNS_NODATA },
	{ "revoked._domainkey.example.test", "v=DKIM1; p=", DKIM_DNS_OK },
	{ "junk._domainkey.example.test", "\x01\x02 garbage ;;", DKIM_DNS_OK },
	{ NULL, NULL, DKIM_DNS_OK },
};

/* Verifies one message with the given DKIM-Signature values (NULL-ended)
 * and returns the results (copied into out). */
static size_t
run(const char *const *sigs, struct dkim_sigresult *out, size_t max, size_t *unchecked,
    const struct dkim_verify_limits *lim)
{
	struct dkim_key_source src = dkim_key_source_table(keys);
	const struct dkim_sigresult *res;
	struct dkim_verify *v = dkim_verify_new(lim, &src);
	size_t n, i;

	assert_non_null(v);
	for (i = 0; sigs[i]; i++)
		assert_int_equal(dkim_verify_header(v, "DKIM-Signature", sigs[i]), 0);
	assert_int_equal(dkim_verify_header(v, "From", " a@example.test"), 0);
	assert_int_equal(dkim_verify_header(v, "Subject", " \xc3\xa4 8-bit \x01\x7f"), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body, 3), 0);
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body + 3, strlen(body) - 3), 0);
	n = dkim_verify_finish(v, &res, unchecked);
	assert_true(n <= max);
	memcpy(out, res, n * sizeof(*res));
	dkim_verify_free(v);
	return n;
}

static enum dkim_res
one(const char *sig, char *reason, size_t size)
{
	const char *sigs[] = { sig, NULL };
	struct dkim_sigresult r;
	size_t unchecked;

	assert_int_equal(run(sigs, &r, 1, &unchecked, NULL), 1);
	snprintf(reason, size, "%s", r.reason);
	return r.result;
}

static int
setup(void **state)
{
	unsigned char h[DKIM_HASH_LEN];
	struct dkim_body b;

	(void)state;
	assert_int_equal(dkim_body_init(&b, CANON_RELAXED, EVP_sha256()), 0);
	assert_int_equal(dkim_body_update(&b, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_body_final(&b, h), 0);
	dkim_body_free(&b);
	dkim_base64(bh_relaxed, h, sizeof(h));
	return 0;
}

static void
test_garbage_signatures(void **state)
{
	static const char *const garbage[] = {
		"", " ", ";", ";;;", "=", "v", "v=", "v=1", "v=1;;", "a=rsa-sha256; b=",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=; b=",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=!!!!; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAA",
		" v=1; a=rsa-sha256; d=ex\xe4mple.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=..; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=a/b; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=:from:; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; l=-1; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=abc; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=99999999999999999999; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=200; x=100; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; i=nobody; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; q=http; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; c=relaxed/; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA; 1=2",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA; x y=2",
	};
	char reason[DKIM_RES_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		enum dkim_res r = one(garbage[i], reason, sizeof(reason));

		if (r != DKIM_RES_PERMERROR)
			fail_msg("#%zu \"%s\": %s (%s), want permerror", i, garbage[i],
				 dkim_res_name(r), reason);
		assert_true(reason[0] != '\0');
	}
}

static char *
sig_with(const char *a, const char *sel, const char *extra, size_t bsize)
{
	size_t n = 512 + strlen(extra) + bsize;
	char *s = malloc(n), *p;
	size_t i;

	p = s + snprintf(s, n, " v=1; a=%s; c=relaxed/relaxed; d=example.test; s=%s; %s"
			 "h=from:subject; bh=%s; b=", a, sel, extra, bh_relaxed);
	for (i = 0; i < bsize; i++)
		*p++ = "ABCD"[i % 4];
	*p = '\0';
	return s;
}

static void
test_huge_b_and_long_header(void **state)
{
	char reason[DKIM_RES_REASON_MAX], *s = sig_with("rsa-sha256", "rsa", "", 100 * 1024);

	(void)state;
	assert_int_equal(one(s, reason, sizeof(reason)), DKIM_RES_PERMERROR);
	assert_string_equal(reason, "signature too long");
	free(s);
	/* within the header bound but b= longer than any key's signature */
	s = sig_with("rsa-sha256", "rsa", "", 8000);
	assert_int_equal(one(s, reason, sizeof(reason)), DKIM_RES_PERMERROR);
	assert_string_equal(reason, "bad b=");
	free(s);
}

static void
test_key_source_statuses(void **state)
{
	static const struct { const char *sel; enum dkim_res want; const char *reason; } c[] = {
		{ "slow", DKIM_RES_TEMPERROR, "key lookup failed" },
		{ "nodata", DKIM_RES_PERMERROR, "no key" },
		{ "absent", DKIM_RES_PERMERROR, "no key" },
		{ "revoked", DKIM_RES_FAIL, "key revoked" },
		{ "junk", DKIM_RES_PERMERROR, "bad key record" },
		{ "rsa", DKIM_RES_PERMERROR, "bad key p=" },	/* truncated DER */
	};
	char reason[DKIM_RES_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *s = sig_with("rsa-sha256", c[i].sel, "", 344);

		assert_int_equal(one(s, reason, sizeof(reason)), c[i].want);
		assert_string_equal(reason, c[i].reason);
		free(s);
	}
}

static void
test_sha1_policy_or_fail(void **state)
{
	const char *sigs[2] = { NULL, NULL };
	struct dkim_verify_limits lim;
	struct dkim_sigresult r;
	size_t unchecked;
	char *s = sig_with("rsa-sha1", "rsa", "", 344);

	(void)state;
	sigs[0] = s;
	dkim_verify_limits_default(&lim);
	assert_int_equal(run(sigs, &r, 1, &unchecked, &lim), 1);
	assert_int_equal(r.result, DKIM_RES_POLICY);
	lim.sha1_fail = true;
	assert_int_equal(run(sigs, &r, 1, &unchecked, &lim), 1);
	assert_int_equal(r.result, DKIM_RES_FAIL);
	free(s);
}

static void
test_signature_bound(void **state)
{
	const char *sigs[21];
	char *s[20];
	struct dkim_sigresult r[8];
	size_t i, unchecked;

	(void)state;
	for (i = 0; i < 20; i++)
		sigs[i] = s[i] = sig_with("ed25519-sha256", "slow", "", 88);
	sigs[20] = NULL;
	assert_int_equal(run(sigs, r, 8, &unchecked, NULL), 8);
	assert_int_equal(unchecked, 12);
	for (i = 0; i < 8; i++)
		assert_int_equal(r[i].result, DKIM_RES_TEMPERROR);
	for (i = 0; i < 20; i++)
		free(s[i]);
}

/* The same body canonicalization is hashed once for several signatures,
 * and l= gets a hasher of its own; body hash mismatch is a fail. */
static void
test_body_hash_shared(void **state)
{
	struct dkim_key_source src = dkim_key_source_table(keys);
	struct dkim_verify *v = dkim_verify_new(NULL, &src);
	const struct dkim_sigresult *res;
	const char *q[4];
	char *a = sig_with("rsa-sha256", "slow", "", 344), *b = sig_with("ed25519-sha256", "slow", "", 88);
	char *c = sig_with("rsa-sha256", "nodata", "l=3; ", 344);
	size_t unchecked;

	(void)state;
	assert_int_equal(dkim_verify_header(v, "DKIM-Signature", a), 0);
	assert_int_equal(dkim_verify_header(v, "DKIM-Signature", b), 0);
	assert_int_equal(dkim_verify_header(v, "dkim-signature", c), 0);
	assert_int_equal(dkim_verify_header(v, "From", " a@example.test"), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	assert_int_equal(dkim_verify_qnames(v, q, 4), 2);
	assert_string_equal(q[0], "slow._domainkey.example.test");
	assert_string_equal(q[1], "nodata._domainkey.example.test");
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_verify_finish(v, &res, &unchecked), 3);
	assert_int_equal(res[0].result, DKIM_RES_TEMPERROR);	/* body hash matched */
	assert_int_equal(res[1].result, DKIM_RES_TEMPERROR);
	assert_int_equal(res[2].result, DKIM_RES_FAIL);	/* l=3: another hash */
	assert_string_equal(res[2].reason, "body hash mismatch");
	dkim_verify_free(v);
	free(a);
	free(b);
	free(c);
}

static void
test_tags_parser(void **state)
{
	struct dkim_tags t;
	const char *why;

	(void)state;
	assert_int_equal(dkim_tags_parse(&t, " a = b c ;\r\n\td=x\n\t y ; ", &why), 0);
	assert_int_equal(t.count, 2);
	assert_string_equal(dkim_tags_get(&t, "a"), "bc");
	assert_string_equal(dkim_tags_get(&t, "d"), "xy");
	assert_null(dkim_tags_get(&t, "b"));
	dkim_tags_free(&t);
	assert_int_equal(dkim_tags_parse(&t, "a=1;;b=2", &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "a=1; a=2", &why), -1);
	assert_string_equal(why, "duplicate tag");
	assert_int_equal(dkim_tags_parse(&t, "a=\xff", &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "_a=1", &why), -1);
}

static void
test_base64(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(dkim_base64_decode("", out, sizeof(out)), 0);
	assert_int_equal(dkim_base64_decode("YQ==", out, sizeof(out)), 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(dkim_base64_decode("YWI=", out, sizeof(out)), 2);
	assert_int_equal(dkim_base64_decode("YWJj", out, sizeof(out)), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(dkim_base64_decode("YWJ", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("Y===", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("YW=j", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("YWJjYWJjYWJj", out, sizeof(out)), -1);	/* 9 > 8 */
}

static void
test_resinfo(void **state)
{
	struct dkim_sigresult r = { .result = DKIM_RES_PASS, .d = "example.test", .s = "s1",
				    .a = "rsa-sha256", .b = "ab/c+d=e" };
	char buf[256];
	int n;

	(void)state;
	n = dkim_result_resinfo(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "dkim=pass header.d=example.test header.s=s1 "
			    "header.a=rsa-sha256 header.b=\"ab/c+d=e\"");
	r.result = DKIM_RES_FAIL;
	snprintf(r.reason, sizeof(r.reason), "bad (x) \\");
	snprintf(r.b, sizeof(r.b), "abcdefgh");
	snprintf(r.s, sizeof(r.s), "\xe4");	/* not ASCII: left out */
	r.testing = true;
	dkim_result_resinfo(&r, buf, sizeof(buf));
	assert_string_equal(buf, "dkim=fail (bad \\(x\\) \\\\; test key) header.d=example.test "
			    "header.a=rsa-sha256 header.b=abcdefgh");
	assert_int_equal(dkim_result_resinfo(&r, buf, 10), -1);
	assert_string_equal(buf, "");
}

/* ------------------------------------------------ signer round trip -- */

/* "Name: value" lines of a t/dkim/ message -> the milter form (value
 * with its leading space, "\n" folds), body with CRLF. */
static void
load_fields(const char *path, struct dkim_headers *h, char **bodyp, size_t *blen)
{
	FILE *fp = fopen(path, "rb");
	char line[8192], *cur = NULL, *colon, *b = malloc(1 << 16);
	size_t n = 0, bl = 0;
	bool in_body = false;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (in_body) {
			assert_true(bl + n + 2 < (1 << 16));
			memcpy(b + bl, line, n);
			memcpy(b + bl + n, "\r\n", 2);
			bl += n + 2;
		} else if (n == 0 || !(line[0] == ' ' || line[0] == '\t')) {
			if (cur) {
				colon = strchr(cur, ':');
				*colon = '\0';
				assert_int_equal(dkim_headers_add(h, cur, colon + 1), DKIM_ADD_OK);
				free(cur);
				cur = NULL;
			}
			if (n == 0)
				in_body = true;
			else
				cur = strdup(line);
		} else {
			size_t c = strlen(cur);

			cur = realloc(cur, c + n + 2);
			cur[c] = '\n';
			memcpy(cur + c + 1, line, n + 1);
		}
	}
	fclose(fp);
	free(cur);
	*bodyp = b;
	*blen = bl;
}

/* Every corpus message signed by our signer (as sluice-milter does: the
 * default header list, From/To/Subject oversigned), both canonicalizations,
 * RSA and Ed25519 at once, verified by ours: every signature passes; then
 * the body changed by one byte: every one fails. */
static void
test_verifies_our_signer(void **state)
{
	static char *names[] = { "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-Id" };
	static char *over[] = { "From", "To", "Subject" };
	struct strlist hl = { names, 7 }, ol = { over, 3 };
	DIR *dir = opendir(SRCDIR "/t/dkim");
	struct dirent *e;
	struct dkim_key k[2] = { { 0 }, { 0 } };
	char txt[2][2200], b64[2048], qn[2][64];
	struct dkim_key_table tab[3] = { { 0 } };
	unsigned char der[1024], *dp;
	size_t len, i, msgs = 0;
	int c, flip;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(i ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);

		EVP_PKEY_keygen_init(ctx);
		if (!i)
			EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024);
		assert_int_equal(EVP_PKEY_keygen(ctx, &k[i].pkey), 1);
		EVP_PKEY_CTX_free(ctx);
		k[i].domain = (char *)(uintptr_t)"example.test";
		k[i].selector = (char *)(uintptr_t)(i ? "ed" : "rsa");
		k[i].alg = i ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
		dp = der;
		len = sizeof(der);
		if (!i)
			len = (size_t)i2d_PUBKEY(k[i].pkey, &dp);
		else
			EVP_PKEY_get_raw_public_key(k[i].pkey, der, &len);
		dkim_base64(b64, der, len);
		snprintf(txt[i], sizeof(txt[i]), "v=DKIM1; k=%s; p=%s", i ? "ed25519" : "rsa", b64);
		snprintf(qn[i], sizeof(qn[i]), "%s._domainkey.example.test", k[i].selector);
		tab[i].qname = qn[i];
		tab[i].txt = txt[i];
	}
	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL) {
		char path[512], *mbody, *sig[2];
		struct dkim_headers h = { 0 };
		size_t blen;

		if (strlen(e->d_name) < 5 || strcmp(e->d_name + strlen(e->d_name) - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), SRCDIR "/t/dkim/%s", e->d_name);
		load_fields(path, &h, &mbody, &blen);
		msgs++;
		for (c = 0; c < 4; c++)
			for (flip = 0; flip < 2; flip++) {
				struct dkim_sign_params p = { c & 1 ? CANON_SIMPLE : CANON_RELAXED,
							      c & 2 ? CANON_SIMPLE : CANON_RELAXED,
							      &hl, &ol, EVP_sha256(), time(NULL), 3600 };
				struct dkim_key_source src = dkim_key_source_table(tab);
				const struct dkim_sigresult *res;
				unsigned char bh[DKIM_HASH_LEN];
				struct dkim_prepared pr;
				struct dkim_body bd;
				struct dkim_buf v;
				struct dkim_verify *vf;
				char err[256];
				size_t j, n;

				dkim_body_init(&bd, p.body_canon, EVP_sha256());
				dkim_body_update(&bd, (const unsigned char *)mbody, blen);
				assert_int_equal(dkim_body_final(&bd, bh), 0);
				dkim_body_free(&bd);
				assert_int_equal(dkim_sig_prepare(&p, &h, &pr, err, sizeof(err)), 0);
				for (j = 0; j < 2; j++) {
					assert_int_equal(dkim_sig_make(&p, &pr, &k[j], bh, &v, err, sizeof(err)), 0);
					sig[j] = v.data;
				}
				dkim_prepared_free(&pr);
				assert_non_null(vf = dkim_verify_new(NULL, &src));
				for (j = 0; j < 2; j++)
					assert_int_equal(dkim_verify_header(vf, "DKIM-Signature", sig[j]), 0);
				for (j = 0; j < h.count; j++)
					assert_int_equal(dkim_verify_header(vf, h.f[j].name, h.f[j].value), 0);
				if (flip && blen)
					mbody[0] ^= 1;
				for (j = 0; j < blen; j += 13)
					dkim_verify_body(vf, (const unsigned char *)mbody + j, blen - j < 13 ? blen - j : 13);
				if (flip && blen)
					mbody[0] ^= 1;
				n = dkim_verify_finish(vf, &res, NULL);
				assert_int_equal(n, 2);
				for (j = 0; j < 2; j++) {
					bool want = !flip || !blen;

					if ((res[j].result == DKIM_RES_PASS) != want)
						fail_msg("%s c=%d %s%s: %s (%s)", e->d_name, c, k[j].selector,
							 flip ? " body changed" : "",
							 dkim_res_name(res[j].result), res[j].reason);
					free(sig[j]);
				}
				dkim_verify_free(vf);
			}
		free(mbody);
		dkim_headers_free(&h);
	}
	closedir(dir);
	assert_true(msgs >= 10);
	EVP_PKEY_free(k[0].pkey);
	EVP_PKEY_free(k[1].pkey);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_signatures),
		cmocka_unit_test(test_huge_b_and_long_header),
		cmocka_unit_test(test_key_source_statuses),
		cmocka_unit_test(test_sha1_policy_or_fail),
		cmocka_unit_test(test_signature_bound),
		cmocka_unit_test(test_body_hash_shared),
		cmocka_unit_test(test_tags_parser),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_resinfo),
		cmocka_unit_test(test_verifies_our_signer),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
