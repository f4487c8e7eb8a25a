/*
 * spf.h - SPF (RFC 7208) results for a client IP and an envelope sender,
 * on libspf2.
 *
 * Interface:
 *   spf_checker_new()  one libspf2 server with its DNS cache; one per
 *                      thread (libspf2's server is not shared safely).
 *   spf_check()        the result for (client IP, HELO name, sender); the
 *                      null sender is checked as postmaster@HELO, as RFC
 *                      7208 section 2.4 asks.
 *
 * Contract: spf_check() blocks on DNS (libspf2 resolves synchronously
 * through the system resolver); callers run it where a slow answer stalls
 * only their own thread. Any failure inside is SPF_TEMPERROR, never a pass.
 */
#ifndef SLUICE_SPF_H
#define SLUICE_SPF_H

enum spf_result {
	SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
	SPF_TEMPERROR, SPF_PERMERROR
};

struct spf_checker;

struct spf_checker *spf_checker_new(void);
void spf_checker_free(struct spf_checker *checker);
enum spf_result spf_check(struct spf_checker *checker, const char *client_ip,
			  const char *helo, const char *sender);
const char *spf_result_name(enum spf_result result);

#endif
