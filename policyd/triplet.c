/*
 * triplet.c - build greylisting triplets and their Redis keys.
 *
 * Decoding rules follow what senders do in the wild: BATV (RFC draft
 * "prvs" and Microsoft's "msprvs1"), SRS as libsrs2 and Postfix's
 * postsrsd write it, VERP from list managers. The rules only ever make
 * two addresses of one sender equal; they never split one sender in two.
 * Keys escape their parts (see triplet.h) so that no choice of sender
 * and recipient can name another triplet's key.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "network.h"
#include "triplet.h"

/* "prvs=TAG=user", "msprvs1=TAG=user", "btv1==TAG==user" -> "user" */
static const char *
strip_batv(const char *local)
{
	static const struct { const char *prefix, *sep; } forms[] = {
		{ "prvs=", "=" }, { "msprvs1=", "=" }, { "btv1==", "==" },
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i].prefix);
		const char *sep;

		if (strncmp(local, forms[i].prefix, n) == 0
		    && (sep = strstr(local + n, forms[i].sep)) != NULL
		    && sep[strlen(forms[i].sep)] != '\0')
			return sep + strlen(forms[i].sep);
	}
	return local;
}

/* The SRS0 body after "SRS0=": "HASH=TT=domain=local" -> domain, local */
static int
decode_srs0_body(const char *body, char *local, size_t lsize, char *domain, size_t dsize)
{
	const char *hash_end = strchr(body, '=');
	const char *tt_end = hash_end ? strchr(hash_end + 1, '=') : NULL;
	const char *dom_end = tt_end ? strchr(tt_end + 1, '=') : NULL;
	size_t dlen;

	if (dom_end == NULL || dom_end[1] == '\0')
		return -1;
	dlen = (size_t)(dom_end - tt_end - 1);
	if (dlen == 0 || dlen >= dsize || strlen(dom_end + 1) >= lsize)
		return -1;
	memcpy(domain, tt_end + 1, dlen);
	domain[dlen] = '\0';
	strcpy(local, dom_end + 1);
	return 0;
}

/* SRS0/SRS1 local parts (already lowercase) -> the original sender. */
static int
decode_srs(const char *local, char *olocal, size_t lsize, char *odomain, size_t dsize)
{
	const char *sep;

	if (strncmp(local, "srs0=", 5) == 0 || strncmp(local, "srs0-", 5) == 0
	    || strncmp(local, "srs0+", 5) == 0)
		return decode_srs0_body(local + 5, olocal, lsize, odomain, dsize);
	if (strncmp(local, "srs1=", 5) == 0 && (sep = strstr(local + 5, "==")) != NULL)
		return decode_srs0_body(sep + 2, olocal, lsize, odomain, dsize);
	return -1;
}

