/*
 * dkim_parse.h - the two things the signer reads out of header fields:
 * the domain of the From: author, which picks the keys, and the d= and
 * s= tags of DKIM-Signature fields already in the message, which tell
 * whether we signed it before. Pure and bounded: values of any length
 * and content give an answer or an error, never more than the output
 * buffer.
 *
 * Interface:
 *   dkim_from_mailbox() the one mailbox of a From: value (RFC 5322
 *                       3.6.2): "a@x.test", "Name <a@x.test>", with
 *                       comments and quoted strings; the local part
 *                       unquoted, the domain lowercase and ASCII (a UTF-8
 *                       domain is given as its A-label, libidn2). -1 with a reason
 *                       when there is no address, several, no valid
 *                       domain, or anything another parser could read
 *                       as a different author (the rules: dkim_parse.c).
 *   dkim_from_domain()  the same, the domain only.
 *   dkim_sig_identity() d= and s= of a DKIM-Signature value (tag-list,
 *                       RFC 6376 3.2; whitespace inside values removed).
 */
#ifndef SLUICE_DKIM_PARSE_H
#define SLUICE_DKIM_PARSE_H

#include <stddef.h>

#define DKIM_DOMAIN_MAX 255
#define DKIM_LOCAL_MAX 255

int dkim_from_mailbox(const char *value, char *local, size_t lsize, char *domain,
		      size_t dsize, const char **why);
int dkim_from_domain(const char *value, char *domain, size_t size, const char **why);
int dkim_sig_identity(const char *value, char *d, size_t dsize, char *s, size_t ssize);

#endif
