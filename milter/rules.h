/*
 * rules.h - permitted and forbidden addresses, internal addresses: the
 * SafeUTM "Rules" of the admin's Redis lists, applied by sluice-milter.
 *
 * Interface:
 *   rules_sets_of()   the six permit/forbid sets of a list snapshot.
 *   rules_ip()        the verdict of the client address alone.
 *   rules_sender()    the verdict of client address and envelope sender
 *                     together (MAIL FROM): the message's verdict.
 *   rules_verdict_name()  "forbid-ip", "permit-mailbox", ... for the log.
 *   rules_module      the milter module (modules.c registers it).
 *
 * Contract (the priority of the SafeUTM manual, SPEC.md): IP first, then
 * mailbox, then domain; at one level a permitted entry wins over a
 * forbidden one. A forbidden IP is refused whatever the sender. A
 * permitted IP only exempts from spam checks: it does not lift a
 * forbidden mailbox or domain (the manual's "IP permitted, domain
 * forbidden: blocked, just at a later stage"). A permitted mailbox passes
 * even when its domain is forbidden; a forbidden mailbox is blocked even
 * when its domain is permitted. Domains match exactly (as policyd's
 * greylisting exemptions do), mailboxes exactly, by /regex/ (anchored,
 * caseless: patterns.h) or by a bare domain written in the mailbox list.
 * The null sender <> has no mailbox nor domain: only the IP rules apply.
 * The functions are pure: a verdict depends only on the sets and the
 * subjects, so unit tests drive them without Redis or libmilter.
 *
 * The module refuses forbidden subjects with 550 5.7.1 at MAIL FROM (the
 * IP too: a reject at connect reaches the client as Postfix's own 554,
 * see rules.c and the README), refuses a recipient in sluice:internal from outside
 * (neither trusted network nor SASL-authenticated) with 550 5.7.1 at RCPT,
 * and sets struct milter_msg.permitted for a permitted message. With no
 * list snapshot ever loaded (Redis down since start) milter.fail_open
 * decides: true accepts without the rules (a warning at most once a
 * minute), false answers 451 4.3.0 at MAIL FROM.
 */
#ifndef SLUICE_MILTER_RULES_H
#define SLUICE_MILTER_RULES_H

#include "lists.h"
#include "module.h"
#include "network.h"
#include "patterns.h"

enum rules_verdict {
	RULES_NONE,		/* no entry matched */
	RULES_PERMIT_IP,
	RULES_PERMIT_MAILBOX,
	RULES_PERMIT_DOMAIN,
	RULES_FORBID_IP,
	RULES_FORBID_MAILBOX,
	RULES_FORBID_DOMAIN,
};

struct rules_sets {
	const struct pattern_list *permit_ip, *permit_mailbox, *permit_domain;
	const struct pattern_list *forbid_ip, *forbid_mailbox, *forbid_domain;
};

void rules_sets_of(const struct lists *lists, struct rules_sets *sets);
/* client may be NULL (unknown address): no IP rule then. */
enum rules_verdict rules_ip(const struct rules_sets *sets, const struct net_addr *client);
/* sender: "local@domain", or "" for <>. */
enum rules_verdict rules_sender(const struct rules_sets *sets, const struct net_addr *client,
				const char *sender);
bool rules_forbidden(enum rules_verdict v);
const char *rules_verdict_name(enum rules_verdict v);

extern const struct milter_module rules_module;

#endif
