/*
 * sluice-keygen - make a DKIM key pair and print its DNS TXT record, or
 * check that the published record matches a key.
 *
 *   sluice-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-o DIR] [--plain]
 *   sluice-keygen --check -d DOMAIN -s SELECTOR -k KEYFILE
 *
 * Writes DIR/DOMAIN.SELECTOR.key (PEM, mode 0600, never overwriting) and
 * prints the record "SELECTOR._domainkey.DOMAIN." in BIND zone format,
 * split into quoted strings of at most 255 characters (the limit of one
 * TXT string, and of many registrars' web forms); --plain prints the
 * value as one line instead, for web panels that join strings themselves.
 * RSA public keys are published as DER SubjectPublicKeyInfo, Ed25519 as
 * the raw 32-byte key (RFC 8463), both base64.
 *
 * --check looks up SELECTOR._domainkey.DOMAIN TXT with the system
 * resolver (as a verifier would), joins the strings of each record, reads
 * its k= and p= tags and compares p= with the public half of KEYFILE
 * (read with the milter's own checks, so a key the milter would refuse
 * is refused here too). Exit 0 when a record matches; 1 when the record
 * is missing, revoked (empty p=), of another key type or another key, or
 * the lookup fails; 2 for usage errors. Admins run it after publishing a
 * record, before adding the key to dkim.keys: a signature whose record
 * does not resolve is as good as none.
 */
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <netdb.h>

#include "config_read.h"
#include "dkim_keys.h"
#include "version.h"

#define TXT_STRING_MAX 255

struct keygen_opts {
	const char *domain, *selector, *dir, *keyfile;
	bool ed25519, plain, check;
	int bits;
};


static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: sluice-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-o DIR] [--plain]\n"
		"       sluice-keygen --check -d DOMAIN -s SELECTOR -k KEYFILE\n");
	exit(status);
}

static EVP_PKEY *
generate(const struct keygen_opts *o)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(o->ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	EVP_PKEY *key = NULL;

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0
	    || (!o->ed25519 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, o->bits) <= 0)
	    || EVP_PKEY_keygen(ctx, &key) <= 0)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/* The p= value: base64 of what the verifier expects for this key type. */
static char *
public_key_b64(EVP_PKEY *key, bool ed25519)
{
	unsigned char raw[4096], *p = raw;
	size_t len = sizeof(raw);
	char *out;
	int n;

	if (ed25519) {
		if (EVP_PKEY_get_raw_public_key(key, raw, &len) <= 0)
			return NULL;
	} else {
		n = i2d_PUBKEY(key, NULL);
		if (n <= 0 || (size_t)n > sizeof(raw) || i2d_PUBKEY(key, &p) != n)
			return NULL;
		len = (size_t)n;
	}
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, raw, (int)len);
	return out;
}

