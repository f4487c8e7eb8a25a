/*
 * srs.c - SRS0/SRS1 addresses (interface and contract in srs.h).
 *
 * Why our own code rather than libsrs2: Debian ships no libsrs2 package,
 * the scheme is 150 lines, and a pure function of (secret, time, address)
 * is unit-testable; compatibility is checked in t_srs.sh against postsrsd
 * itself, which we did not write.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "srs.h"

#define SRS_TIME_PRECISION 86400
#define SRS_TIME_SLOTS 1024
#define SRS_FIELD_MAX 256

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

bool
srs_is_srs(const char *local)
{
	return strncasecmp(local, "SRS0", 4) == 0 || strncasecmp(local, "SRS1", 4) == 0 ?
	       (local[4] == '=' || local[4] == '+' || local[4] == '-') : false;
}

/* HMAC-SHA1 over the lowercased fields, base64, first SRS_HASH_LEN chars. */
static int
srs_hash(const struct srs_key *key, const char *const *fields, size_t n, char out[SRS_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[64], buf[3 * SRS_FIELD_MAX];
	unsigned mdlen = 0;
	size_t i, j, len = 0;

	for (i = 0; i < n; i++) {
		size_t flen = strlen(fields[i]);

		if (flen > SRS_FIELD_MAX || len + flen > sizeof(buf))
			return -1;
		for (j = 0; j < flen; j++)
			buf[len++] = (unsigned char)tolower((unsigned char)fields[i][j]);
	}
	if (HMAC(EVP_sha1(), key->secret, (int)key->len, buf, len, md, &mdlen) == NULL)
		return -1;
	EVP_EncodeBlock(b64, md, (int)mdlen);
	memcpy(out, b64, SRS_HASH_LEN);
	out[SRS_HASH_LEN] = '\0';
	return 0;
}

/* Splits "local@domain" at the last @ into bounded copies. */
static int
split(const char *address, char *local, char *domain, const char **why)
{
	const char *at = strrchr(address, '@');

	if (at == NULL || at == address || at[1] == '\0') {
		*why = "not an address with a domain";
		return -1;
	}
	if ((size_t)(at - address) >= SRS_FIELD_MAX || strlen(at + 1) >= SRS_FIELD_MAX) {
		*why = "address too long";
		return -1;
	}
	memcpy(local, address, (size_t)(at - address));
	local[at - address] = '\0';
	strcpy(domain, at + 1);
	return 0;
}

static int
emit(char *out, size_t size, const char **why, const char *fmt, const char *a, const char *b,
     const char *c, const char *d, const char *e)
{
	int n = snprintf(out, size, fmt, a, b, c, d, e);

	if (n < 0 || (size_t)n >= size) {
		*why = "SRS address too long";
		return -1;
	}
	return 0;
}

/* emit() for srs_forward(): the local part made must also be one that
 * srs_reverse() takes back (under SRS_FIELD_MAX), or the bounce to it
 * would be refused. */
static int
emit_reversible(char *out, size_t size, const char **why, const char *fmt, const char *a,
		const char *b, const char *c, const char *d, const char *e)
{
	const char *at;

	if (emit(out, size, why, fmt, a, b, c, d, e) < 0)
		return -1;
	if ((at = strrchr(out, '@')) == NULL || (size_t)(at - out) >= SRS_FIELD_MAX) {
		out[0] = '\0';
		*why = "SRS address too long";
		return -1;
	}
	return 0;
}

int
srs_forward(const struct srs_key *key, const char *srs_domain, const char *sender,
	    time_t now, char *out, size_t size, const char **why)
{
	char local[SRS_FIELD_MAX], host[SRS_FIELD_MAX], hash[SRS_HASH_LEN + 1];
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (split(sender, local, host, why) < 0)
		return -1;
	/* The host becomes an '='-separated field: one holding '=' would be
	 * split wrongly on the way back, and the bounce refused as forged. */
	if (strchr(host, '=') != NULL && !(srs_is_srs(local) && strncasecmp(local, "SRS1", 4) == 0)) {
		*why = "sender domain holds '='";
		return -1;
	}
	if (strncasecmp(local, "SRS0", 4) == 0 && srs_is_srs(local)) {
		/* SRS0=...@fw: SRS1=HHHH=fw=<"=..."> */
		const char *f[2] = { host, local + 4 };

		if (srs_hash(key, f, 2, hash) < 0)
			goto crypto;
		return emit_reversible(out, size, why, "SRS1=%s=%s=%s@%s%s", hash, host, local + 4, srs_domain, "");
	}
	if (srs_is_srs(local)) {
		/* SRS1=HHHH=fw=<"=...">@x: keep the first hop, hash again */
		char *hop = strchr(local + 5, '='), *user;
		const char *f[2];

		if (hop == NULL || (user = strchr(hop + 1, '=')) == NULL || user == hop + 1) {
			*why = "malformed SRS1 address";
			return -1;
		}
		*user++ = '\0';	/* user keeps its leading separator */
		f[0] = hop + 1;
		f[1] = user;
		if (srs_hash(key, f, 2, hash) < 0)
			goto crypto;
		return emit_reversible(out, size, why, "SRS1=%s=%s=%s@%s%s", hash, hop + 1, user, srs_domain, "");
	}
	{
		long days = (long)(now / SRS_TIME_PRECISION) % SRS_TIME_SLOTS;
		char ts[3] = { base32[(days >> 5) & 31], base32[days & 31], '\0' };
		const char *f[3] = { ts, host, local };

		if (srs_hash(key, f, 3, hash) < 0)
			goto crypto;
		return emit_reversible(out, size, why, "SRS0=%s=%s=%s=%s@%s", hash, ts, host, local, srs_domain);
	}
crypto:
	*why = "HMAC failed";
	return -1;
}

static int
hash_ok(const struct srs_key *key, const char *given, const char *const *f, size_t n)
{
	char want[SRS_HASH_LEN + 1];

	return strlen(given) == SRS_HASH_LEN && srs_hash(key, f, n, want) == 0 &&
	       strcasecmp(want, given) == 0;
}

static int
stamp_ok(const char *ts, time_t now, int max_age_days)
{
	const char *a, *b;
	long then, today;

	if (strlen(ts) != 2 || (a = strchr(base32, toupper((unsigned char)ts[0]))) == NULL ||
	    (b = strchr(base32, toupper((unsigned char)ts[1]))) == NULL || !*a || !*b)
		return 0;
	then = (long)(a - base32) << 5 | (long)(b - base32);
	today = (long)(now / SRS_TIME_PRECISION) % SRS_TIME_SLOTS;
	while (today < then)
		today += SRS_TIME_SLOTS;
	return today - then <= max_age_days;
}

int
srs_reverse(const struct srs_key *key, const char *address, time_t now, int max_age_days,
	    char *out, size_t size, const char **why)
{
	char local[SRS_FIELD_MAX], domain[SRS_FIELD_MAX];
	char *p[5], *s;
	const char *dummy;
	int i;

	if (why == NULL)
		why = &dummy;
	if (split(address, local, domain, why) < 0)
		return -1;
	if (!srs_is_srs(local)) {
		*why = "not an SRS address";
		return -1;
	}
	if (toupper((unsigned char)local[3]) == '0') {
		/* SRS0=HHHH=TT=host=user (the user may hold '=') */
		s = local + 5;
		for (i = 0; i < 3; i++) {
			p[i] = s;
			if ((s = strchr(s, '=')) == NULL) {
				*why = "malformed SRS0 address";
				return -1;
			}
			*s++ = '\0';
		}
		p[3] = s;
		{
			const char *f[3] = { p[1], p[2], p[3] };

			if (!hash_ok(key, p[0], f, 3)) {
				*why = "bad SRS hash";
				return -1;
			}
		}
		if (!stamp_ok(p[1], now, max_age_days)) {
			*why = "SRS address expired";
			return -1;
		}
		if (p[2][0] == '\0' || p[3][0] == '\0') {
			*why = "malformed SRS0 address";
			return -1;
		}
		return emit(out, size, why, "%s@%s%s%s%s", p[3], p[2], "", "", "");
	}
	/* SRS1=HHHH=host==rest: back to SRS0=rest@host */
	s = local + 5;
	p[0] = s;
	if ((s = strchr(s, '=')) == NULL) {
		*why = "malformed SRS1 address";
		return -1;
	}
	*s++ = '\0';
	p[1] = s;
	if ((s = strchr(s, '=')) == NULL || s == p[1]) {
		*why = "malformed SRS1 address";
		return -1;
	}
	{
		char host[SRS_FIELD_MAX];
		const char *f[2] = { host, NULL };

		snprintf(host, sizeof(host), "%.*s", (int)(s - p[1]), p[1]);
		f[1] = ++s;	/* "=HHHH=TT=..." of the first hop's SRS0 */
		if (!hash_ok(key, p[0], f, 2)) {
			*why = "bad SRS hash";
			return -1;
		}
		return emit(out, size, why, "SRS0%s@%s%s%s%s", s, host, "", "", "");
	}
}
