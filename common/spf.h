/*
 * spf.h - SPF (RFC 7208) results for a client IP and an envelope sender,
 * on libspf2.
 *
 * Interface:
 *   spf_checker_new()  one libspf2 server with its DNS cache; one per
 *                      thread (libspf2's server is not shared safely).
 *   spf_checker_new_dns()  the same on a libspf2 DNS layer the caller
 *                      made (the milter's, on its own resolver with a
 *                      time budget: milter/spf_dns.h); the layer must
 *                      outlive the checker and is not freed by it.
 *   spf_check()        the result for (client IP, HELO name, sender); the
 *                      null sender is checked as postmaster@HELO, as RFC
 *                      7208 section 2.4 asks.
 *
 *   spf_too_broad()    after a pass: whether the record also authorizes a
 *                      canary address outside the client's /16 (IPv4) or
 *                      /32 (IPv6) network, as "+all" or "ip4:0.0.0.0/1"
 *                      do. Such a pass says nothing about the sender:
 *                      anyone can have it (see the README, greylisting).
 *   spf_authorized_domain()  the domain an SPF result speaks for: the
 *                      envelope sender's domain as given (not decoded from
 *                      SRS or BATV), or the HELO name for the null sender.
 *
 * Contract: spf_check() blocks on DNS (libspf2 resolves synchronously
 * through the system resolver); callers run it where a slow answer stalls
 * only their own thread. Any failure inside is SPF_TEMPERROR, never a pass.
 */
#ifndef SLUICE_SPF_H
#define SLUICE_SPF_H

#include <stdbool.h>
#include <stddef.h>

enum spf_result {
	SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
	SPF_TEMPERROR, SPF_PERMERROR
};

struct spf_checker;

/* What an SPF evaluation found (for the policy checks). */
struct spf_answer {
	enum spf_result result;
	bool too_broad;		/* a pass that authorizes too much: spf_too_broad() */
	bool timed_out;		/* no answer within the time budget: TEMPERROR */
};

#define SPF_BROAD_V4_PREFIX 16
#define SPF_BROAD_V6_PREFIX 32

struct SPF_dns_server_struct;	/* libspf2's SPF_dns_server_t */

struct spf_checker *spf_checker_new(void);
struct spf_checker *spf_checker_new_dns(struct SPF_dns_server_struct *dns);
void spf_checker_free(struct spf_checker *checker);
enum spf_result spf_check(struct spf_checker *checker, const char *client_ip,
			  const char *helo, const char *sender);
bool spf_too_broad(struct spf_checker *checker, const char *client_ip, const char *helo,
		   const char *sender);
/* Writes the lowercased domain into out; -1 when there is none. */
int spf_authorized_domain(const char *helo, const char *sender, char *out, size_t size);
/* The canary address of spf_too_broad(), for tests: -1 if ip is not an IP. */
int spf_canary_address(const char *client_ip, char *out, size_t size);
const char *spf_result_name(enum spf_result result);

#endif
