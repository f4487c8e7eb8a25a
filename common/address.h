/*
 * address.h - RFC 5321 mail addresses (envelope paths).
 *
 * Interface:
 *   address_parse()  one path as Postfix hands it over: with or without
 *                    angle brackets ("<a@b>" from the milter, "a@b" from the
 *                    policy protocol), the null path "<>" or "", a quoted
 *                    local part ("\"john doe\"@example.test", or Postfix's
 *                    internal unquoted form "john doe@example.test"), and
 *                    domains that are host names or address literals
 *                    ("[192.0.2.1]", "[IPv6:2001:db8::1]").
 *   The result holds the local part as given (quotes removed, escapes
 *   resolved), the domain in lowercase, and a canonical "local@domain"
 *   form; address_lower() lowercases the whole canonical form, which is the
 *   key form of the Redis lists (the spec stores addresses lowercase).
 *
 * Contract: every length is bounded (local part 64 octets, domain 255,
 * whole path 256, RFC 5321 4.5.3.1); over-long, unbalanced, control
 * characters or NUL bytes are errors. Returns 0 or -1 with a static
 * English reason in *why (may be NULL). No allocation, no state.
 */
#ifndef SLUICE_ADDRESS_H
#define SLUICE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRESS_LOCAL_MAX 64
#define ADDRESS_DOMAIN_MAX 255
#define ADDRESS_MAX 256		/* whole "local@domain", without brackets */

struct address {
	bool is_null;			/* "<>": the bounce sender */
	bool domain_is_literal;		/* "[...]" */
	char local[ADDRESS_LOCAL_MAX + 1];
	char domain[ADDRESS_DOMAIN_MAX + 1];	/* lowercase; "" when no @ */
	char full[ADDRESS_MAX + 1];	/* "local@domain", "" for null */
};

int address_parse(const char *text, struct address *out, const char **why);

/* Lowercases the whole canonical form into buf (size >= ADDRESS_MAX+1). */
void address_lower(const struct address *addr, char *buf, size_t size);

/* Bare postmaster-style addresses without @ are valid (RFC 5321 allows
 * "<postmaster>"); they have an empty domain. */

#endif
