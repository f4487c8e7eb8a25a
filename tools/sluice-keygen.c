/*
 * sluice-keygen - make a DKIM key pair and print its DNS TXT record.
 *
 *   sluice-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-o DIR] [--plain]
 *
 * Writes DIR/DOMAIN.SELECTOR.key (PEM, mode 0600, never overwriting) and
 * prints the record "SELECTOR._domainkey.DOMAIN." in BIND zone format,
 * split into quoted strings of at most 255 characters (the limit of one
 * TXT string, and of many registrars' web forms); --plain prints the
 * value as one line instead, for web panels that join strings themselves.
 * RSA public keys are published as DER SubjectPublicKeyInfo, Ed25519 as
 * the raw 32-byte key (RFC 8463), both base64.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config_read.h"
#include "version.h"

#define TXT_STRING_MAX 255

struct keygen_opts {
	const char *domain, *selector, *dir;
	bool ed25519, plain;
	int bits;
};

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: sluice-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-o DIR] [--plain]\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->dir = ".";
	o->bits = 2048;
	while ((ch = getopt_long(argc, argv, "d:s:a:b:o:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->domain = optarg; break;
		case 's': o->selector = optarg; break;
		case 'o': o->dir = optarg; break;
		case 'b': o->bits = atoi(optarg); break;
		case 'P': o->plain = true; break;
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
	if (optind != argc || !o->domain || !o->selector)
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

int
main(int argc, char **argv)
{
	struct keygen_opts o;
	char path[4096];
	EVP_PKEY *key;
	char *pub;

	parse_options(argc, argv, &o);
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