static int
write_private_key(EVP_PKEY *key, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	FILE *fp;
	int ok;

	if (fd < 0) {
		fprintf(stderr, "sluice-keygen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	ok = PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(fp) != 0 || !ok) {
		fprintf(stderr, "sluice-keygen: %s: write failed\n", path);
		unlink(path);
		return -1;
	}
	return 0;
}

static void
print_record(const struct keygen_opts *o, const char *pub)
{
	char value[8192];
	size_t off, len;

	snprintf(value, sizeof(value), "v=DKIM1; k=%s; p=%s", o->ed25519 ? "ed25519" : "rsa", pub);
	if (o->plain) {
		printf("%s\n", value);
		return;
	}
	printf("%s._domainkey.%s. IN TXT (", o->selector, o->domain);
	len = strlen(value);
	for (off = 0; off < len; off += TXT_STRING_MAX)
		printf(" \"%.*s\"", TXT_STRING_MAX, value + off);
	printf(" )\n");
}

static void
parse_options(int argc, char **argv, struct keygen_opts *o)
{
	static const struct option longopts[] = {
		{ "plain", no_argument, NULL, 'P' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->dir = ".";
	o->bits = 2048;
	while ((ch = getopt_long(argc, argv, "d:s:a:b:o:k:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->domain = optarg; break;
		case 's': o->selector = optarg; break;
		case 'o': o->dir = optarg; break;
		case 'b': o->bits = atoi(optarg); break;
		case 'P': o->plain = true; break;
		case 'C': o->check = true; break;
		case 'k': o->keyfile = optarg; break;
		case 'a':
			if (strcmp(optarg, "ed25519") == 0)
				o->ed25519 = true;
			else if (strcmp(optarg, "rsa") != 0)
				usage(2);
			break;
		case 'V': printf("sluice-keygen %s\n", SLUICE_VERSION); exit(0);
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !o->domain || !o->selector || (o->check != (o->keyfile != NULL)))
		usage(2);
	if (cfg_check_domain(o->domain) || cfg_check_domain(o->selector)) {
		fprintf(stderr, "sluice-keygen: domain and selector must be DNS names\n");
		exit(2);
	}
	if (!o->ed25519 && (o->bits < 1024 || o->bits > 8192)) {
		fprintf(stderr, "sluice-keygen: RSA key size must be 1024 to 8192 bits\n");
		exit(2);
	}
}

/* ------------------------------------------------------------ --check -- */

#define TXT_MAX 4096

/* The value of tag `name` in a DKIM key record, whitespace removed. */
static void
record_tag(const char *rec, const char *name, char *out, size_t size)
{
	const char *p = rec, *end, *eq;
	size_t n = strlen(name), o = 0;

	out[0] = '\0';
	while (*p) {
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq && (size_t)(eq - p) >= n && strncmp(p, name, n) == 0
		    && strspn(p + n, " \t") == (size_t)(eq - p) - n) {
			for (p = eq + 1; p < end && o + 1 < size; p++)
				if (*p != ' ' && *p != '\t')
					out[o++] = *p;
			out[o] = '\0';
			return;
		}
		p = *end ? end + 1 : end;
	}
}

/* Joins the character-strings of one TXT RR (each starts with its length). */
static int
txt_join(const unsigned char *rd, size_t len, char *out, size_t size)
{
	size_t i = 0, o = 0, n;

	while (i < len) {
		n = rd[i++];
		if (n > len - i || o + n >= size)
			return -1;
		memcpy(out + o, rd + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return 0;
}

/* Compares one record with the key; prints the verdict if it is ours. */
static int
judge_record(const char *name, const char *rec, const char *want_type, const char *want_p)
{
	char v[64], k[64], p[TXT_MAX];

	record_tag(rec, "v", v, sizeof(v));
	if (v[0] && strcmp(v, "DKIM1") != 0)
		return -1;	/* not a DKIM key record */
	record_tag(rec, "k", k, sizeof(k));
	record_tag(rec, "p", p, sizeof(p));
	if (k[0] == '\0')
		snprintf(k, sizeof(k), "rsa");	/* RFC 6376 3.6.1 default */
	if (p[0] == '\0') {
		printf("MISMATCH: %s: the key is revoked (empty p=)\n", name);
		return 1;
	}
	if (strcasecmp(k, want_type) != 0) {
		printf("MISMATCH: %s: k=%s in DNS, but the key file holds an %s key\n", name, k, want_type);
		return 1;
	}
	if (strcmp(p, want_p) != 0) {
		printf("MISMATCH: %s: p= is another public key than the key file's\n", name);
		return 1;
	}
	printf("OK: %s publishes the public key of the key file (k=%s)\n", name, k);
	return 0;
}

static int
keygen_check(const struct keygen_opts *o, const char *want_type, const char *want_p)
{
	unsigned char answer[NS_MAXMSG];
	char name[600], rec[TXT_MAX];
	int len, i, verdict = -1, r;
	ns_msg msg;
	ns_rr rr;

	snprintf(name, sizeof(name), "%s._domainkey.%s", o->selector, o->domain);
	res_init();
	len = res_query(name, ns_c_in, ns_t_txt, answer, sizeof(answer));
	if (len < 0) {
		if (h_errno == HOST_NOT_FOUND || h_errno == NO_DATA)
			printf("MISSING: no TXT record at %s (%s): publish the record sluice-keygen printed\n",
			       name, h_errno == HOST_NOT_FOUND ? "no such name" : "no TXT data");
		else
			printf("MISSING: %s: DNS lookup failed (%s)\n", name, hstrerror(h_errno));
		return 1;
	}
	if (ns_initparse(answer, len, &msg) < 0) {
		printf("MISSING: %s: unreadable DNS answer\n", name);
		return 1;
	}
	for (i = 0; i < ns_msg_count(msg, ns_s_an) && verdict != 0; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_txt
		    || txt_join(ns_rr_rdata(rr), ns_rr_rdlen(rr), rec, sizeof(rec)) < 0)
			continue;
		if ((r = judge_record(name, rec, want_type, want_p)) >= 0)
			verdict = r;
	}
	if (verdict < 0) {
		printf("MISSING: %s has TXT data, but no DKIM key record (v=DKIM1)\n", name);
		return 1;
	}
	return verdict;
}

/* --check: the public half of the key file, then the DNS comparison. */
static int
check_key(const struct keygen_opts *o)
{
	enum dkim_alg alg;
	char err[1024], *pub;
	EVP_PKEY *key;
	int bits, rc;

	if (dkim_key_read(o->keyfile, &key, &alg, &bits, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-keygen: %s\n", err);
		return 1;
	}
	if ((pub = public_key_b64(key, alg == DKIM_ALG_ED25519_SHA256)) == NULL) {
		fprintf(stderr, "sluice-keygen: cannot encode the public key of %s\n", o->keyfile);
		EVP_PKEY_free(key);
		return 1;
	}
	rc = keygen_check(o, dkim_alg_key_type(alg), pub);
	free(pub);
	EVP_PKEY_free(key);
	return rc;
}

int
main(int argc, char **argv)
{
	struct keygen_opts o;
	char path[4096];
	EVP_PKEY *key;
	char *pub;

	parse_options(argc, argv, &o);
	if (o.check)
		return check_key(&o);
	snprintf(path, sizeof(path), "%s/%s.%s.key", o.dir, o.domain, o.selector);
	if ((key = generate(&o)) == NULL || (pub = public_key_b64(key, o.ed25519)) == NULL) {
		fprintf(stderr, "sluice-keygen: key generation failed\n");
		return 1;
	}
	if (write_private_key(key, path) < 0)
		return 1;
	fprintf(stderr, "sluice-keygen: private key written to %s (mode 0600)\n", path);
	print_record(&o, pub);
	free(pub);
	EVP_PKEY_free(key);
	return 0;
}
