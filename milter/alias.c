/*
 * alias.c - the recipient-rewriting module of sluice-milter (struct
 * milter_module alias_module, registered in modules.c): aliases, domain
 * mapping and catch-all from the shared list snapshot (msg->lists).
 *
 * Contract:
 *   - envrcpt() remembers each accepted recipient as Postfix gave it (at
 *     most ALIAS_RCPTS_MAX; more are left alone and counted in the log).
 *   - eom() resolves each one (alias_resolve.h). A recipient whose result
 *     is itself stays untouched; any other is removed with smfi_delrcpt and
 *     its final addresses added with smfi_addrcpt, each address of the
 *     message once (two aliases sharing a member, or an alias and its
 *     member both addressed, give one delivery).
 *   - A failing smfi_delrcpt/smfi_addrcpt answers tempfail: the whole
 *     message is retried by the client, never delivered to part of the
 *     recipients.
 *   - No list snapshot (Redis never answered since start) leaves the
 *     recipients as they are; a snapshot once read is kept by the cache
 *     while Redis is down (list_cache.h), so rules do not flap.
 *   - The log line gets alias=<a>-><b>,<c> (several aliases separated by
 *     ";"), catchall=<a>-><b>, alias_loop=<a> when a loop was cut,
 *     alias_depth=<a> when the depth limit was hit.
 *   - Postfix applies virtual_alias_maps and canonical maps again to the
 *     recipients a milter adds (README, contrib/postfix-extras.cf).
 *   - External targets are added like local ones, with the original
 *     envelope sender: SRS is not built yet (README, "Aliases").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alias.h"
#include "alias_resolve.h"

#define ALIAS_RCPTS_MAX 1000

struct alias_conf {
	const struct strlist *local_domains;	/* in the config */
};

struct alias_msg {
	char (*rcpt)[ADDRESS_MAX + 3];	/* as Postfix gave them, "<...>" */
	size_t count, cap;
	unsigned skipped;
};

static int
alias_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct alias_conf *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errsize, "%s: out of memory", cfg->path);
		return -1;
	}
	c->local_domains = &cfg->local_domains;
	*conf = c;
	return 0;
}

static void
alias_close(void *conf)
{
	free(conf);
}

static sfsistat
alias_envrcpt(struct milter_call *call, const char *rcpt)
{
	struct alias_msg *m = *call->state;

	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return SMFIS_TEMPFAIL;
		*call->state = m;
	}
	if (rcpt == NULL || strlen(rcpt) > ADDRESS_MAX + 2 || m->count >= ALIAS_RCPTS_MAX) {
		m->skipped++;
		return SMFIS_CONTINUE;
	}
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		void *p = realloc(m->rcpt, cap * sizeof(*m->rcpt));

		if (p == NULL)
			return SMFIS_TEMPFAIL;
		m->rcpt = p;
		m->cap = cap;
	}
	snprintf(m->rcpt[m->count++], ADDRESS_MAX + 3, "%s", rcpt);
	return SMFIS_CONTINUE;
}

struct lookup {
	const struct lists *lists;
	const struct alias_conf *conf;
};

static const char *
src_alias(void *arg, const char *key, size_t *count)
{
	return lists_alias(((struct lookup *)arg)->lists, key, count);
}

static const char *
src_domainmap(void *arg, const char *domain)
{
	return lists_map_get(((struct lookup *)arg)->lists, MAP_DOMAINMAP, domain);
}

static const char *
src_catchall(void *arg, const char *domain)
{
	return lists_map_get(((struct lookup *)arg)->lists, MAP_CATCHALL, domain);
}

static bool
src_is_mailbox(void *arg, const char *address)
{
	return pattern_match_address(lists_get(((struct lookup *)arg)->lists, LIST_MAILBOXES), address);
}

static bool
src_is_local_domain(void *arg, const char *domain)
{
	const struct strlist *l = ((struct lookup *)arg)->conf->local_domains;
	size_t i;

	for (i = 0; i < l->count; i++)
		if (strcasecmp(l->items[i], domain) == 0)
			return true;
	return false;
}

/* Addresses already recipients of the message after rewriting. */
struct addrset {
	char (*addr)[ADDRESS_MAX + 1];
	size_t count, cap;
};

static bool
addrset_has(const struct addrset *s, const char *a)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (strcasecmp(s->addr[i], a) == 0)
			return true;
	return false;
}

