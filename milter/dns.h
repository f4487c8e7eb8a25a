/*
 * dns.h - the milter's one DNS layer: libunbound as a stub resolver that
 * forwards to the servers of /etc/resolv.conf, with its in-process cache
 * (answers kept for their TTL, negative answers for the SOA minimum), and
 * a time budget per message for all its lookups.
 *
 * Interface:
 *   dns_resolver_new()   one resolver (one per loaded config); reads
 *                        resolv.conf now (as root, before the privilege
 *                        drop). Thread-safe: every libmilter thread uses it.
 *   dns_resolver_free()  after the last lookup; queries still in flight
 *                        are abandoned.
 *   dns_budget_init()    a message's budget: milliseconds of waiting that
 *                        all of its lookups together may spend.
 *   dns_lookup()         one query (type ns_t_txt, ns_t_a, ...). Waits at
 *                        most what is left of the budget, and charges the
 *                        time waited to it. A budget spent, a server that
 *                        does not answer or answers SERVFAIL: DNS_TEMPFAIL
 *                        (budget->timed_out says it was the clock).
 *   dns_answer_free()    releases an answer's records.
 *   dns_txt()            the character-strings of TXT record i, joined (RFC
 *                        7208 3.3, RFC 6376 3.6.2.2), bounded by size.
 *
 * Why libunbound: it caches by TTL, handles TCP fallback, EDNS and
 * retries, and its asynchronous interface lets a waiter give up at its
 * deadline while the answer still fills the cache for the next message.
 * In front of libunbound's cache sits our own (dns_cache.h): a name asked
 * again within its TTL is answered in the calling thread, with no hop to
 * libunbound's thread and back.
 * A lookup never waits past the budget: Postfix's milter timeouts are
 * never reached because of DNS.
 */
#ifndef SLUICE_MILTER_DNS_H
#define SLUICE_MILTER_DNS_H

#include <stdbool.h>
#include <stddef.h>

enum dns_status { DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_TEMPFAIL };

struct dns_resolver;

struct dns_budget {
	long remaining_ms;
	bool timed_out;		/* a lookup gave up because the budget ran out */
	unsigned queries;	/* lookups made, for the log and tests */
};

struct dns_answer {
	enum dns_status status;
	int count;		/* records */
	char **data;		/* rdata in wire format, count entries */
	int *len;
	int ttl;
	void *impl;		/* the one block holding data and len */
};

struct dns_resolver *dns_resolver_new(const char *resolv_conf, char *err, size_t errsize);
void dns_resolver_free(struct dns_resolver *r);
void dns_budget_init(struct dns_budget *budget, long ms);
enum dns_status dns_lookup(struct dns_resolver *r, const char *name, int type,
			   struct dns_budget *budget, struct dns_answer *out);
void dns_answer_free(struct dns_answer *answer);
/* Joins the strings of TXT record i into buf; -1 if it does not fit or
 * the record is malformed. */
int dns_txt(const struct dns_answer *answer, int i, char *buf, size_t size);

#endif
