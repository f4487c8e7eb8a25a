/*
 * dnsbl_zone.c - see dnsbl_zone.h. A filter is kept as the text the admin
 * wrote and walked again at each match: it is at most 63 characters and a
 * client has a handful of replies, so a compiled form would buy nothing
 * and would be one more thing to keep in step with the parser.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl_zone.h"

/* Reads a decimal octet 0..255 at *p; -1 when there is none. */
static int
read_octet(const char **p)
{
	int v = 0, digits = 0;

	while (isdigit((unsigned char)**p) && digits < 4) {
		v = v * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	return digits == 0 || digits > 3 || v > 255 ? -1 : v;
}

/*
 * Walks one octet's pattern at *p ("12" or "[2..11;20]"), advancing *p
 * past it. Returns 1 when value matches, 0 when not, -1 when the pattern
 * is malformed. With value < 0 it only checks the syntax.
 */
static int
octet_pattern(const char **p, int value)
{
	bool match = false;

	if (**p != '[') {
		int v = read_octet(p);

		return v < 0 ? -1 : v == value;
	}
	(*p)++;
	for (;;) {
		int lo = read_octet(p), hi;

		if (lo < 0)
			return -1;
		hi = lo;
		if ((*p)[0] == '.' && (*p)[1] == '.') {
			*p += 2;
			if ((hi = read_octet(p)) < 0 || hi < lo)
				return -1;
		}
		if (value >= lo && value <= hi)
			match = true;
		if (**p == ';') {
			(*p)++;
			continue;
		}
		if (**p != ']')
			return -1;
		(*p)++;
		return match;
	}
}

/* Walks a whole filter against reply (or, with check_only, its syntax):
 * 1 match, 0 no match, -1 malformed. */
static int
filter_walk(const char *filter, uint32_t reply, bool check_only)
{
	const char *p = filter;
	bool match = true;
	int i;

	for (i = 0; i < 4; i++) {
		int octet = check_only ? -1 : (int)((reply >> (24 - 8 * i)) & 0xff);
		int r = octet_pattern(&p, octet);

		if (r < 0)
			return -1;
		if (r == 0)
			match = false;
		if (i < 3 && *p++ != '.')
			return -1;
	}
	return *p != '\0' ? -1 : match;
}

bool
dnsbl_filter_match(const char *filter, uint32_t reply)
{
	return filter[0] == '\0' || filter_walk(filter, reply, false) == 1;
}

bool
dnsbl_zone_listed(const struct dnsbl_zone *zone, const uint32_t *replies, int count)
{
	int i;

	for (i = 0; i < count; i++)
		if (dnsbl_filter_match(zone->filter, replies[i]))
			return true;
	return false;
}

static bool
zone_name_ok(const char *name, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > DNSBL_ZONE_NAME_MAX || name[0] == '.' || name[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch == '.') {
			if (label == 0)
				return false;	/* ".." */
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

int
dnsbl_zone_parse(const char *spec, struct dnsbl_zone *out, const char **why)
{
	const char *star = strrchr(spec, '*');
	const char *eq = strchr(spec, '=');
	const char *name_end = eq ? eq : star ? star : spec + strlen(spec);
	size_t i, len = (size_t)(name_end - spec);

	memset(out, 0, sizeof(*out));
	out->weight = 1;
	if (eq && star && star < eq) {
		*why = "the weight (*N) comes after the filter (=127.0.0.2)";
		return -1;
	}
	if (!zone_name_ok(spec, len)) {
		*why = "the zone is not a domain name (letters, digits, '-', '.'; at most 127 characters)";
		return -1;
	}
	for (i = 0; i < len; i++)
		out->name[i] = (char)tolower((unsigned char)spec[i]);
	if (eq) {
		size_t flen = (size_t)((star ? star : spec + strlen(spec)) - (eq + 1));

		if (flen == 0 || flen > DNSBL_FILTER_MAX) {
			*why = "the filter after '=' is empty or longer than 63 characters";
			return -1;
		}
		memcpy(out->filter, eq + 1, flen);
		if (filter_walk(out->filter, 0, true) < 0) {
			*why = "the filter is not four octets like 127.0.0.[2..11;20]";
			return -1;
		}
	}
	if (star) {
		char *end;
		long w = strtol(star + 1, &end, 10);

		if (star[1] == '\0' || *end != '\0' || w == 0 || w < -DNSBL_WEIGHT_MAX
		    || w > DNSBL_WEIGHT_MAX) {
			*why = "the weight after '*' must be a non-zero whole number from -1000 to 1000";
			return -1;
		}
		out->weight = (int)w;
	}
	return 0;
}

int
dnsbl_query_name(const char *client_ip, const char *zone, char *out, size_t outsize)
{
	unsigned char a[16];
	size_t len = 0;
	int i, n;

	if (inet_pton(AF_INET, client_ip, a) == 1) {
		n = snprintf(out, outsize, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
		return n < 0 || (size_t)n >= outsize ? -1 : 0;
	}
	if (inet_pton(AF_INET6, client_ip, a) != 1)
		return -1;
	if (outsize < 64 + strlen(zone) + 1)
		return -1;
	for (i = 15; i >= 0; i--) {
		static const char hex[] = "0123456789abcdef";

		out[len++] = hex[a[i] & 0xf];
		out[len++] = '.';
		out[len++] = hex[a[i] >> 4];
		out[len++] = '.';
	}
	strcpy(out + len, zone);
	return 0;
}
