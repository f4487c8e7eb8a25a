/*
 * relay_hop.c - parsing "domain|host:port" (see relay_hop.h).
 *
 * Kept out of config.c so that the unit tests reach it directly and so
 * that the milter's future routing (sluice-ctl postconf) shares it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "config_read.h"
#include "relay_hop.h"

static int
fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

/* "host", "host:port", "[literal]", "[literal]:port" */
int
relay_hop_parse(const char *text, struct relay_hop *hop, const char **why)
{
	const char *host_end, *port = NULL;
	size_t len;
	char host[RELAY_HOST_MAX + 1];

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		unsigned char buf[16];

		if (close == NULL)
			return fail(why, "'[' without ']' in the next hop");
		len = (size_t)(close - text - 1);
		if (len == 0 || len > RELAY_HOST_MAX)
			return fail(why, "empty or too long IP literal in the next hop");
		memcpy(host, text + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
			return fail(why, "not an IP address in [ ]");
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return fail(why, "unexpected text after ']'");
	} else {
		unsigned char buf[4];

		host_end = strchr(text, ':');
		len = host_end ? (size_t)(host_end - text) : strlen(text);
		if (len == 0 || len > RELAY_HOST_MAX)
			return fail(why, "empty or too long next hop host");
		memcpy(host, text, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, buf) != 1 && cfg_check_hostname(host) != NULL)
			return fail(why, "next hop is not a host name or IPv4 address"
				    " (an IPv6 address goes in [ ])");
		if (host_end)
			port = host_end + 1;
	}
	hop->port = 25;
	if (port) {
		char *end;
		long n = strtol(port, &end, 10);

		if (*port == '\0' || *end != '\0' || n < 1 || n > 65535)
			return fail(why, "next hop port must be 1 to 65535");
		hop->port = (int)n;
	}
	strcpy(hop->host, host);
	return 0;
}

int
relay_entry_parse(const char *entry, char *domain, size_t domain_size,
		  struct relay_hop *hop, const char **why)
{
	const char *bar = strchr(entry, '|');
	size_t len = bar ? (size_t)(bar - entry) : strlen(entry);
	const char *reason;
	struct relay_hop h = { "", 0 };

	if (len + 1 > domain_size)
		return fail(why, "domain name too long");
	memcpy(domain, entry, len);
	domain[len] = '\0';
	if ((reason = cfg_check_domain(domain)) != NULL)
		return fail(why, reason);
	if (bar && relay_hop_parse(bar + 1, &h, why) < 0)
		return -1;
	if (hop)
		*hop = h;
	return 0;
}

const char *
relay_entry_check(const char *entry)
{
	char domain[ADDRESS_DOMAIN_MAX + 1];
	const char *why = NULL;

	if (relay_entry_parse(entry, domain, sizeof(domain), NULL, &why) < 0)
		return why;
	return NULL;
}
