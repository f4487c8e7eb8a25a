/*
 * dkim_vsig.c - reading and checking DKIM-Signature fields and key
 * records for the verifier (see dkim_vsig.h).
 *
 * Which failures are which (RFC 6376 6.1.1, 6.1.2, 3.6.1; RFC 8301 for
 * SHA-1; RFC 8463): anything that makes the signature or key unusable is
 * a permerror, an x= in the past is a fail (the signature was good once,
 * and libopendkim reports it as a failed signature too), rsa-sha1 is
 * "policy" (we refuse to check it at all) unless configured as fail.
 * The reasons are short fixed texts: they go into an A-R comment and a
 * log line, so they never quote the message.
 */
#include <ctype.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_pkey_cache.h"
#include "dkim_vsig.h"

static int
fail(struct dkim_sigresult *res, enum dkim_res r, const char *why)
{
	res->result = r;
	snprintf(res->reason, sizeof(res->reason), "%s", why);
	return -1;
}

static void
copy_lower(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/* A DNS name the verifier will look up or compare: labels of letters,
 * digits, "-" and "_", 1..63 bytes each, 253 in all. */
static bool
valid_domain(const char *d)
{
	size_t n = strlen(d), label = 0, i;

	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return true;
}

static int
parse_uint(const char *s, size_t maxdigits, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= maxdigits)
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;		/* saturate: l= may have 76 digits */
		else
			v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static const signed char b64val[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13,
	['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19,
	['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25,
	['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31,
	['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55,
	['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61,
	['9'] = 62, ['+'] = 63, ['/'] = 64,
};	/* value + 1; 0: not base64 */

long
dkim_base64_decode(const char *in, unsigned char *out, size_t outsize)
{
	size_t n = strlen(in), i, o = 0, pad = 0;
	uint32_t acc = 0;

	if (n % 4 != 0)
		return -1;
	while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
		pad++;
	if (n / 4 * 3 - pad > outsize)
		return -1;
	for (i = 0; i < n - pad; i++) {
		int v = b64val[(unsigned char)in[i]];

		if (v == 0)
			return -1;
		acc = acc << 6 | (uint32_t)(v - 1);
		if (i % 4 == 3) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (pad == 1) {		/* 3 chars: 18 bits, 2 bytes */
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	} else if (pad == 2) {	/* 2 chars: 12 bits, 1 byte */
		out[o++] = (unsigned char)(acc >> 4);
	}
	return (long)o;
}

static int
parse_canon(struct dkim_vsig *sig, const char *c)
{
	const char *slash;
	char head[16];
	size_t n;

	sig->hc = sig->bc = CANON_SIMPLE;
	if (c == NULL)
		return 0;
	slash = strchr(c, '/');
	n = slash ? (size_t)(slash - c) : strlen(c);
	if (n >= sizeof(head))
		return -1;
	memcpy(head, c, n);
	head[n] = '\0';
	if (strcmp(head, "relaxed") == 0)
		sig->hc = CANON_RELAXED;
	else if (strcmp(head, "simple") != 0)
		return -1;
	if (slash == NULL)
		return 0;
	if (strcmp(slash + 1, "relaxed") == 0)
		sig->bc = CANON_RELAXED;
	else if (strcmp(slash + 1, "simple") != 0)
		return -1;
	return 0;
}

/* h=: colon-separated field names, From among them. */
static int
parse_hlist(struct dkim_vsig *sig, const char *h, struct dkim_sigresult *res)
{
	bool from = false;
	char *p;

	if ((sig->hstore = strdup(h)) == NULL)
		return fail(res, DKIM_RES_TEMPERROR, "out of memory");
	for (p = sig->hstore;;) {
		char *colon = strchr(p, ':');

		if (colon)
			*colon = '\0';
		if (*p == '\0')
			return fail(res, DKIM_RES_PERMERROR, "empty name in h=");
		if (sig->hcount >= DKIM_HLIST_MAX)
			return fail(res, DKIM_RES_PERMERROR, "h= too long");
		if (strcasecmp(p, "from") == 0)
			from = true;
		sig->h[sig->hcount++] = p;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	return from ? 0 : fail(res, DKIM_RES_PERMERROR, "h= without from");
}

/* i=: [local-part] "@" domain, the domain d= or under it. */
static int
parse_identity(struct dkim_vsig *sig, const char *i, const char *d,
	       struct dkim_sigresult *res)
{
	const char *at;
	size_t il, dl;

	if (i == NULL) {
		copy_lower(sig->idomain, sizeof(sig->idomain), d);
		snprintf(res->i, sizeof(res->i), "@%s", res->d);
		return 0;
	}
	snprintf(res->i, sizeof(res->i), "%s", i);
	if ((at = strrchr(i, '@')) == NULL || !valid_domain(at + 1))
		return fail(res, DKIM_RES_PERMERROR, "bad i=");
	copy_lower(sig->idomain, sizeof(sig->idomain), at + 1);
	il = strlen(sig->idomain);
	dl = strlen(res->d);
	if (!(il == dl && strcmp(sig->idomain, res->d) == 0)
	    && !(il > dl && sig->idomain[il - dl - 1] == '.'
		 && strcmp(sig->idomain + il - dl, res->d) == 0))
		return fail(res, DKIM_RES_PERMERROR, "i= not within d=");
	return 0;
}

static void
fill_identity(const struct dkim_tags *tags, struct dkim_sigresult *res)
{
	const char *v;

	if ((v = dkim_tags_get(tags, "d")) != NULL)
		copy_lower(res->d, sizeof(res->d), v);
	if ((v = dkim_tags_get(tags, "s")) != NULL)
		snprintf(res->s, sizeof(res->s), "%s", v);
	if ((v = dkim_tags_get(tags, "a")) != NULL)
		snprintf(res->a, sizeof(res->a), "%s", v);
	if ((v = dkim_tags_get(tags, "b")) != NULL)
		snprintf(res->b, sizeof(res->b), "%s", v);
}

static int
check_times(const struct dkim_tags *tags, const struct dkim_verify_limits *lim,
	    time_t now, struct dkim_sigresult *res)
{
	const char *t = dkim_tags_get(tags, "t"), *x = dkim_tags_get(tags, "x");
	uint64_t tv = 0, xv = 0;

	if (t && parse_uint(t, 12, &tv) < 0)
		return fail(res, DKIM_RES_PERMERROR, "bad t=");
	if (x && parse_uint(x, 12, &xv) < 0)
		return fail(res, DKIM_RES_PERMERROR, "bad x=");
	if (t && tv > (uint64_t)now + (uint64_t)lim->clock_skew)
		return fail(res, DKIM_RES_PERMERROR, "t= in the future");
	if (t && x && xv < tv)
		return fail(res, DKIM_RES_PERMERROR, "x= before t=");
	if (x && xv < (uint64_t)now)
		return fail(res, DKIM_RES_FAIL, "signature expired");
	return 0;
}

int
dkim_vsig_parse(struct dkim_vsig *sig, const char *value,
		const struct dkim_verify_limits *lim, time_t now,
		struct dkim_sigresult *res)
{
	static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s" };
	const char *why, *a, *d, *s, *q, *l;
	const struct dkim_tag *bt;
	long n;
	size_t k;

	memset(sig, 0, sizeof(*sig));
	res->result = DKIM_RES_PERMERROR;
	if (strlen(value) > lim->max_sig_bytes)
		return fail(res, DKIM_RES_PERMERROR, "signature too long");
	if (dkim_tags_parse(&sig->tags, value, &why) < 0)
		return fail(res, DKIM_RES_PERMERROR, why);
	fill_identity(&sig->tags, res);
	for (k = 0; k < sizeof(required) / sizeof(required[0]); k++)
		if (dkim_tags_get(&sig->tags, required[k]) == NULL) {
			char msg[32];

			snprintf(msg, sizeof(msg), "missing %s=", required[k]);
			return fail(res, DKIM_RES_PERMERROR, msg);
		}
	if (strcmp(dkim_tags_get(&sig->tags, "v"), "1") != 0)
		return fail(res, DKIM_RES_PERMERROR, "unknown v=");
	d = dkim_tags_get(&sig->tags, "d");
	s = dkim_tags_get(&sig->tags, "s");
	if (!valid_domain(d))
		return fail(res, DKIM_RES_PERMERROR, "bad d=");
	if (!valid_domain(s))
		return fail(res, DKIM_RES_PERMERROR, "bad s=");
	if (parse_identity(sig, dkim_tags_get(&sig->tags, "i"), d, res) < 0)
		return -1;
	a = dkim_tags_get(&sig->tags, "a");
	if (strcasecmp(a, "rsa-sha256") == 0)
		sig->alg = DKIM_VALG_RSA_SHA256;
	else if (strcasecmp(a, "ed25519-sha256") == 0)
		sig->alg = DKIM_VALG_ED25519_SHA256;
	else if (strcasecmp(a, "rsa-sha1") == 0)
		sig->alg = DKIM_VALG_RSA_SHA1;
	else
		return fail(res, DKIM_RES_PERMERROR, "unknown a=");
	if (parse_canon(sig, dkim_tags_get(&sig->tags, "c")) < 0)
		return fail(res, DKIM_RES_PERMERROR, "unknown c=");
	if ((q = dkim_tags_get(&sig->tags, "q")) != NULL && strcmp(q, "dns/txt") != 0)
		return fail(res, DKIM_RES_PERMERROR, "unknown q=");
	if ((l = dkim_tags_get(&sig->tags, "l")) != NULL) {
		if (parse_uint(l, 76, &sig->l) < 0)
			return fail(res, DKIM_RES_PERMERROR, "bad l=");
		sig->has_l = true;
	}
	if (parse_hlist(sig, dkim_tags_get(&sig->tags, "h"), res) < 0)
		return -1;
	if (check_times(&sig->tags, lim, now, res) < 0)
		return -1;
	n = dkim_base64_decode(dkim_tags_get(&sig->tags, "bh"), sig->bh, sizeof(sig->bh));
	if (n != DKIM_HASH_LEN && sig->alg != DKIM_VALG_RSA_SHA1)
		return fail(res, DKIM_RES_PERMERROR, "bad bh=");
	n = dkim_base64_decode(dkim_tags_get(&sig->tags, "b"), sig->b, sizeof(sig->b));
	if (n <= 0)
		return fail(res, DKIM_RES_PERMERROR, "bad b=");
	sig->blen = (size_t)n;
	bt = dkim_tags_find(&sig->tags, "b");
	sig->b_raw_start = bt->raw_start;
	sig->b_raw_end = bt->raw_end;
	if (sig->alg == DKIM_VALG_RSA_SHA1)
		return fail(res, lim->sha1_fail ? DKIM_RES_FAIL : DKIM_RES_POLICY,
			    "rsa-sha1 not accepted");
	return 0;
}

void
dkim_vsig_free(struct dkim_vsig *sig)
{
	dkim_tags_free(&sig->tags);
	free(sig->hstore);
	sig->hstore = NULL;
}

/* ------------------------------------------------------------- keys -- */

/* Is word one of the colon-separated entries of list? */
static bool
list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	for (;;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (len == n && strncasecmp(p, word, n) == 0)
			return true;
		if (colon == NULL)
			return false;
		p = colon + 1;
	}
}

static int
key_fail(enum dkim_res *result, const char **why, enum dkim_res r, const char *text)
{
	*result = r;
	*why = text;
	return -1;
}

static int
decode_public_key(const char *p, const struct dkim_vsig *sig,
		  const struct dkim_verify_limits *lim, struct dkim_vkey *key,
		  enum dkim_res *result, const char **why)
{
	unsigned char der[DKIM_RSA_BITS_MAX / 8 + 512];
	const unsigned char *q = der;
	long n = dkim_base64_decode(p, der, sizeof(der));

	if (n <= 0)
		return key_fail(result, why, DKIM_RES_PERMERROR, "bad key p=");
	if (sig->alg == DKIM_VALG_ED25519_SHA256) {
		if (n != 32)
			return key_fail(result, why, DKIM_RES_PERMERROR, "ed25519 key not 32 bytes");
		key->pkey = dkim_pkey_cache_get(lim->pkeys, EVP_PKEY_ED25519, der, 32);
		if (key->pkey == NULL
		    && (key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32)))
			dkim_pkey_cache_put(lim->pkeys, EVP_PKEY_ED25519, der, 32, key->pkey);
		key->bits = 256;
	} else if ((key->pkey = dkim_pkey_cache_get(lim->pkeys, EVP_PKEY_RSA, der, (size_t)n))) {
		key->bits = EVP_PKEY_get_bits(key->pkey);	/* cached: an RSA key */
	} else {
		/* Decoding is the costly part (OpenSSL 3's decoders): done
		 * once per distinct key, see dkim_pkey_cache.h. */
		key->pkey = d2i_PUBKEY(NULL, &q, n);
		if (key->pkey && EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
			EVP_PKEY_free(key->pkey);
			key->pkey = NULL;
		}
		if (key->pkey) {
			key->bits = EVP_PKEY_get_bits(key->pkey);
			dkim_pkey_cache_put(lim->pkeys, EVP_PKEY_RSA, der, (size_t)n, key->pkey);
		}
	}
	if (key->pkey == NULL)
		return key_fail(result, why, DKIM_RES_PERMERROR, "bad key p=");
	if (sig->alg == DKIM_VALG_RSA_SHA256
	    && (key->bits < lim->rsa_min_bits || key->bits > lim->rsa_max_bits)) {
		EVP_PKEY_free(key->pkey);
		key->pkey = NULL;
		return key_fail(result, why, DKIM_RES_PERMERROR,
				key->bits < lim->rsa_min_bits ? "rsa key too small"
				: "rsa key too large");
	}
	return 0;
}

int
dkim_vkey_parse(const char *txt, const struct dkim_vsig *sig,
		const struct dkim_verify_limits *lim, struct dkim_vkey *key,
		enum dkim_res *result, const char **why)
{
	struct dkim_tags tags;
	const char *v, *h, *k, *s, *t, *p;
	int rc = -1;

	memset(key, 0, sizeof(*key));
	if (dkim_tags_parse(&tags, txt, why) < 0)
		return key_fail(result, why, DKIM_RES_PERMERROR, "bad key record");
	v = dkim_tags_get(&tags, "v");
	h = dkim_tags_get(&tags, "h");
	k = dkim_tags_get(&tags, "k");
	s = dkim_tags_get(&tags, "s");
	t = dkim_tags_get(&tags, "t");
	p = dkim_tags_get(&tags, "p");
	if (v && (strcmp(v, "DKIM1") != 0 || strcmp(tags.t[0].name, "v") != 0))
		key_fail(result, why, DKIM_RES_PERMERROR, "bad key v=");
	else if (p == NULL)
		key_fail(result, why, DKIM_RES_PERMERROR, "key without p=");
	else if (*p == '\0')
		key_fail(result, why, DKIM_RES_FAIL, "key revoked");
	else if (h && !list_has(h, "sha256"))
		key_fail(result, why, DKIM_RES_PERMERROR, "key h= excludes sha256");
	else if (!(k ? strcasecmp(k, sig->alg == DKIM_VALG_ED25519_SHA256 ? "ed25519" : "rsa") == 0
		   : sig->alg != DKIM_VALG_ED25519_SHA256))
		key_fail(result, why, DKIM_RES_PERMERROR, "key k= does not match a=");
	else if (s && !list_has(s, "*") && !list_has(s, "email"))
		key_fail(result, why, DKIM_RES_PERMERROR, "key not for email");
	else if (t && list_has(t, "s") && strcasecmp(sig->idomain, dkim_tags_get(&sig->tags, "d")) != 0)
		key_fail(result, why, DKIM_RES_PERMERROR, "key t=s: i= domain not d=");
	else if (decode_public_key(p, sig, lim, key, result, why) == 0) {
		key->testing = t && list_has(t, "y");
		rc = 0;
	}
	dkim_tags_free(&tags);
	return rc;
}

void
dkim_vkey_free(struct dkim_vkey *key)
{
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
}
