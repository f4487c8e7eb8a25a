/*
 * check_max_recipients.c - at most policyd.max_recipients recipients per
 * message (0: off).
 *
 * A recipient beyond the limit gets "452 4.5.3 Too many recipients" (RFC
 * 5321 4.5.3.1.10: a 452, not a 5xx, so the client delivers the rest in a
 * new transaction instead of bouncing them); the recipients before it
 * are unaffected.
 *
 * Postfix's recipient_count is 0 at RCPT (it is set from DATA on), so the
 * recipients of a transaction are counted here, by its `instance` (one
 * per transaction of one smtpd process). Each Postfix smtpd keeps one
 * connection to us and runs one transaction at a time, so a transaction's
 * requests all come to one worker, and each worker has its own chain:
 * the table needs no lock. It holds COUNT_SLOTS transactions; when more
 * are open at once on one worker, the least recently used is dropped and
 * counts from 0 again if it comes back (more recipients get through, none
 * is refused wrongly). A recipient counts when this check passes it, also
 * if a later check refuses it: a transaction may then end with fewer than
 * max_recipients accepted, never more.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"

#define COUNT_SLOTS 4096	/* transactions open at once on one worker */
#define PROBE_MAX 16		/* slots looked at for one instance */
#define INSTANCE_MAX 64

struct count_slot {
	uint32_t hash;			/* of instance: most probes end here */
	char instance[INSTANCE_MAX];	/* "" when free */
	unsigned long count;
	unsigned long used;		/* last use, for eviction */
};

struct max_recipients {
	long limit;
	unsigned long clock;
	struct count_slot slots[COUNT_SLOTS];
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

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The transaction's slot: found, or a free one, or the least recently
 * used of those probed (its count starts over). */
static struct count_slot *
slot_of(struct max_recipients *m, const char *instance)
{
	uint32_t h = hash(instance);
	struct count_slot *victim = NULL;
	unsigned i;

	for (i = 0; i < PROBE_MAX; i++) {
		struct count_slot *s = &m->slots[(h + i) % COUNT_SLOTS];

		if (s->hash == h && strcmp(s->instance, instance) == 0)
			return s;
		if (victim == NULL || (victim->instance[0] != '\0'
				       && (s->instance[0] == '\0' || s->used < victim->used)))
			victim = s;
	}
	snprintf(victim->instance, sizeof(victim->instance), "%s", instance);
	victim->hash = h;
	victim->count = 0;
	return victim;
}

static enum check_result
max_recipients_decide(void *state, const struct policy_context *ctx,
		      const struct policy_request *req, struct policy_reply *reply)
{
	struct max_recipients *m = state;
	struct count_slot *s;

	(void)ctx;
	if (req->protocol_state == NULL || strcasecmp(req->protocol_state, "RCPT") != 0)
		return CHECK_CONTINUE;
	if (req->instance == NULL || *req->instance == '\0'
	    || strlen(req->instance) >= INSTANCE_MAX) {
		logline_add(&reply->details, "max_recipients", "no-instance");
		return CHECK_CONTINUE;	/* not from Postfix: nothing to count by */
	}
	s = slot_of(m, req->instance);
	s->used = ++m->clock;
	if (s->count < (unsigned long)m->limit) {
		s->count++;
		return CHECK_CONTINUE;
	}
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
