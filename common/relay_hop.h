/*
 * relay_hop.h - the next hop of a relay domain: "domain|host:port".
 *
 * Interface:
 *   relay_entry_parse()  splits one domains.relay entry ("domain",
 *                        "domain|host", "domain|host:port",
 *                        "domain|[192.0.2.1]:2525", "domain|[2001:db8::1]:25")
 *                        into the domain and its hop; -1 with a reason.
 *   relay_entry_check()  the same as a cfg_item_check (NULL or a reason).
 *   relay_hop_parse()    the hop alone: "host", "host:port", "[literal]",
 *                        "[literal]:port" (sluice.conf's postfix group).
 *
 * Contract: the domain is checked as a domain name, the host as a host
 * name or an IP literal (IPv6 only in brackets, as Postfix writes it), the
 * port in 1..65535 (default 25). The hop is what recipient validation
 * `smtp` asks and what `sluice-ctl postconf` would route to; a domain
 * without one has host "".
 */
#ifndef SLUICE_RELAY_HOP_H
#define SLUICE_RELAY_HOP_H

#include <stddef.h>

#define RELAY_HOST_MAX 253

struct relay_hop {
	char host[RELAY_HOST_MAX + 1];	/* "" when the entry names none */
	int port;
};

int relay_entry_parse(const char *entry, char *domain, size_t domain_size,
		      struct relay_hop *hop, const char **why);
const char *relay_entry_check(const char *entry);
int relay_hop_parse(const char *text, struct relay_hop *hop, const char **why);

#endif