static int
addrset_add(struct addrset *s, const char *a)
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->addr, cap * sizeof(*s->addr));

		if (p == NULL)
			return -1;
		s->addr = p;
		s->cap = cap;
	}
	snprintf(s->addr[s->count++], ADDRESS_MAX + 1, "%s", a);
	return 0;
}

static void
log_append(char *buf, size_t size, const char *sep, const char *text)
{
	size_t len = strlen(buf);

	if (len + strlen(sep) + strlen(text) + 1 < size)
		snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
}

static sfsistat
alias_eom(struct milter_call *call, struct logline *line)
{
	struct alias_msg *m = *call->state;
	const struct lists *lists = call->conn->msg->lists;
	struct lookup lk = { lists, call->conf };
	struct alias_source src = { &lk, src_alias, strmap_next, src_domainmap,
				    src_catchall, src_is_mailbox, src_is_local_domain };
	struct alias_result *res;
	struct addrset present = { 0 };
	char aliases[1024] = "", catchall[512] = "", loops[512] = "", deep[512] = "";
	sfsistat r = SMFIS_CONTINUE;
	size_t i, j;

	if (m == NULL || m->count == 0 || lists == NULL)
		return SMFIS_CONTINUE;
	if ((res = calloc(m->count, sizeof(*res))) == NULL)
		return SMFIS_TEMPFAIL;
	for (i = 0; i < m->count; i++)
		if (alias_resolve(&src, m->rcpt[i], &res[i]) < 0)
			res[i].changed = false;	/* not an address we can route: leave it */
	/* First the recipients that stay, so an added copy does not double them. */
	for (i = 0; i < m->count; i++)
		if (!res[i].changed && res[i].count == 1 && !addrset_has(&present, res[i].addr[0]) &&
		    addrset_add(&present, res[i].addr[0]) < 0)
			r = SMFIS_TEMPFAIL;
	for (i = 0; i < m->count && r == SMFIS_CONTINUE; i++) {
		char entry[600];
		size_t n;

		if (res[i].loop)
			log_append(loops, sizeof(loops), ",", res[i].original);
		if (res[i].too_deep)
			log_append(deep, sizeof(deep), ",", res[i].original);
		if (!res[i].changed)
			continue;
		if (smfi_delrcpt(call->ctx, m->rcpt[i]) != MI_SUCCESS) {
			r = SMFIS_TEMPFAIL;
			break;
		}
		n = (size_t)snprintf(entry, sizeof(entry), "%s->", res[i].original);
		for (j = 0; j < res[i].count; j++) {
			char bracketed[ADDRESS_MAX + 3];

			if (n < sizeof(entry))
				n += (size_t)snprintf(entry + n, sizeof(entry) - n, "%s%s",
						      j ? "," : "", res[i].addr[j]);
			if (addrset_has(&present, res[i].addr[j]))
				continue;
			snprintf(bracketed, sizeof(bracketed), "<%s>", res[i].addr[j]);
			if (addrset_add(&present, res[i].addr[j]) < 0 ||
			    smfi_addrcpt(call->ctx, bracketed) != MI_SUCCESS) {
				r = SMFIS_TEMPFAIL;
				break;
			}
		}
		if (res[i].catchall && !res[i].loop)
			log_append(catchall, sizeof(catchall), ";", entry);
		else
			log_append(aliases, sizeof(aliases), ";", entry);
	}
	if (aliases[0])
		logline_add(line, "alias", aliases);
	if (catchall[0])
		logline_add(line, "catchall", catchall);
	if (loops[0])
		logline_add(line, "alias_loop", loops);
	if (deep[0])
		logline_add(line, "alias_depth", deep);
	if (m->skipped)
		logline_addf(line, "alias_unchecked", "%u", m->skipped);
	if (r != SMFIS_CONTINUE)
		logline_add(line, "alias_error", "recipient-change-failed");
	for (i = 0; i < m->count; i++)
		alias_result_free(&res[i]);
	free(res);
	free(present.addr);
	return r;
}

static void
alias_msg_free(void *state)
{
	struct alias_msg *m = state;

	if (m) {
		free(m->rcpt);
		free(m);
	}
}

const struct milter_module alias_module = {
	.name = "alias",
	.flags = SMFIF_ADDRCPT | SMFIF_DELRCPT,
	.open = alias_open,
	.close = alias_close,
	.envrcpt = alias_envrcpt,
	.eom = alias_eom,
	.msg_free = alias_msg_free,
};
