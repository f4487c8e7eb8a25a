/*
 * dkim-sign-bench - signatures per second of sluice-milter's DKIM signer
 * on one core, for an RSA-2048 and an Ed25519 key, on a 4 KiB message.
 *
 *   dkim-sign-bench [-t SECONDS] [-c relaxed|simple]
 *
 * One "signature" is all the work the milter does for a message: keep
 * the header fields (dkim_headers_add), canonicalize and hash the body
 * in the chunks libmilter delivers, choose and canonicalize the signed
 * fields, hash them, sign, and format the DKIM-Signature field. Keys are
 * generated in memory and decoded once, as the milter does per config.
 * bench/bench-dkim.sh prints this next to `openssl speed` (the raw sign
 * rate of the same key types) from the same run.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim_sig.h"

#define MSG_SIZE 4096
#define CHUNK 65535		/* libmilter's largest body chunk */

static const char *const fields[][2] = {
	{ "Received", " from client.example.test (client.example.test [192.0.2.7])\n\tby mx.example.test (Postfix) with ESMTPSA id 4F1A2B3C\n\tfor <bob@other.test>; Sat, 21 Nov 2026 05:13:49 +0000 (UTC)" },
	{ "From", " Anna Example <anna@example.test>" },
	{ "To", " Bob Other <bob@other.test>" },
	{ "Cc", " carol@other.test, dave@other.test" },
	{ "Subject", " Quarterly report: the numbers you asked for" },
	{ "Date", " Sat, 21 Nov 2026 05:13:49 +0000" },
	{ "Message-Id", " <20261121051349.4F1A2B3C@example.test>" },
	{ "MIME-Version", " 1.0" },
	{ "Content-Type", " text/plain; charset=utf-8" },
	{ "Content-Transfer-Encoding", " 8bit" },
};

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A new key, written as PEM for the milter's own key store to load
 * (dkim_keys_load: decoded once, as per config): a key fresh from
 * EVP_PKEY_keygen signs RSA at half the speed of the same key decoded
 * from PEM with OpenSSL 3.0, and the milter only signs with decoded keys. */
static int
write_key(int type, const char *path)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *key = NULL;
	FILE *fp;

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
	    || (type == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1)
	    || EVP_PKEY_keygen(ctx, &key) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	if (key == NULL || (fp = fopen(path, "w")) == NULL)
		return -1;
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	EVP_PKEY_free(key);
	return chmod(path, 0600);
}

/* The body: text lines of varying length with some whitespace runs. */
static size_t
make_body(char *body, size_t size)
{
	static const char *const words[] = { "the", "quarterly", "numbers", "are",
		"attached  as", "promised;", "regards,\t", "Anna", "figures", "and" };
	size_t len = 0, col = 0, i = 0;

	while (len + 16 < size) {
		const char *w = words[(i * 7 + i / 3) % 10];
		size_t n = strlen(w);

		memcpy(body + len, w, n);
		len += n;
		col += n;
		i++;
		if (col > 60 + i % 12) {
			memcpy(body + len, "\r\n", 2);
			len += 2;
			col = 0;
		} else {
			body[len++] = ' ';
			col++;
		}
	}
	memcpy(body + len, "\r\n", 2);
	return len + 2;
}

static int
sign_one(const struct dkim_sign_params *p, const struct dkim_key *key,
	 const char *body, size_t body_len)
{
	struct dkim_headers h = { 0 };
	struct dkim_prepared pr;
	struct dkim_body b;
	struct dkim_buf v;
	unsigned char bh[DKIM_HASH_LEN];
	char err[256];
	size_t i, off;
	int rc = -1;

	for (i = 0; i < sizeof(fields) / sizeof(*fields); i++)
		if (dkim_headers_add(&h, fields[i][0], fields[i][1]) != DKIM_ADD_OK)
			goto out;
	if (dkim_body_init(&b, p->body_canon, p->sha256) < 0)
		goto out;
	for (off = 0; off < body_len; off += CHUNK)
		dkim_body_update(&b, (const unsigned char *)body + off,
				 body_len - off < CHUNK ? body_len - off : CHUNK);
	rc = dkim_body_final(&b, bh);
	dkim_body_free(&b);
	if (rc < 0 || dkim_sig_prepare(p, &h, &pr, err, sizeof(err)) < 0)
		goto out;
	rc = dkim_sig_make(p, &pr, key, bh, &v, err, sizeof(err));
	if (rc == 0)
		dkim_buf_free(&v);
	dkim_prepared_free(&pr);
out:
	dkim_headers_free(&h);
	return rc;
}

