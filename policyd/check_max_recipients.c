/*
 * check_max_recipients.c - at most policyd.max_recipients recipients per
 * message (0: off).
 *
 * At RCPT, Postfix's recipient_count is the number of recipients it has
 * accepted in this transaction so far; a recipient beyond the limit gets
 * "452 4.5.3 Too many recipients" (RFC 5321 4.5.3.1.10: a 452, not a 5xx,
 * so the client delivers the rest in a new transaction instead of
 * bouncing them). The recipients before it are unaffected. Nothing to
 * wait for, no state: the count is Postfix's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"

struct max_recipients {
	long limit;
};

static int
max_recipients_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	struct max_recipients *m;

	*state = NULL;
	if (cfg->policyd.max_recipients == 0)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	m->limit = cfg->policyd.max_recipients;
	*state = m;
	return 0;
}

static enum check_result
max_recipients_decide(void *state, const struct policy_context *ctx,
		      const struct policy_request *req, struct policy_reply *reply)
{
	const struct max_recipients *m = state;
	char *end;
	long count;

	(void)ctx;
	if (req->protocol_state == NULL || strcasecmp(req->protocol_state, "RCPT") != 0
	    || req->recipient_count == NULL)
		return CHECK_CONTINUE;
	count = strtol(req->recipient_count, &end, 10);
	if (end == req->recipient_count || *end != '\0' || count < m->limit)
		return CHECK_CONTINUE;
	reply->verdict_key = "max_recipients";
	strcpy(reply->verdict, "over");
	logline_addf(&reply->details, "limit", "%ld", m->limit);
	snprintf(reply->action, sizeof(reply->action), "452 4.5.3 Too many recipients");
	return CHECK_FINAL;
}

static void
max_recipients_close(void *state)
{
	free(state);
}

const struct policy_check check_max_recipients = {
	.name = "max_recipients",
	.open = max_recipients_open,
	.decide = max_recipients_decide,
	.close = max_recipients_close,
};
