/*
 * rcpt_ldap.h - recipient validation by directory lookup (libldap), the
 * Securepoint manual's Active Directory case.
 *
 * Interface:
 *   ldap_filter_escape()  RFC 4515 escaping of a value for a filter:
 *                         '*', '(', ')', '\\' and NUL become \2a \28 \29
 *                         \5c \00 (bytes >= 0x80 too, as \XX); -1 if it
 *                         does not fit in size.
 *   ldap_filter_build()   the config's filter with every %s replaced by the
 *                         escaped address; -1 if it does not fit.
 *   rcpt_ldap_lookup()    simple bind (anonymous without a bind DN), one
 *                         subtree search under base for entries matching the
 *                         filter (no attributes, at most 2): one or more is
 *                         RCPT_VALID, none RCPT_UNKNOWN; any directory error
 *                         or timeout RCPT_TEMPFAIL.
 *
 * Contract: runs in a job-pool thread; connect, bind and search are
 * bounded by deadline (LDAP_OPT_NETWORK_TIMEOUT, LDAP_OPT_TIMEOUT and the
 * search's own time limit); bound connections are kept per URI through
 * rcpt_backend.h and dropped on any error.
 */
#ifndef SLUICE_POLICY_RCPT_LDAP_H
#define SLUICE_POLICY_RCPT_LDAP_H

#include <stddef.h>
#include <time.h>

#include "rcpt_backend.h"

int ldap_filter_escape(const char *value, char *out, size_t size);
int ldap_filter_build(const char *filter, const char *address, char *out, size_t size);

struct rcpt_ldap_query {
	const char *uri, *bind_dn, *password, *base, *filter;
	int concurrency;
	long idle_ms;
};

enum rcpt_answer rcpt_ldap_lookup(const struct rcpt_ldap_query *q, const char *address,
				  const struct timespec *deadline, char *why, size_t whysize);

#endif
