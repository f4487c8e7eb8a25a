/*
 * access.c - permitted/forbidden priority and relaying-list matching
 * (see access.h for the contract and why it is one pure module: both
 * daemons must decide alike).
 */
#include <string.h>
#include <strings.h>

#include "access.h"
#include "patterns.h"

/* One level: permitted wins over forbidden. */
static enum access_verdict
level_verdict(bool permitted, bool forbidden)
{
	return permitted ? ACCESS_PERMIT : forbidden ? ACCESS_FORBID : ACCESS_NONE;
}

void
access_sets_of(const struct lists *lists, struct access_sets *sets)
{
	sets->permit_ip = lists_get(lists, LIST_PERMIT_IP);
	sets->permit_mailbox = lists_get(lists, LIST_PERMIT_MAILBOX);
	sets->permit_domain = lists_get(lists, LIST_PERMIT_DOMAIN);
	sets->forbid_ip = lists_get(lists, LIST_FORBID_IP);
	sets->forbid_mailbox = lists_get(lists, LIST_FORBID_MAILBOX);
	sets->forbid_domain = lists_get(lists, LIST_FORBID_DOMAIN);
}

struct access_decision
access_decide(const struct lists *lists, const struct net_addr *ip, const char *sender)
{
	struct access_sets sets;

	if (lists == NULL)
		return (struct access_decision){ ACCESS_NONE, ACCESS_LEVEL_NONE };
	access_sets_of(lists, &sets);
	return access_decide_sets(&sets, ip, sender);
}

struct access_decision
access_decide_sets(const struct access_sets *sets, const struct net_addr *ip, const char *sender)
{
	struct access_decision d = { ACCESS_NONE, ACCESS_LEVEL_NONE }, own = d;
	const char *at = sender ? strrchr(sender, '@') : NULL;

	if (ip) {
		d.verdict = level_verdict(pattern_match_ip(sets->permit_ip, ip),
					  pattern_match_ip(sets->forbid_ip, ip));
		if (d.verdict != ACCESS_NONE)
			d.level = ACCESS_LEVEL_IP;
		if (d.verdict == ACCESS_FORBID)
			return d;
	}
	if (sender && *sender) {
		/* The mailbox lists hold addresses and /regex/; a bare domain
		 * there is an admin's slip that still means that domain. */
		own.verdict = level_verdict(
			pattern_match_address(sets->permit_mailbox, sender),
			pattern_match_address(sets->forbid_mailbox, sender));
		own.level = ACCESS_LEVEL_MAILBOX;
	}
	if (own.verdict == ACCESS_NONE && at && at[1]) {
		own.verdict = level_verdict(
			pattern_match_domain(sets->permit_domain, at + 1, false),
			pattern_match_domain(sets->forbid_domain, at + 1, false));
		own.level = ACCESS_LEVEL_DOMAIN;
	}
	if (own.verdict == ACCESS_NONE)
		own.level = ACCESS_LEVEL_NONE;
	/* A permitted IP exempts from spam checks; it does not lift a
	 * forbidden sender (the manual: "blocked, just at a later stage"). */
	if (own.verdict == ACCESS_FORBID || d.verdict == ACCESS_NONE)
		return own;
	return d;
}

const char *
access_name(struct access_decision d)
{
	static const char *const names[3][4] = {
		{ "none", "none", "none", "none" },
		{ "none", "permit-ip", "permit-mailbox", "permit-domain" },
		{ "none", "forbid-ip", "forbid-mailbox", "forbid-domain" },
	};

	if ((unsigned)d.verdict > ACCESS_FORBID || (unsigned)d.level > ACCESS_LEVEL_DOMAIN)
		return "none";
	return names[d.verdict][d.level];
}

bool
relay_domain_matches(const char *entry, const char *domain, bool exact_domain)
{
	size_t n, m;

	if (entry == NULL || domain == NULL || *entry == '\0' || *domain == '\0')
		return false;
	if (strcasecmp(entry, domain) == 0)
		return true;
	if (exact_domain)
		return false;
	n = strlen(entry);
	m = strlen(domain);
	/* a subdomain: "support.anyideas.de" ends in ".anyideas.de" */
	return m > n + 1 && domain[m - n - 1] == '.' && strcasecmp(domain + m - n, entry) == 0;
}

static bool
entry_applies(const struct relay_entry *e, bool exact, const struct relay_subject *s)
{
	bool from, to, connect;

	if (e->is_network)
		return s->client && net_cidr_contains(&e->network, s->client);
	from = relay_domain_matches(e->match, s->sender_domain, exact);
	to = relay_domain_matches(e->match, s->recipient_domain, exact);
	connect = relay_domain_matches(e->match, s->client_name, exact);
	switch (e->option) {
	case RELAY_OPTION_FROM:
		return from;
	case RELAY_OPTION_TO:
		return to;
	case RELAY_OPTION_CONNECT:
		return connect;
	case RELAY_OPTION_NONE:
		return from || to || connect;
	}
	return false;
}

int
relay_match(const struct relay_conf *conf, const struct relay_subject *s)
{
	size_t i;

	for (i = 0; conf && i < conf->count; i++)
		if (entry_applies(&conf->entries[i], conf->exact_domain, s))
			return (int)i;
	return -1;
}

const char *
relay_action_name(enum relay_action a)
{
	return a == RELAY_ACTION_RELAY ? "relay" : a == RELAY_ACTION_REJECT ? "reject" : "ok";
}