/* Drops "+ext" and (with digits) folds digit runs into '#'. */
static void
fold_local(const char *local, char *out, size_t size, bool digits)
{
	size_t o = 0;
	const char *p;

	for (p = local; *p && *p != '+' && o + 1 < size; p++) {
		if (digits && isdigit((unsigned char)*p)) {
			while (isdigit((unsigned char)p[1]))
				p++;
			out[o++] = '#';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	if (o == 0 && size > 1)		/* "+tag@" alone: keep something */
		snprintf(out, size, "+");
}

/* text[0..len) into dst as a string, cut to size - 1 as snprintf would
 * (the callers' buffers are large enough for what address_parse lets
 * through: a decision does not need printf). */
static void
copy_cut(char *dst, size_t size, const char *text, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, text, len);
	dst[len] = '\0';
}

static int
normalize(const char *sender, char *out, size_t size, bool digits)
{
	struct address a;
	char lower[ADDRESS_MAX + 1], local[ADDRESS_MAX + 1], domain[ADDRESS_DOMAIN_MAX + 1];
	char folded[ADDRESS_MAX + 1];
	const char *at, *base;
	size_t flen, dlen;

	if (sender == NULL || address_parse(sender, &a, NULL) < 0)
		return -1;
	if (a.is_null) {
		if (size < 3)
			return -1;
		memcpy(out, "<>", 3);
		return 0;
	}
	address_lower(&a, lower, sizeof(lower));
	at = strrchr(lower, '@');
	if (at == NULL) {
		copy_cut(local, sizeof(local), lower, strlen(lower));
		domain[0] = '\0';
	} else {
		copy_cut(local, sizeof(local), lower, (size_t)(at - lower));
		copy_cut(domain, sizeof(domain), at + 1, strlen(at + 1));
	}
	base = strip_batv(local);
	if (decode_srs(base, folded, sizeof(folded), domain, sizeof(domain)) == 0)
		copy_cut(local, sizeof(local), folded, strlen(folded));
	else if (base != local)
		memmove(local, base, strlen(base) + 1);
	fold_local(local, folded, sizeof(folded), digits);
	flen = strlen(folded);
	dlen = strlen(domain);
	if (flen + (dlen ? 1 + dlen : 0) >= size)
		return -1;
	memcpy(out, folded, flen);
	if (dlen) {
		out[flen] = '@';
		memcpy(out + flen + 1, domain, dlen);
	}
	out[flen + (dlen ? 1 + dlen : 0)] = '\0';
	return 0;
}

int
triplet_normalize_sender(const char *sender, char *out, size_t size)
{
	return normalize(sender, out, size, true);
}

int
triplet_sender_identity(const char *sender, char *out, size_t size)
{
	return normalize(sender, out, size, false);
}

int
triplet_subject_ip(const char *client_address, int ipv4_prefix, int ipv6_prefix,
		   char *out, size_t size)
{
	struct net_cidr block;

	if (client_address == NULL || net_addr_parse(client_address, &block.addr) < 0)
		return -1;
	block.prefix = (unsigned)(block.addr.family == AF_INET ? ipv4_prefix : ipv6_prefix);
	net_addr_mask(&block.addr, block.prefix);
	return net_cidr_format(&block, out, size);
}

/*
 * Appends text to out at *o, percent-escaping what could be read as a
 * separator ('%' itself, '{' '}' and, with colon, ':') or is not
 * printable ASCII. Escaping '%' is what makes the mapping reversible,
 * hence injective: two different parts never give the same text.
 */
static int
append_escaped(char *out, size_t size, size_t *o, const char *text, bool colon)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++) {
		bool plain = *p > 0x20 && *p < 0x7f && *p != '%' && *p != '{' && *p != '}'
		    && (!colon || *p != ':');

		if (*o + (plain ? 1 : 3) >= size)
			return -1;
		if (plain) {
			out[(*o)++] = (char)*p;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[*p >> 4];
			out[(*o)++] = hex[*p & 15];
		}
	}
	out[*o] = '\0';
	return 0;
}

static int
append_plain(char *out, size_t size, size_t *o, const char *text)
{
	size_t n = strlen(text);

	if (*o + n >= size)
		return -1;
	memcpy(out + *o, text, n + 1);
	*o += n;
	return 0;
}

/* "<prefix>gl:{<subject>}" */
static int
key_start(const char *prefix, const char *subject, char *out, size_t size, size_t *o)
{
	*o = 0;
	if (size == 0 || strlen(prefix) > TRIPLET_PREFIX_MAX
	    || strlen(subject) > TRIPLET_SUBJECT_MAX)
		return -1;
	return append_plain(out, size, o, prefix) < 0
	    || append_plain(out, size, o, "gl:{") < 0
	    || append_escaped(out, size, o, subject, false) < 0
	    || append_plain(out, size, o, "}") < 0 ? -1 : 0;
}

int
triplet_key(const char *prefix, const char *subject, const char *sender,
	    const char *recipient, char *out, size_t size)
{
	size_t o;

	if (strlen(sender) > ADDRESS_MAX || strlen(recipient) > ADDRESS_MAX)
		return -1;
	return key_start(prefix, subject, out, size, &o) < 0
	    || append_plain(out, size, &o, ":") < 0
	    || append_escaped(out, size, &o, sender, true) < 0
	    || append_plain(out, size, &o, ":") < 0
	    || append_escaped(out, size, &o, recipient, true) < 0 ? -1 : 0;
}

int
triplet_awl_key(const char *prefix, const char *subject, char *out, size_t size)
{
	size_t o;

	return key_start(prefix, subject, out, size, &o) < 0
	    || append_plain(out, size, &o, ":awl") < 0 ? -1 : 0;
}
