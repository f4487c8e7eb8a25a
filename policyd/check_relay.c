/*
 * check_relay.c - the relaying list (policyd.relay), at RCPT.
 *
 * The first entry that applies (common/access.h: relay_match()) decides:
 *   REJECT  "554 5.7.1": the message is refused.
 *   OK      accepted for local delivery only: a recipient in one of our
 *           domains (local_domains, relay_domains) passes, any other is
 *           refused with "554 5.7.1" (it would be forwarded).
 *   RELAY   the message goes on through the chain and Postfix's own
 *           restrictions decide as they would without us.
 * No entry: no opinion.
 *
 * Why no configuration of this list can make an open relay: sluice never
 * answers OK or PERMIT (an OK from a policy service ends Postfix's
 * restriction list with "permit"). RELAY answers DUNNO, which cannot
 * widen anything, and the service is asked from smtpd_recipient_
 * restrictions, after smtpd_relay_restrictions' reject_unauth_destination
 * (README, contrib/main.cf.sluice): a recipient outside relay_domains
 * from a client that is neither in mynetworks nor SASL-authenticated is
 * refused by Postfix before this check ever sees it. This list can only
 * narrow what Postfix allows (REJECT, OK); what may relay is what
 * Postfix's permit_mynetworks / permit_sasl_authenticated and its
 * relay_domains allow, and t_access_relay.sh's open-relay matrix checks
 * it for every entry kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "check.h"

static int
relay_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	const struct relay_conf **holder;

	*state = NULL;
	if (cfg->policyd.access.relay.count == 0)
		return 0;
	if ((holder = malloc(sizeof(*holder))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	*holder = &cfg->policyd.access.relay;	/* the config outlives its chain */
	*state = holder;
	return 0;
}

static const char *
domain_of(const char *address)
{
	const char *at = address ? strrchr(address, '@') : NULL;

	return at && at[1] ? at + 1 : NULL;
}

static bool
is_ours(const struct sluice_config *cfg, const char *domain)
{
	size_t i;

	if (domain == NULL)
		return false;
	for (i = 0; i < cfg->local_domains.count; i++)
		if (strcasecmp(cfg->local_domains.items[i], domain) == 0)
			return true;
	for (i = 0; i < cfg->relay_domains.count; i++)
		if (strcasecmp(cfg->relay_domains.items[i], domain) == 0)
			return true;
	return false;
}

static enum check_result
relay_decide(void *state, const struct policy_context *ctx,
	     const struct policy_request *req, struct policy_reply *reply)
{
	const struct relay_conf *conf = *(const struct relay_conf **)state;
	const struct relay_entry *e;
	struct relay_subject s = { 0 };
	struct net_addr client;
	char entry[16];
	int i;

	if (req->protocol_state == NULL || strcasecmp(req->protocol_state, "RCPT") != 0
	    || req->recipient == NULL)
		return CHECK_CONTINUE;
	if (req->client_address && net_addr_parse(req->client_address, &client) == 0)
		s.client = &client;
	if (req->client_name && strcmp(req->client_name, "unknown") != 0)
		s.client_name = req->client_name;	/* Postfix verified it */
	s.sender_domain = domain_of(req->sender);
	s.recipient_domain = domain_of(req->recipient);
	if ((i = relay_match(conf, &s)) < 0)
		return CHECK_CONTINUE;
	e = &conf->entries[i];
	snprintf(entry, sizeof(entry), "%d", i + 1);
	logline_add(&reply->details, "relay_entry", entry);
	logline_add(&reply->details, "relay", relay_action_name(e->action));
	if (e->action == RELAY_ACTION_RELAY
	    || (e->action == RELAY_ACTION_OK && is_ours(ctx->cfg, s.recipient_domain)))
		return CHECK_CONTINUE;
	reply->verdict_key = "relay";
	snprintf(reply->verdict, sizeof(reply->verdict), "%s",
		 e->action == RELAY_ACTION_REJECT ? "reject" : "ok-local-only");
	snprintf(reply->action, sizeof(reply->action), "554 5.7.1 %s",
		 e->action == RELAY_ACTION_REJECT ? "Rejected by the relaying list"
		 : "Relay access denied: accepted for local delivery only");
	return CHECK_FINAL;
}

static void
relay_close(void *state)
{
	free(state);	/* the holder; the entries are the config's */
}

const struct policy_check check_relay = {
	.name = "relay",
	.open = relay_open,
	.decide = relay_decide,
	.close = relay_close,
};
