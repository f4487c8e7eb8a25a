/*
 * rules.c - permitted and forbidden addresses, internal addresses (the
 * interface and the contract are in rules.h).
 *
 * Why the milter and where: the rules are the admin's lists in Redis,
 * read from the process's list snapshot (never from Redis per message).
 * A forbidden IP is known at connect, but a milter's reject there is not
 * what the client sees: Postfix 3.7 ignores our reply and greets with
 * "554 <host> ESMTP not accepting connections" (t_rules.sh saw it), not
 * the spec's 550 5.7.1. So the IP is refused at MAIL FROM, with our
 * 550 5.7.1 reply, together with the sender rules (which need the sender
 * anyway); no message from a forbidden IP gets further than MAIL FROM.
 * Internal addresses are checked per recipient, so one internal recipient
 * of a message from outside costs only itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules.h"

struct rules_conf {
	bool fail_open;
};

struct rules_msg {
	enum rules_verdict verdict;
	bool unavailable;	/* no lists ever loaded: accepted without rules */
	unsigned internal_refused;
};

static _Atomic long unavailable_warned;	/* log_due() rate limit, shared */

void
rules_sets_of(const struct lists *lists, struct rules_sets *sets)
{
	sets->permit_ip = lists_get(lists, LIST_PERMIT_IP);
	sets->permit_mailbox = lists_get(lists, LIST_PERMIT_MAILBOX);
	sets->permit_domain = lists_get(lists, LIST_PERMIT_DOMAIN);
	sets->forbid_ip = lists_get(lists, LIST_FORBID_IP);
	sets->forbid_mailbox = lists_get(lists, LIST_FORBID_MAILBOX);
	sets->forbid_domain = lists_get(lists, LIST_FORBID_DOMAIN);
}

enum rules_verdict
rules_ip(const struct rules_sets *sets, const struct net_addr *client)
{
	if (client == NULL)
		return RULES_NONE;
	if (pattern_match_ip(sets->permit_ip, client))
		return RULES_PERMIT_IP;		/* permitted wins at one level */
	if (pattern_match_ip(sets->forbid_ip, client))
		return RULES_FORBID_IP;
	return RULES_NONE;
}

/* The sender's own verdict: mailbox level, then domain level. */
static enum rules_verdict
sender_only(const struct rules_sets *sets, const char *sender)
{
	const char *at;

	if (sender == NULL || *sender == '\0')
		return RULES_NONE;	/* <>: no mailbox, no domain */
	if (pattern_match_address(sets->permit_mailbox, sender))
		return RULES_PERMIT_MAILBOX;
	if (pattern_match_address(sets->forbid_mailbox, sender))
		return RULES_FORBID_MAILBOX;
	if ((at = strrchr(sender, '@')) == NULL || at[1] == '\0')
		return RULES_NONE;
	if (pattern_match_domain(sets->permit_domain, at + 1, false))
		return RULES_PERMIT_DOMAIN;
	if (pattern_match_domain(sets->forbid_domain, at + 1, false))
		return RULES_FORBID_DOMAIN;
	return RULES_NONE;
}

enum rules_verdict
rules_sender(const struct rules_sets *sets, const struct net_addr *client, const char *sender)
{
	enum rules_verdict ip = rules_ip(sets, client), own;

	if (ip == RULES_FORBID_IP)
		return ip;
	own = sender_only(sets, sender);
	if (rules_forbidden(own))
		return own;	/* a permitted IP does not lift it (rules.h) */
	return ip == RULES_PERMIT_IP ? ip : own;
}

bool
rules_forbidden(enum rules_verdict v)
{
	return v == RULES_FORBID_IP || v == RULES_FORBID_MAILBOX || v == RULES_FORBID_DOMAIN;
}

const char *
rules_verdict_name(enum rules_verdict v)
{
	switch (v) {
	case RULES_PERMIT_IP: return "permit-ip";
	case RULES_PERMIT_MAILBOX: return "permit-mailbox";
	case RULES_PERMIT_DOMAIN: return "permit-domain";
	case RULES_FORBID_IP: return "forbid-ip";
	case RULES_FORBID_MAILBOX: return "forbid-mailbox";
	case RULES_FORBID_DOMAIN: return "forbid-domain";
	case RULES_NONE: break;
	}
	return "none";
}

static int
rules_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct rules_conf *rc = calloc(1, sizeof(*rc));

	if (rc == NULL) {
		snprintf(err, errsize, "rules: out of memory");
		return -1;
	}
	rc->fail_open = cfg->milter.fail_open;
	*conf = rc;
	return 0;
}

static void
rules_close(void *conf)
{
	free(conf);
}

