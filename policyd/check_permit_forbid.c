/*
 * check_permit_forbid.c - sluice:permit:* and sluice:forbid:*, first in
 * the chain.
 *
 * The decision is access_decide() (common/access.h, shared with the
 * milter): IP, then mailbox, then domain; permitted wins at one level.
 * Forbidden: "550 5.7.1" at whatever stage Postfix asks first that knows
 * the subject (the IP from CONNECT on, the sender from MAIL on; with
 * Postfix's default smtpd_delay_reject that is RCPT anyway). Permitted:
 * reply->permitted is set and the chain goes on, so the later checks
 * skip their spam checks (greylisting, reverse DNS, DNSBL, inbound rate
 * limits) but not the relaying list nor sender/login matching, which
 * are not about spam. The lists come from the shared snapshot
 * (ctx->lists): no Redis call per request. Always on: empty lists match
 * nothing, at the cost of three binary searches.
 */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "check.h"

static int always_on;	/* the check has no state; non-NULL means on */

static int
permit_forbid_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	*state = &always_on;
	return 0;
}

static enum check_result
permit_forbid_decide(void *state, const struct policy_context *ctx,
		     const struct policy_request *req, struct policy_reply *reply)
{
	struct net_addr client;
	const struct net_addr *ip = NULL;
	struct access_decision d;

	(void)state;
	if (req->client_address && net_addr_parse(req->client_address, &client) == 0)
		ip = &client;
	d = access_decide(ctx->lists, ip, req->sender);
	if (d.verdict == ACCESS_NONE)
		return CHECK_CONTINUE;
	if (d.verdict == ACCESS_PERMIT) {
		reply->permitted = true;
		logline_add(&reply->details, "access", access_name(d));
		return CHECK_CONTINUE;
	}
	reply->verdict_key = "access";
	snprintf(reply->verdict, sizeof(reply->verdict), "%s", access_name(d));
	snprintf(reply->action, sizeof(reply->action), "550 5.7.1 %s",
		 d.level == ACCESS_LEVEL_IP ? "Client host rejected: access denied"
		 : "Sender address rejected: access denied");
	return CHECK_FINAL;
}

static void
permit_forbid_close(void *state)
{
	(void)state;
}

const struct policy_check check_permit_forbid = {
	.name = "permit_forbid",
	.open = permit_forbid_open,
	.decide = permit_forbid_decide,
	.close = permit_forbid_close,
};
