/*
 * dkim_keys.c - the DKIM key store (see dkim_keys.h for the interface).
 *
 * Why decode once: decoding a PEM RSA-2048 key with OpenSSL 3 costs
 * about 300 microseconds here, more than the RSA signature itself, and
 * libopendkim (hence opendkim) pays it for every message. We pay it per
 * config load. The store is sorted by domain, so that finding the keys of
 * a From domain is a binary search even with thousands of domains.
 *
 * Why the mode check: a DKIM private key lets anyone sign as the domain.
 * A key file that group or others may read is refused, with the line of
 * sluice.conf that names it, rather than silently used (OpenDKIM does the
 * same). The check is on the open file (fstat), so a symlink is judged by
 * what it points to and there is no window between check and read.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim_keys.h"

const char *
dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

const char *
dkim_alg_key_type(enum dkim_alg alg)
{
	return alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa";
}

/* Reads the whole file (bounded) after checking what it is. */
static int
read_key_file(const char *path, char **text, size_t *len, char *err, size_t errsize)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errsize, "key %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "key %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
		snprintf(err, errsize, "key %s: %s by group or others (chmod 600)", path,
			 st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable");
		close(fd);
		return -1;
	}
	if (st.st_size <= 0 || st.st_size > DKIM_KEY_FILE_MAX) {
		snprintf(err, errsize, "key %s: %s", path,
			 st.st_size <= 0 ? "empty file" : "too large for a PEM key");
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errsize, "key %s: out of memory", path);
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size
	       && ((n = read(fd, buf + got, (size_t)st.st_size - got)) > 0
		   || (n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

static int
classify_key(EVP_PKEY *pkey, const char *path, enum dkim_alg *alg, int *bits,
	     char *err, size_t errsize)
{
	*bits = EVP_PKEY_get_bits(pkey);
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		*alg = DKIM_ALG_RSA_SHA256;
		if (*bits < 1024 || *bits > DKIM_RSA_BITS_MAX) {
			snprintf(err, errsize, "key %s: RSA key of %d bits is too %s "
				 "(1024 to %d bits, 2048 recommended)", path, *bits,
				 *bits < 1024 ? "short" : "long", DKIM_RSA_BITS_MAX);
			return -1;
		}
		return 0;
	case EVP_PKEY_ED25519:
		*alg = DKIM_ALG_ED25519_SHA256;
		return 0;
	default:
		snprintf(err, errsize, "key %s: unsupported key type %s (RSA or Ed25519)",
			 path, OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
		return -1;
	}
}

int
dkim_key_read(const char *path, EVP_PKEY **out, enum dkim_alg *alg, int *bits,
	      char *err, size_t errsize)
{
	EVP_PKEY *pkey = NULL;
	char *text;
	size_t len;
	BIO *bio;

	*out = NULL;
	if (read_key_file(path, &text, &len, err, errsize) < 0)
		return -1;
	if ((bio = BIO_new_mem_buf(text, (int)len)) != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(text, len);
	free(text);
	if (pkey == NULL) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, errsize, "key %s: not a PEM private key (%s)", path,
			 e ? ERR_reason_error_string(e) : "no key found");
		ERR_clear_error();
		return -1;
	}
	if (classify_key(pkey, path, alg, bits, err, errsize) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	*out = pkey;
	return 0;
}

static char *
lowercase_dup(const char *s)
{
	char *d = strdup(s), *p;

	for (p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* Sort order: domain, then position in the config (qsort is not stable). */
static int
key_order(const void *a, const void *b)
{
	const struct dkim_key *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Duplicate selectors and too many keys for one domain (store sorted). */
static int
check_domains(const struct dkim_keys *ks, char *err, size_t errsize)
{
	size_t i, j, run = 0;

	for (i = 0; i < ks->count; i++) {
		const struct dkim_key *k = &ks->keys[i];

		run = i > 0 && strcmp(ks->keys[i - 1].domain, k->domain) == 0 ? run + 1 : 1;
		if (run > DKIM_KEYS_PER_DOMAIN) {
			snprintf(err, errsize, "%s: key %s: more than %d keys for domain %s",
				 k->source, k->path, DKIM_KEYS_PER_DOMAIN, k->domain);
			return -1;
		}
		for (j = i - (run - 1); j < i; j++)
			if (strcasecmp(ks->keys[j].selector, k->selector) == 0) {
				snprintf(err, errsize, "%s: selector %s of domain %s is "
					 "listed twice (also at %s)", k->source, k->selector,
					 k->domain, ks->keys[j].source);
				return -1;
			}
	}
	return 0;
}

struct dkim_keys *
dkim_keys_load(const struct dkim_key_conf *conf, size_t n, char *err, size_t errsize)
{
	struct dkim_keys *ks = calloc(1, sizeof(*ks));
	char why[512];
	size_t i;

	if (ks == NULL || (n && (ks->keys = calloc(n, sizeof(*ks->keys))) == NULL)) {
		snprintf(err, errsize, "out of memory");
		free(ks);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		struct dkim_key *k = &ks->keys[i];

		ks->count = i + 1;
		k->order = i;
		k->domain = lowercase_dup(conf[i].domain);
		k->selector = strdup(conf[i].selector);
		k->path = strdup(conf[i].key_path);
		k->source = strdup(conf[i].source ? conf[i].source : "?");
		if (!k->domain || !k->selector || !k->path || !k->source) {
			snprintf(err, errsize, "out of memory");
			goto fail;
		}
		if (dkim_key_read(k->path, &k->pkey, &k->alg, &k->bits, why, sizeof(why)) < 0) {
			snprintf(err, errsize, "%s: %s", k->source, why);
			goto fail;
		}
		if (k->alg == DKIM_ALG_ED25519_SHA256
		    && ((k->ed_template = EVP_MD_CTX_new()) == NULL
			|| EVP_DigestSignInit_ex(k->ed_template, NULL, NULL, NULL, NULL,
						 k->pkey, NULL) != 1)) {
			snprintf(err, errsize, "%s: key %s: OpenSSL cannot sign with it",
				 k->source, k->path);
			goto fail;
		}
	}
	qsort(ks->keys, ks->count, sizeof(*ks->keys), key_order);
	if (check_domains(ks, err, errsize) < 0)
		goto fail;
	return ks;
fail:
	dkim_keys_free(ks);
	return NULL;
}

void
dkim_keys_free(struct dkim_keys *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->count; i++) {
		EVP_MD_CTX_free(ks->keys[i].ed_template);
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].domain);
		free(ks->keys[i].selector);
		free(ks->keys[i].path);
		free(ks->keys[i].source);
	}
	free(ks->keys);
	free(ks);
}

/* Index of the first key of domain, or ks->count. */
static size_t
first_of(const struct dkim_keys *ks, const char *domain)
{
	size_t lo = 0, hi = ks->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ks->keys[mid].domain, domain) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ks->count && strcmp(ks->keys[lo].domain, domain) == 0 ? lo : ks->count;
}

size_t
dkim_keys_find(const struct dkim_keys *ks, const char *domain, bool parents,
	       const struct dkim_key **first)
{
	const char *d = domain;
	size_t i, n;

	*first = NULL;
	while (d && *d) {
		if ((i = first_of(ks, d)) < ks->count) {
			for (n = 1; i + n < ks->count
			     && strcmp(ks->keys[i + n].domain, d) == 0; n++)
				;
			*first = &ks->keys[i];
			return n;
		}
		if (!parents)
			break;
		/* The parent: drop the first label ("a.b.example" -> "b.example"). */
		if ((d = strchr(d, '.')) != NULL)
			d++;
		if (d && strchr(d, '.') == NULL)
			break;	/* never a top-level domain alone */
	}
	return 0;
}