static void
run(const char *label, const struct dkim_sign_params *p, const struct dkim_key *key,
    const char *body, size_t body_len, double seconds)
{
	double start = now(), elapsed;
	long n = 0;

	do {
		int i;

		for (i = 0; i < 20; i++, n++)
			if (sign_one(p, key, body, body_len) < 0) {
				fprintf(stderr, "dkim-sign-bench: signing failed\n");
				exit(1);
			}
	} while ((elapsed = now() - start) < seconds);
	printf("%-8s %10.1f signatures/s  (%ld in %.2f s, %.1f us each)\n", label,
	       (double)n / elapsed, n, elapsed, elapsed / (double)n * 1e6);
}

int
main(int argc, char **argv)
{
	static char *names[] = { "From", "Reply-To", "Subject", "Date", "To", "Cc",
		"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To",
		"References", "List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
		"List-Post", "List-Owner", "List-Archive" };
	struct strlist headers = { names, sizeof(names) / sizeof(*names) }, over = { names, 1 };
	struct dkim_sign_params p = { CANON_RELAXED, CANON_RELAXED, &headers, &over, NULL, 0, 0 };
	char rsa_path[64], ed_path[64];
	struct dkim_key_conf conf[2] = {
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"rsa", rsa_path,
		  (char *)(uintptr_t)"bench:1" },
		{ (char *)(uintptr_t)"example.test", (char *)(uintptr_t)"ed", ed_path,
		  (char *)(uintptr_t)"bench:2" },
	};
	struct dkim_keys *keys;
	char body[MSG_SIZE];
	size_t body_len, head = 0, i;
	char dir[] = "/tmp/dkim-sign-bench.XXXXXX", err[512] = "";
	double seconds = 3;
	EVP_MD *sha256;
	int ch;

	while ((ch = getopt(argc, argv, "t:c:")) != -1) {
		if (ch == 't')
			seconds = atof(optarg);
		else if (ch == 'c' && strcmp(optarg, "simple") == 0)
			p.header_canon = p.body_canon = CANON_SIMPLE;
	}
	for (i = 0; i < sizeof(fields) / sizeof(*fields); i++)
		head += strlen(fields[i][0]) + strlen(fields[i][1]) + 3;
	body_len = make_body(body, MSG_SIZE - head);
	p.sha256 = sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	p.timestamp = time(NULL);
	if (mkdtemp(dir) == NULL) {
		perror("dkim-sign-bench: mkdtemp");
		return 1;
	}
	snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.key", dir);
	snprintf(ed_path, sizeof(ed_path), "%s/ed.key", dir);
	keys = write_key(EVP_PKEY_RSA, rsa_path) == 0 && write_key(EVP_PKEY_ED25519, ed_path) == 0
	    ? dkim_keys_load(conf, 2, err, sizeof(err)) : NULL;
	unlink(rsa_path);
	unlink(ed_path);
	rmdir(dir);
	if (p.sha256 == NULL || keys == NULL) {
		fprintf(stderr, "dkim-sign-bench: key set-up failed: %s\n", keys ? "" : err);
		return 1;
	}
	printf("message: %zu bytes of header fields, %zu bytes of body; c=%s/%s; one core\n",
	       head, body_len, p.header_canon == CANON_SIMPLE ? "simple" : "relaxed",
	       p.body_canon == CANON_SIMPLE ? "simple" : "relaxed");
	run("rsa2048", &p, &keys->keys[0], body, body_len, seconds);
	run("ed25519", &p, &keys->keys[1], body, body_len, seconds);
	dkim_keys_free(keys);
	EVP_MD_free(sha256);
	return 0;
}
