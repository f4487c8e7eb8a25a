/*
 * explain.h - what sluice-ctl explain collects: one finding per check
 * (policyd) or module (milter) and stage, printed by explain.c.
 *
 * Interface:
 *   struct explain_input   the message to explain, from the command line.
 *   struct explain_report  the findings, in the order the daemons ask.
 *   explain_policyd()      runs every policyd check (policyd/checks.c's
 *                          registry) on the requests Postfix would send
 *                          for the message, read-only (explain_policyd.c).
 *   explain_milter()       runs every milter module (milter/modules.c's
 *                          registry) on the message, read-only
 *                          (explain_milter.c).
 *   explain_add()          one finding; explain_addf() appends to its reason.
 *
 * Contract: neither function changes Redis (Redis scripts go through
 * redis_ro.h, plain Redis commands the checks make are none) nor sends
 * mail; they may ask DNS (SPF, DNSBL, reverse DNS), as the daemons would.
 * A finding's verdict is the check's own (its log value: "greylist=new");
 * final says the daemon would answer with action there; reached is false
 * for a check after the one that decided (the daemon would not ask it).
 */
#ifndef SLUICE_CTL_EXPLAIN_H
#define SLUICE_CTL_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"
#include "config.h"
#include "lists.h"
#include "redis.h"

#define EXPLAIN_RCPT_MAX 32
#define EXPLAIN_FINDINGS_MAX 256

struct explain_input {
	const char *client;		/* IP address */
	const char *helo;		/* "" if none given */
	const char *from;		/* "" for <> */
	const char *to[EXPLAIN_RCPT_MAX];
	int nto;
	const char *sasl;		/* NULL: not authenticated */
	char client_name[256];		/* Postfix's verified name or "unknown" */
	char reverse_name[256];		/* the PTR name or "unknown" */
	const char *name_source;	/* "--client-name" or "reverse DNS" */
};

struct explain_finding {
	const char *daemon;		/* "policyd", "milter" */
	char stage[40];			/* "RCPT to=b@x", "END-OF-MESSAGE", "eom" */
	const char *check;		/* the check's or module's name */
	char verdict[64];		/* "greylist=new", "off", "no opinion" */
	char action[512];		/* the daemon's answer when final, else "" */
	char reason[2048];		/* details: the check's log fields, keys, writes */
	bool final;
	bool reached;
};

struct explain_report {
	struct explain_finding f[EXPLAIN_FINDINGS_MAX];
	int count;
	char policyd_answer[EXPLAIN_RCPT_MAX][512];	/* per recipient, at RCPT */
	char milter_answer[512];
};

struct explain_env {
	const struct sluice_config *cfg;
	struct redis_client *redis;
	const struct lists *lists;
};

struct explain_finding *explain_add(struct explain_report *rep, const char *daemon,
				    const char *stage, const char *check);
void explain_addf(struct explain_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int explain_policyd(const struct explain_env *env, const struct explain_input *in,
		    struct explain_report *rep, char *err, size_t errsize);
int explain_milter(const struct explain_env *env, const struct explain_input *in,
		   struct explain_report *rep, char *err, size_t errsize);

#endif