/* The reject line: a refused message never reaches eom's line. */
static void
log_refusal(const struct milter_call *call, const char *queue_id, const char *result,
	    const char *rules, const char *from, const char *rcpt)
{
	struct logline line;

	logline_start(&line, queue_id);
	logline_add(&line, "milter", result);
	logline_add(&line, "rules", rules);
	logline_add_client(&line, call->conn->client_name, call->conn->client_addr);
	if (from)
		logline_add_addr(&line, "from", from);
	if (rcpt)
		logline_add_addr(&line, "rcpt", rcpt);
	log_line(LOG_INFO, &line);
}

static sfsistat
refuse(SMFICTX *ctx, const char *text)
{
	/* A reply we cannot set would leave Postfix's own text: still 5xx. */
	(void)smfi_setreply(ctx, (char *)(uintptr_t)"550", (char *)(uintptr_t)"5.7.1",
			    (char *)(uintptr_t)text);
	return SMFIS_REJECT;
}

static bool
client_address(const struct milter_conn *conn, struct net_addr *addr)
{
	return conn->client_addr[0] != '\0' && net_addr_parse(conn->client_addr, addr) == 0;
}

static sfsistat
rules_envfrom(struct milter_call *call)
{
	const struct rules_conf *rc = call->conf;
	struct milter_msg *msg = call->conn->msg;
	struct rules_msg *st = calloc(1, sizeof(*st));
	struct rules_sets sets;
	struct net_addr addr;

	if (st == NULL)
		return SMFIS_TEMPFAIL;
	*call->state = st;
	if (!lists_loaded(msg->lists)) {
		if (!rc->fail_open) {
			log_refusal(call, msg->queue_id, "tempfail", "unavailable", msg->from, NULL);
			(void)smfi_setreply(call->ctx, (char *)(uintptr_t)"451",
					    (char *)(uintptr_t)"4.3.0",
					    (char *)(uintptr_t)"Address rules unavailable, try again later");
			return SMFIS_TEMPFAIL;
		}
		if (log_due(&unavailable_warned, (long)time(NULL), 60))
			log_warning("rules: the Redis lists were never loaded: mail is accepted "
				    "without the address rules (milter.fail_open = true)");
		st->unavailable = true;
		return SMFIS_CONTINUE;
	}
	rules_sets_of(msg->lists, &sets);
	st->verdict = rules_sender(&sets, client_address(call->conn, &addr) ? &addr : NULL,
				   msg->from);
	if (rules_forbidden(st->verdict)) {
		log_refusal(call, msg->queue_id, "reject", rules_verdict_name(st->verdict), msg->from, NULL);
		return refuse(call->ctx, st->verdict == RULES_FORBID_IP
			      ? "Your address is forbidden here"
			      : "Sender address forbidden here");
	}
	msg->permitted = st->verdict != RULES_NONE;
	return SMFIS_CONTINUE;
}

static sfsistat
rules_envrcpt(struct milter_call *call, const char *rcpt)
{
	struct milter_msg *msg = call->conn->msg;
	struct rules_msg *st = *call->state;
	struct address to;

	if (st == NULL || st->unavailable || msg->outbound)
		return SMFIS_CONTINUE;	/* inside mail reaches internal addresses */
	if (rcpt == NULL || address_parse(rcpt, &to, NULL) < 0 || to.is_null)
		return SMFIS_CONTINUE;	/* Postfix accepted it; nothing to match */
	if (!pattern_match_address(lists_get(msg->lists, LIST_INTERNAL), to.full))
		return SMFIS_CONTINUE;
	st->internal_refused++;
	log_refusal(call, msg->queue_id, "reject", "internal", msg->from, to.full);
	return refuse(call->ctx, "Recipient address accepts internal mail only");
}

static sfsistat
rules_eom(struct milter_call *call, struct logline *line)
{
	const struct rules_msg *st = *call->state;

	if (st == NULL)
		return SMFIS_CONTINUE;
	if (st->unavailable)
		logline_add(line, "rules", "unavailable");
	else if (st->verdict != RULES_NONE)
		logline_add(line, "rules", rules_verdict_name(st->verdict));
	if (st->internal_refused)
		logline_addf(line, "internal_refused", "%u", st->internal_refused);
	if (call->conn->msg->permitted)
		logline_add(line, "permitted", "yes");
	return SMFIS_CONTINUE;
}

static void
rules_msg_free(void *state)
{
	free(state);
}

const struct milter_module rules_module = {
	.name = "rules",
	.flags = 0,
	.open = rules_open,
	.close = rules_close,
	.envfrom = rules_envfrom,
	.envrcpt = rules_envrcpt,
	.eom = rules_eom,
	.msg_free = rules_msg_free,
};
