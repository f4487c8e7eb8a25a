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

struct access_decision
access_decide(const struct lists *lists, const struct net_addr *ip, const char *sender)
{
	struct access_decision d = { ACCESS_NONE, ACCESS_LEVEL_NONE };
	const char *at = sender ? strrchr(sender, '@') : NULL;

	if (lists == NULL)
		return d;
	if (ip) {
		d.verdict = level_verdict(pattern_match_ip(lists_get(lists, LIST_PERMIT_IP), ip),
					  pattern_match_ip(lists_get(lists, LIST_FORBID_IP), ip));
		if (d.verdict != ACCESS_NONE) {
			d.level = ACCESS_LEVEL_IP;
			return d;
		}
	}
	if (sender && *sender) {
		/* The mailbox lists hold addresses and /regex/; a bare domain
		 * there is an admin's slip that still means that domain. */
		d.verdict = level_verdict(
			pattern_match_address(lists_get(lists, LIST_PERMIT_MAILBOX), sender),
			pattern_match_address(lists_get(lists, LIST_FORBID_MAILBOX), sender));
		if (d.verdict != ACCESS_NONE) {
			d.level = ACCESS_LEVEL_MAILBOX;
			return d;
		}
	}
	if (at && at[1]) {
		d.verdict = level_verdict(
			pattern_match_domain(lists_get(lists, LIST_PERMIT_DOMAIN), at + 1, false),
			pattern_match_domain(lists_get(lists, LIST_FORBID_DOMAIN), at + 1, false));
		if (d.verdict != ACCESS_NONE)
			d.level = ACCESS_LEVEL_DOMAIN;
	}
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

const char *
relay_option_name(enum relay_option o)
{
	switch (o) {
	case RELAY_OPTION_FROM:
		return "from";
	case RELAY_OPTION_TO:
		return "to";
	case RELAY_OPTION_CONNECT:
		return "connect";
	case RELAY_OPTION_NONE:
		break;
	}
	return "none";
}
