/*
 * access.h - the permitted/forbidden decision (sluice:permit:*,
 * sluice:forbid:*) and the relaying list's matching, as pure functions
 * over a lists snapshot and a config, shared by sluice-policyd
 * (check_permit_forbid.c, check_relay.c) and sluice-milter.
 *
 * Interface:
 *   access_decide()   the verdict for a client IP and an envelope sender,
 *                     with the level that decided it; access_decide_sets()
 *                     the same over the six sets (access_sets_of()).
 *   access_name()     "forbid-ip", "permit-domain", ... for the log
 *                     (access=forbid-ip), "none" when nothing matched.
 *   relay_match()     the first relaying-list entry that applies to a
 *                     message (client, sender, recipient), or -1.
 *   relay_domain_matches()  one entry's domain against a domain, with
 *                     exact_domain on or off.
 *
 * Contract (SPEC.md, from the SafeUTM manual): IP first, then mailbox,
 * then domain, and at one level permitted wins over forbidden. A
 * forbidden IP blocks mail from a permitted domain; a permitted mailbox
 * passes although its domain is forbidden; a forbidden mailbox is blocked
 * although its domain is permitted; and a permitted IP only exempts from
 * spam checks: it does not lift a forbidden mailbox or domain (the
 * manual's "IP permitted, domain forbidden: blocked, just at a later
 * stage"). sluice-milter's rules (milter/rules.c) decide the same: both
 * unit tests run the manual's four examples. Any argument may be NULL (unknown yet: at CONNECT there is no
 * sender), and then its levels do not match; the answer is still right at
 * that stage because the IP level outranks the others. No allocation, no
 * state: safe from any thread on a held snapshot.
 *
 * Relaying list: entries are tried in the order of the config, the first
 * that applies wins. An IP/CIDR entry matches the client address; a
 * name entry matches, by option: "from" the sender's domain, "to" the
 * recipient's domain, "connect" the client's verified host name (Postfix's
 * client_name, never the unverified reverse name), "none" any of the three.
 * With exact_domain off a name also matches its subdomains
 * (anyideas.de matches support.anyideas.de); on, only itself.
 */
#ifndef SLUICE_ACCESS_H
#define SLUICE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lists.h"
#include "network.h"

enum access_verdict { ACCESS_NONE, ACCESS_PERMIT, ACCESS_FORBID };
enum access_level { ACCESS_LEVEL_NONE, ACCESS_LEVEL_IP, ACCESS_LEVEL_MAILBOX,
		    ACCESS_LEVEL_DOMAIN };

struct access_decision {
	enum access_verdict verdict;
	enum access_level level;
};

/* The six permit/forbid sets of a snapshot (what access_decide() reads). */
struct access_sets {
	const struct pattern_list *permit_ip, *permit_mailbox, *permit_domain;
	const struct pattern_list *forbid_ip, *forbid_mailbox, *forbid_domain;
};

void access_sets_of(const struct lists *lists, struct access_sets *sets);
/* The same decision over sets (unit tests build them without Redis). */
struct access_decision access_decide_sets(const struct access_sets *sets,
					  const struct net_addr *ip, const char *sender);
/* sender: the envelope sender ("" or NULL: the null sender, unknown). */
struct access_decision access_decide(const struct lists *lists, const struct net_addr *ip,
				     const char *sender);
const char *access_name(struct access_decision d);

/* What relay_match() compares; NULL members are unknown and match nothing. */
struct relay_subject {
	const struct net_addr *client;
	const char *client_name;	/* verified host name, or NULL */
	const char *sender_domain;
	const char *recipient_domain;
};

bool relay_domain_matches(const char *entry, const char *domain, bool exact_domain);
/* Index into conf->entries, or -1 when no entry applies. */
int relay_match(const struct relay_conf *conf, const struct relay_subject *s);
const char *relay_action_name(enum relay_action a);

#endif
