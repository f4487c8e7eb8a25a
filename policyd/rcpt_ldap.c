/*
 * rcpt_ldap.c - directory lookups for recipient validation (see
 * rcpt_ldap.h).
 *
 * libldap's synchronous calls are used on purpose: they run in a job-pool
 * thread (job_pool.h), never in an event loop, each bounded by the time
 * left of the job. A handle is bound once and reused while it works; the
 * bind DN and password are the config's, so a handle kept across a reload
 * that changed them is keyed apart (the backend key holds the bind DN).
 */
#include <ldap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "job_pool.h"
#include "rcpt_ldap.h"

int
ldap_filter_escape(const char *value, char *out, size_t size)
{
	size_t n = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p; p++) {
		bool plain = *p >= 0x20 && *p < 0x7f && *p != '*' && *p != '(' && *p != ')'
			     && *p != '\\';

		if (n + (plain ? 1 : 3) >= size)
			return -1;
		if (plain)
			out[n++] = (char)*p;
		else
			n += (size_t)snprintf(out + n, size - n, "\\%02x", *p);
	}
	out[n] = '\0';
	return 0;
}

int
ldap_filter_build(const char *filter, const char *address, char *out, size_t size)
{
	char escaped[3 * 256 + 1];
	size_t n = 0, elen;
	const char *p;

	if (ldap_filter_escape(address, escaped, sizeof(escaped)) < 0)
		return -1;
	elen = strlen(escaped);
	for (p = filter; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			if (n + elen >= size)
				return -1;
			memcpy(out + n, escaped, elen);
			n += elen;
			p++;
		} else {
			if (n + 1 >= size)
				return -1;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return 0;
}

static void
close_handle(void *handle)
{
	ldap_unbind_ext_s(handle, NULL, NULL);
}

static struct timeval
time_left(const struct timespec *deadline)
{
	long ms = job_ms_until(deadline);
	struct timeval tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static LDAP *
open_handle(const struct rcpt_ldap_query *q, const struct timespec *deadline,
	    char *why, size_t whysize)
{
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, rc;
	struct timeval tv = time_left(deadline);
	struct berval cred = { 0, NULL };

	if ((rc = ldap_initialize(&ld, q->uri)) != LDAP_SUCCESS) {
		snprintf(why, whysize, "ldap_initialize: %s", ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (q->password) {
		cred.bv_val = (char *)(uintptr_t)q->password;
		cred.bv_len = strlen(q->password);
	}
	rc = ldap_sasl_bind_s(ld, q->bind_dn ? q->bind_dn : "", LDAP_SASL_SIMPLE, &cred,
			      NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		snprintf(why, whysize, "bind: %s", ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
}

/* 1 found, 0 not found, -1 directory error (why says it). */
static int
search(LDAP *ld, const struct rcpt_ldap_query *q, const char *filter,
       const struct timespec *deadline, char *why, size_t whysize)
{
	char *attrs[] = { (char *)(uintptr_t)LDAP_NO_ATTRS, NULL };
	struct timeval tv = time_left(deadline);
	LDAPMessage *res = NULL;
	int rc, found;

	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	rc = ldap_search_ext_s(ld, q->base, LDAP_SCOPE_SUBTREE, filter, attrs, 1, NULL, NULL,
			       &tv, 2, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		snprintf(why, whysize, "search: %s", ldap_err2string(rc));
		ldap_msgfree(res);
		return -1;
	}
	found = res && ldap_count_entries(ld, res) > 0;
	ldap_msgfree(res);
	return found;
}

enum rcpt_answer
rcpt_ldap_lookup(const struct rcpt_ldap_query *q, const char *address,
		 const struct timespec *deadline, char *why, size_t whysize)
{
	char filter[2048], key[1024];
	const char *busy = NULL;
	struct backend *b;
	LDAP *ld;
	bool reused;
	int found;

	if (ldap_filter_build(q->filter, address, filter, sizeof(filter)) < 0) {
		snprintf(why, whysize, "filter too long for this address");
		return RCPT_TEMPFAIL;
	}
	snprintf(key, sizeof(key), "ldap:%s|%s", q->uri, q->bind_dn ? q->bind_dn : "");
	if ((b = backend_get(key, close_handle)) == NULL) {
		snprintf(why, whysize, "out of memory");
		return RCPT_TEMPFAIL;
	}
	if (backend_enter(b, q->concurrency, deadline, &busy) < 0) {
		snprintf(why, whysize, "%s: %s", q->uri, busy);
		return RCPT_TEMPFAIL;
	}
	ld = backend_take_idle(b, q->idle_ms);
	reused = ld != NULL;
	for (;;) {
		if (ld == NULL && (ld = open_handle(q, deadline, why, whysize)) == NULL) {
			backend_leave(b, NULL, true);
			return RCPT_TEMPFAIL;
		}
		found = search(ld, q, filter, deadline, why, whysize);
		if (found < 0 && reused && job_ms_until(deadline) > 0) {
			close_handle(ld);	/* the directory dropped it meanwhile */
			ld = NULL;
			reused = false;
			continue;
		}
		break;
	}
	if (found < 0) {
		close_handle(ld);
		backend_leave(b, NULL, true);
		return RCPT_TEMPFAIL;
	}
	backend_leave(b, ld, false);
	snprintf(why, whysize, "%s", found ? "found" : "not-found");
	return found ? RCPT_VALID : RCPT_UNKNOWN;
}
