/*
 * alias_resolve.h - where mail to one recipient goes: aliases, domain
 * mapping and catch-all, resolved to the final list of addresses (pure:
 * no Redis, no libmilter; the lookups come through struct alias_source).
 *
 * Interface:
 *   alias_resolve()  the final recipients of one envelope recipient, in
 *                    order, lowercased, without duplicates, plus what
 *                    happened (expanded, loop, too deep, truncated) for the
 *                    log line.
 *
 * Contract (SPEC.md: sluice:alias:*, sluice:domainmap, sluice:catchall):
 *   - Every address is compared in lowercase: aliases are case-insensitive.
 *   - Domain mapping first: user@source becomes user@destination, up to
 *     ALIAS_MAP_HOPS mappings (as policyd's validation judges them; a loop
 *     a->b, b->a ends there).
 *   - Then the alias "user@domain", else, for a local domain, the wildcard
 *     alias "user@*". A target without "@" is a local part of the alias's
 *     own domain (the SafeUTM shorthand "j.smith"). A target equal to the
 *     alias keeps a copy in that mailbox and is not expanded again.
 *   - Targets that are aliases themselves are expanded, at most
 *     ALIAS_DEPTH_MAX levels; deeper targets are delivered as they are
 *     (too_deep). A target already on the current expansion path is a loop:
 *     it is dropped and loop is set. Every mailbox appears once.
 *   - An address that is no alias, in a domain with a catch-all, and not in
 *     the mailboxes, goes to the catch-all mailbox (only at the top level:
 *     alias targets are the admin's own choice, not "unknown" mail).
 *   - No recipient is ever lost: if expansion leaves nothing (a pure loop,
 *     every target invalid), the original recipient is kept.
 *   - Bounded: ALIAS_RESULT_MAX addresses per recipient (more: truncated).
 */
#ifndef SLUICE_ALIAS_RESOLVE_H
#define SLUICE_ALIAS_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"

#define ALIAS_DEPTH_MAX 8
#define ALIAS_RESULT_MAX 1000
#define ALIAS_MAP_HOPS 4

struct alias_source {
	void *arg;
	/* The targets of alias key: the first, then next() for the others. */
	const char *(*alias)(void *arg, const char *key, size_t *count);
	const char *(*next)(const char *value);
	const char *(*domainmap)(void *arg, const char *domain);
	const char *(*catchall)(void *arg, const char *domain);
	bool (*is_mailbox)(void *arg, const char *address);
	bool (*is_local_domain)(void *arg, const char *domain);
};

struct alias_result {
	char (*addr)[ADDRESS_MAX + 1];	/* count entries, malloc'ed */
	size_t count, cap;
	char original[ADDRESS_MAX + 1];	/* the recipient, lowercase */
	bool changed;		/* result differs from the recipient itself */
	bool loop, too_deep, truncated;
	bool catchall, mapped;
	bool srs;		/* a reversed SRS bounce (alias.c) */
};

/* 0, or -1 when out of memory or rcpt is not an address (then the result
 * is empty and the caller keeps the recipient as it is). */
int alias_resolve(const struct alias_source *src, const char *rcpt, struct alias_result *out);
void alias_result_free(struct alias_result *res);

#endif
