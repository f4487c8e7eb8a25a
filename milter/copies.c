/*
 * copies.c - hidden copies (the interface and the contract are in
 * copies.h).
 *
 * Why at end of message: libmilter allows recipient changes only there,
 * and by then every recipient Postfix accepted is known, so a copy equal
 * to one of them is not added a second time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copies.h"

struct copies_conf {
	char *always_bcc, *incoming_copy, *outgoing_copy;
};

struct copies_msg {
	char **rcpts;
	size_t count, cap;
	bool overflow;		/* more recipients than COPIES_RCPT_MAX */
};

static bool
listed(char out[][ADDRESS_MAX + 1], size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(out[i], addr) == 0)
			return true;
	return false;
}

static bool
is_recipient(const char *const *rcpts, size_t nrcpt, const char *addr)
{
	size_t i;

	for (i = 0; i < nrcpt; i++)
		if (strcasecmp(rcpts[i], addr) == 0)
			return true;
	return false;
}

static void
add_copy(char out[][ADDRESS_MAX + 1], size_t *n, const char *addr,
	 const char *const *rcpts, size_t nrcpt)
{
	struct address a;

	if (addr == NULL || *n >= COPIES_MAX)
		return;
	/* sluice:copy:domain values come from Redis: only a mailbox. */
	if (address_parse(addr, &a, NULL) < 0 || a.is_null || a.domain[0] == '\0')
		return;
	if (listed(out, *n, a.full) || is_recipient(rcpts, nrcpt, a.full))
		return;
	snprintf(out[(*n)++], ADDRESS_MAX + 1, "%s", a.full);
}

size_t
copies_plan(const struct copies_settings *set, bool outbound, const struct lists *lists,
	    const char *const *rcpts, size_t nrcpt, char out[][ADDRESS_MAX + 1])
{
	size_t n = 0, i;

	add_copy(out, &n, set->always_bcc, rcpts, nrcpt);
	add_copy(out, &n, outbound ? set->outgoing_copy : set->incoming_copy, rcpts, nrcpt);
	if (!lists_loaded(lists))
		return n;
	for (i = 0; i < nrcpt; i++) {
		const char *at = strrchr(rcpts[i], '@');

		if (at && at[1])
			add_copy(out, &n, lists_map_get(lists, MAP_COPY_DOMAIN, at + 1), rcpts,
				 nrcpt);
	}
	return n;
}

static int
copies_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct copies_conf *cc = calloc(1, sizeof(*cc));
	const struct milter_conf *m = &cfg->milter;

	if (cc == NULL
	    || (m->always_bcc && (cc->always_bcc = strdup(m->always_bcc)) == NULL)
	    || (m->incoming_copy && (cc->incoming_copy = strdup(m->incoming_copy)) == NULL)
	    || (m->outgoing_copy && (cc->outgoing_copy = strdup(m->outgoing_copy)) == NULL)) {
		if (cc) {
			free(cc->always_bcc);
			free(cc->incoming_copy);
			free(cc);
		}
		snprintf(err, errsize, "copies: out of memory");
		return -1;
	}
	*conf = cc;	/* always on: sluice:copy:domain may gain entries any time */
	return 0;
}

static void
copies_close(void *conf)
{
	struct copies_conf *cc = conf;

	free(cc->always_bcc);
	free(cc->incoming_copy);
	free(cc->outgoing_copy);
	free(cc);
}

static void
copies_msg_free(void *state)
{
	struct copies_msg *st = state;
	size_t i;

	for (i = 0; i < st->count; i++)
		free(st->rcpts[i]);
	free(st->rcpts);
	free(st);
}

static sfsistat
copies_envrcpt(struct milter_call *call, const char *rcpt)
{
	struct copies_msg *st = *call->state;
	struct address to;

	if (st == NULL) {
		if ((st = calloc(1, sizeof(*st))) == NULL)
			return SMFIS_TEMPFAIL;
		*call->state = st;
	}
	if (rcpt == NULL || address_parse(rcpt, &to, NULL) < 0 || to.is_null)
		return SMFIS_CONTINUE;
	if (st->count >= COPIES_RCPT_MAX) {
		st->overflow = true;
		return SMFIS_CONTINUE;
	}
	if (st->count == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 8;
		char **grown = realloc(st->rcpts, cap * sizeof(*grown));

		if (grown == NULL)
			return SMFIS_TEMPFAIL;
		st->rcpts = grown;
		st->cap = cap;
	}
	if ((st->rcpts[st->count] = strdup(to.full)) == NULL)
		return SMFIS_TEMPFAIL;
	st->count++;
	return SMFIS_CONTINUE;
}

static sfsistat
copies_eom(struct milter_call *call, struct logline *line)
{
	const struct copies_conf *cc = call->conf;
	const struct copies_msg *st = *call->state;
	const struct milter_msg *msg = call->conn->msg;
	struct copies_settings set = { cc->always_bcc, cc->incoming_copy, cc->outgoing_copy };
	char out[COPIES_MAX][ADDRESS_MAX + 1], list[LOGLINE_MAX / 2], bracketed[ADDRESS_MAX + 3];
	size_t n, i, used = 0;

	n = copies_plan(&set, msg->outbound, msg->lists,
			st ? (const char *const *)st->rcpts : NULL, st ? st->count : 0, out);
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(bracketed, sizeof(bracketed), "<%.*s>", ADDRESS_MAX, out[i]);
		if (smfi_addrcpt(call->ctx, bracketed) != MI_SUCCESS) {
			logline_add(line, "copy_failed", out[i]);
			(void)smfi_setreply(call->ctx, (char *)(uintptr_t)"451",
					    (char *)(uintptr_t)"4.3.0",
					    (char *)(uintptr_t)"Cannot add a copy recipient, try again later");
			return SMFIS_TEMPFAIL;
		}
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? "," : "", out[i]);
	}
	if (n)
		logline_add(line, "copy", list);
	if (st && st->overflow)
		logline_addf(line, "copy_rcpts_untracked", "over_%d", COPIES_RCPT_MAX);
	return SMFIS_CONTINUE;
}

const struct milter_module copies_module = {
	.name = "copies",
	.flags = SMFIF_ADDRCPT,
	.open = copies_open,
	.close = copies_close,
	.envrcpt = copies_envrcpt,
	.eom = copies_eom,
	.msg_free = copies_msg_free,
};
