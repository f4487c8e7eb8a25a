/*
 * dnsbl_zone.h - DNSBL/DNSWL zone entries: parsing, reply filters, weights,
 * query names. Pure functions, no DNS and no Redis, so that the rules that
 * decide a rejection are unit-tested on their own.
 *
 * An entry is postscreen's "zone[=filter][*weight]":
 *   zen.example.test=127.0.0.[2..11]*3   listed when an A reply matches
 *   wl.example.test*-5                   any A reply; negative: an allowlist
 *   bl.example.test                      any A reply, weight 1
 * A filter is four octets; each is a number, or [list] where the list's
 * members, separated by ';', are numbers or ranges n..m (inclusive). An
 * entry without filter counts any reply (postscreen does the same). The
 * score of a client is the sum of the weights of the entries one of whose
 * replies matches; each entry counts once however many replies match.
 *
 * dnsbl_query_name() builds the name asked: the client's address reversed
 * (d.c.b.a for IPv4, 32 nibbles for IPv6, RFC 5782) and the zone.
 */
#ifndef SLUICE_DNSBL_ZONE_H
#define SLUICE_DNSBL_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONES_MAX 8		/* entries in policyd.dnsbl.zones */
#define DNSBL_ZONE_NAME_MAX 127		/* characters of a zone name */
#define DNSBL_FILTER_MAX 63		/* characters of a filter */
#define DNSBL_QUERY_NAME_MAX 200	/* 64 nibble labels + a zone, with room */
#define DNSBL_WEIGHT_MAX 1000

struct dnsbl_zone {
	char name[DNSBL_ZONE_NAME_MAX + 1];	/* lowercase, no final dot */
	char filter[DNSBL_FILTER_MAX + 1];	/* "" matches any reply */
	int weight;				/* may be negative (allowlist) */
};

/* Parses an entry; -1 with *why (a static string) when it is malformed. */
int dnsbl_zone_parse(const char *spec, struct dnsbl_zone *out, const char **why);

/* Whether reply (an IPv4 address in host order) passes filter ("" passes
 * everything). The filter is one dnsbl_zone_parse() accepted. */
bool dnsbl_filter_match(const char *filter, uint32_t reply);

/* Whether an entry is listed by these replies (host order). */
bool dnsbl_zone_listed(const struct dnsbl_zone *zone, const uint32_t *replies, int count);

/* The name to ask for client_ip (text, v4 or v6) in zone; -1 when
 * client_ip is not an address or the name does not fit. */
int dnsbl_query_name(const char *client_ip, const char *zone, char *out, size_t outsize);

#endif
