/*
 * check_reverse_dns.c - policyd.require_reverse_dns.
 *
 * Postfix looks the client up itself and tells us in every request:
 * reverse_client_name is the PTR name ("unknown" when there is none) and
 * client_name is that name only when its forward lookup gives the client
 * address back ("unknown" otherwise). So:
 *   reverse_client_name unknown              -> reason=no-ptr
 *   client_name unknown, reverse name known  -> reason=ptr-mismatch
 * and no DNS query of ours is needed: nothing here can block.
 * The reply is "450 4.7.25" (a DNS hiccup at the client's side heals on
 * retry) or "550 5.7.25" with reverse_dns_code = 550 (RFC 7372). Note
 * that Postfix reports a temporary lookup failure as "unknown" too, so
 * 550 also refuses those for good; that is why 450 is the default.
 * Exempt: SASL-authenticated clients, trusted_networks and permitted
 * clients or senders (reply->permitted). A request without the
 * attributes (a Postfix older than 2.9, a hand-made request) is not
 * judged. Decided at the first stage Postfix asks that has them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int
reverse_dns_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	const struct access_conf **holder;

	*state = NULL;
	if (!cfg->policyd.require_reverse_dns)
		return 0;
	if ((holder = malloc(sizeof(*holder))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	*holder = &cfg->policyd.access;	/* the config outlives its chain */
	*state = holder;
	return 0;
}

static bool
unknown(const char *name)
{
	return strcmp(name, "unknown") == 0 || *name == '\0';
}

static enum check_result
reverse_dns_decide(void *state, const struct policy_context *ctx,
		   const struct policy_request *req, struct policy_reply *reply)
{
	const struct access_conf *conf = *(const struct access_conf **)state;
	struct net_addr client;
	const char *reason;

	if (req->client_address == NULL || req->client_name == NULL
	    || req->reverse_client_name == NULL)
		return CHECK_CONTINUE;
	if (reply->permitted || (req->sasl_username && *req->sasl_username))
		return CHECK_CONTINUE;
	if (net_addr_parse(req->client_address, &client) == 0
	    && net_list_contains(&ctx->cfg->trusted_networks, &client))
		return CHECK_CONTINUE;
	if (unknown(req->reverse_client_name))
		reason = "no-ptr";
	else if (unknown(req->client_name))
		reason = "ptr-mismatch";
	else
		return CHECK_CONTINUE;
	reply->verdict_key = "reverse_dns";
	snprintf(reply->verdict, sizeof(reply->verdict), "%s",
		 conf->reverse_dns_code == 550 ? "reject" : "defer");
	logline_add(&reply->details, "reason", reason);
	snprintf(reply->action, sizeof(reply->action), "%s Client host rejected: %s",
		 conf->reverse_dns_code == 550 ? "550 5.7.25" : "450 4.7.25",
		 strcmp(reason, "no-ptr") == 0 ? "no reverse DNS name for your address"
		 : "your reverse DNS name does not resolve back to your address");
	return CHECK_FINAL;
}

static void
reverse_dns_close(void *state)
{
	free(state);	/* the holder */
}

const struct policy_check check_reverse_dns = {
	.name = "reverse_dns",
	.open = reverse_dns_open,
	.decide = reverse_dns_decide,
	.close = reverse_dns_close,
};
