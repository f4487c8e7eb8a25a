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
 *   - SRS (milter.srs): a bounce to SRS0=/SRS1=...@srs.domain is checked
 *     at RCPT (550 5.1.1 when the hash is bad or the stamp expired) and
 *     replaced at eom by the address it reverses to. External targets of
 *     an alias: when every recipient is external the message's sender
 *     becomes the SRS address (smfi_chgfrom); when some keep the original
 *     sender, the external ones are removed from the message and a copy
 *     with the SRS sender is submitted to srs.reinject (reinject.h) first:
 *     the original is accepted only after that copy got 250, else the
 *     whole message is tempfailed. Without srs.reinject (or a message over
 *     ALIAS_COPY_MAX) mixed messages keep the original sender for all.
 *     The message is copied in memory only when srs.reinject is set.
 *     (README: "Aliases, domain mapping, catch-all and SRS".)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>
#include <time.h>

#include "alias.h"
#include "alias_resolve.h"
#include "reinject.h"
#include "srs.h"

#define ALIAS_RCPTS_MAX 1000
#define ALIAS_COPY_MAX (20 * 1024 * 1024)	/* Postfix's default size limit x 2 */

struct alias_conf {
	const struct strlist *local_domains;	/* in the config */
	const struct strlist *relay_domains;
	const struct srs_conf *srs;		/* NULL: SRS off */
	struct srs_key srs_key;
};

struct alias_msg {
	char (*rcpt)[ADDRESS_MAX + 3];	/* as Postfix gave them, "<...>" */
	char (*srs_back)[ADDRESS_MAX + 1];	/* reversed SRS recipient, or "" */
	size_t count, cap;
	char *data;			/* the message, CRLF, for the SRS copy */
	size_t len, datacap;
	bool overflow;			/* over ALIAS_COPY_MAX: no copy */
	unsigned skipped;
};

/* The first line of milter.srs.secret_file, as postsrsd reads it. */
static int
read_secret(const struct sluice_config *cfg, struct alias_conf *c, char *err, size_t errsize)
{
	const struct srs_conf *srs = &cfg->milter.srs;
	char line[SRS_SECRET_MAX + 2];
	FILE *f = fopen(srs->secret_file, "r");
	size_t len;

	if (f == NULL) {
		snprintf(err, errsize, "%s:%d: srs.secret_file: cannot open %s: %s", cfg->path,
			 srs->line, srs->secret_file, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	len = strcspn(line, "\r\n");
	if (len < 8 || len > SRS_SECRET_MAX) {
		snprintf(err, errsize, "%s:%d: srs.secret_file: %s: the first line must be a secret of 8 to %d characters",
			 cfg->path, srs->line, srs->secret_file, SRS_SECRET_MAX);
		return -1;
	}
	memcpy(c->srs_key.secret, line, len);
	c->srs_key.len = len;
	c->srs = srs;
	return 0;
}

static int
alias_open(const struct sluice_config *cfg, void **conf, char *err, size_t errsize)
{
	struct alias_conf *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errsize, "%s: out of memory", cfg->path);
		return -1;
	}
	c->local_domains = &cfg->local_domains;
	c->relay_domains = &cfg->relay_domains;
	if (cfg->milter.srs.domain && read_secret(cfg, c, err, errsize) < 0) {
		free(c);
		return -1;
	}
	*conf = c;
	return 0;
}

static void
alias_close(void *conf)
{
	free(conf);
}

/* A recipient SRS0=/SRS1=...@srs.domain: a bounce to a forwarded copy.
 * 0 with back set (or "" when rcpt is not one), -1 after a 550 5.1.1
 * reply for an invalid or expired one. */
static int
srs_bounce(struct milter_call *call, const char *rcpt, char *back)
{
	const struct alias_conf *c = call->conf;
	char addr[ADDRESS_MAX + 1], reply[128];
	const char *at, *why = NULL;
	size_t len = strlen(rcpt);

	if (c->srs == NULL)
		return 0;
	if (len >= 2 && rcpt[0] == '<' && rcpt[len - 1] == '>')
		snprintf(addr, sizeof(addr), "%.*s", (int)len - 2, rcpt + 1);
	else
		snprintf(addr, sizeof(addr), "%s", rcpt);
	if ((at = strrchr(addr, '@')) == NULL || strcasecmp(at + 1, c->srs->domain) != 0 ||
	    !srs_is_srs(addr))
		return 0;
	if (srs_reverse(&c->srs_key, addr, time(NULL), c->srs->max_age_days, back,
			ADDRESS_MAX + 1, &why) == 0)
		return 0;
	back[0] = '\0';
	snprintf(reply, sizeof(reply), "Invalid SRS address: %s", why);
	smfi_setreply(call->ctx, "550", "5.1.1", reply);
	log_info("%s: srs=invalid to=<%s> reason=%s", call->conn->msg->queue_id[0] ?
		 call->conn->msg->queue_id : "NOQUEUE", addr, why);
	return -1;
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
		void *p = realloc(m->rcpt, cap * sizeof(*m->rcpt)), *q;

		if (p == NULL)
			return SMFIS_TEMPFAIL;
		m->rcpt = p;
		if ((q = realloc(m->srs_back, cap * sizeof(*m->srs_back))) == NULL)
			return SMFIS_TEMPFAIL;
		m->srs_back = q;
		m->cap = cap;
	}
	m->srs_back[m->count][0] = '\0';
	if (srs_bounce(call, rcpt, m->srs_back[m->count]) < 0)
		return SMFIS_REJECT;
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

/* Whether an address is delivered here (a local or relay domain, or the
 * SRS domain) rather than sent on to the outside. */
static bool
domain_in(const struct strlist *l, const char *domain)
{
	size_t i, n;

	for (i = 0; i < l->count; i++) {
		n = strcspn(l->items[i], "|");	/* "domain|host" relay entries */
		if (strlen(domain) == n && strncasecmp(l->items[i], domain, n) == 0)
			return true;
	}
	return false;
}

static bool
is_ours(const struct alias_conf *c, const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return true;
	return domain_in(c->local_domains, at + 1) || domain_in(c->relay_domains, at + 1) ||
	       (c->srs && strcasecmp(at + 1, c->srs->domain) == 0);
}

static void
log_append(char *buf, size_t size, const char *sep, const char *text)
{
	size_t len = strlen(buf);

	if (len + strlen(sep) + strlen(text) + 1 < size)
		snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
}

/* The SRS sender for the external copies into out ("" for <>); -1 with
 * the reason logged when there is none to give. */
static int
srs_sender(struct milter_call *call, struct logline *line, char *out, size_t size)
{
	const struct alias_conf *c = call->conf;
	const char *why = NULL;

	if (srs_forward(&c->srs_key, c->srs->domain, call->conn->msg->from, time(NULL),
			out, size, &why) == 0)
		return 0;
	logline_add(line, "srs", "skipped");
	logline_add(line, "srs_error", why);
	return -1;
}

static sfsistat
alias_eom(struct milter_call *call, struct logline *line)
{
	struct alias_msg *m = *call->state;
	const struct lists *lists = call->conn->msg->lists;
	const struct alias_conf *c = call->conf;
	struct lookup lk = { lists, call->conf };
	struct alias_source src = { &lk, src_alias, strmap_next, src_domainmap,
				    src_catchall, src_is_mailbox, src_is_local_domain };
	struct alias_result *res;
	struct addrset present = { 0 }, external = { 0 };
	char aliases[1024] = "", catchall[512] = "", loops[512] = "", deep[512] = "";
	char srsback[600] = "", srs_from[ADDRESS_MAX + 1];
	bool any_local = false, split = false;
	const char *from = call->conn->msg->from;
	sfsistat r = SMFIS_CONTINUE;
	size_t i, j;

	if (m == NULL || m->count == 0 || (lists == NULL && c->srs == NULL))
		return SMFIS_CONTINUE;
	if ((res = calloc(m->count, sizeof(*res))) == NULL)
		return SMFIS_TEMPFAIL;
	for (i = 0; i < m->count; i++) {
		if (m->srs_back[i][0]) {	/* a bounce: back to the original sender */
			struct alias_result *b = &res[i];

			if ((b->addr = malloc(sizeof(*b->addr))) == NULL) {
				r = SMFIS_TEMPFAIL;
				break;
			}
			b->count = b->cap = 1;
			memcpy(b->addr[0], m->srs_back[i], ADDRESS_MAX + 1);
			snprintf(b->original, sizeof(b->original), "%.*s", (int)strlen(m->rcpt[i]) - 2,
				 m->rcpt[i] + 1);
			b->changed = b->srs = true;
			continue;
		}
		if (lists == NULL || alias_resolve(&src, m->rcpt[i], &res[i]) < 0)
			res[i].changed = false;	/* not an address we can route: leave it */
	}
	/* Which final recipients leave for the outside because of an alias;
	 * any_local: some recipient keeps the message's own sender (a local
	 * one, or one we did not change, wherever it goes). */
	for (i = 0; i < m->count && r == SMFIS_CONTINUE; i++) {
		if (!res[i].changed) {
			any_local = true;
			continue;
		}
		for (j = 0; j < res[i].count; j++) {
			if (is_ours(c, res[i].addr[j]) || res[i].srs)
				any_local = true;
			else if (c->srs && !addrset_has(&external, res[i].addr[j]) &&
				 addrset_add(&external, res[i].addr[j]) < 0)
				r = SMFIS_TEMPFAIL;
		}
	}
	/* External copies get the SRS sender: all recipients external, the
	 * message's own sender changes; some local too, the external ones get a
	 * copy of their own through the re-injection listener first. */
	if (r == SMFIS_CONTINUE && external.count > 0 && from[0] && !call->conn->msg->from_unparsable) {
		if (!any_local) {
			if (srs_sender(call, line, srs_from + 1, sizeof(srs_from) - 2) == 0) {
				char bracketed[ADDRESS_MAX + 3], entry[600];

				snprintf(bracketed, sizeof(bracketed), "<%s>", srs_from + 1);
				if (smfi_chgfrom(call->ctx, bracketed, NULL) != MI_SUCCESS) {
					r = SMFIS_TEMPFAIL;
					logline_add(line, "alias_error", "chgfrom-failed");
				}
				snprintf(entry, sizeof(entry), "%s->%s", from, srs_from + 1);
				logline_add(line, "srs", entry);
			}
		} else if (!c->srs->reinject_set) {
			logline_add(line, "srs", "skipped-local-recipients");
		} else if (m->overflow) {
			logline_add(line, "srs", "skipped-too-big");
		} else if (srs_sender(call, line, srs_from + 1, sizeof(srs_from) - 2) == 0) {
			char err[512], entry[600];

			if (reinject_send(&c->srs->reinject, 10000, call->conn->cfg->hostname, srs_from + 1,
					  external.addr, external.count, m->data, m->len, err, sizeof(err)) < 0) {
				logline_add(line, "alias_error", "reinject-failed");
				logline_add(line, "reason", err);
				r = SMFIS_TEMPFAIL;
			} else {
				split = true;
				snprintf(entry, sizeof(entry), "%s->%s", from, srs_from + 1);
				logline_add(line, "srs", entry);
				logline_addf(line, "srs_copy", "%zu", external.count);
			}
		}
	}
	/* First the recipients that stay, so an added copy does not double them. */
	for (i = 0; i < m->count && r == SMFIS_CONTINUE; i++)
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
			if (addrset_has(&present, res[i].addr[j]) ||
			    (split && addrset_has(&external, res[i].addr[j])))
				continue;	/* already there, or sent in the SRS copy */
			snprintf(bracketed, sizeof(bracketed), "<%s>", res[i].addr[j]);
			if (addrset_add(&present, res[i].addr[j]) < 0 ||
			    smfi_addrcpt(call->ctx, bracketed) != MI_SUCCESS) {
				r = SMFIS_TEMPFAIL;
				break;
			}
		}
		if (res[i].srs)
			log_append(srsback, sizeof(srsback), ";", entry);
		else if (res[i].catchall && !res[i].loop)
			log_append(catchall, sizeof(catchall), ";", entry);
		else
			log_append(aliases, sizeof(aliases), ";", entry);
	}
	if (srsback[0])
		logline_add(line, "srs_bounce", srsback);
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
	free(external.addr);
	return r;
}

/* Appends to the copy of the message; bare LF become CRLF when crlf. */
static int
copy_append(struct alias_msg *m, const char *p, size_t len, bool crlf)
{
	size_t i;

	if (m->overflow)
		return 0;
	if (m->len + 2 * len + 2 > ALIAS_COPY_MAX) {
		m->overflow = true;
		free(m->data);
		m->data = NULL;
		m->len = m->datacap = 0;
		return 0;
	}
	if (m->len + 2 * len + 2 > m->datacap) {
		size_t cap = m->datacap ? m->datacap : 16384;
		char *n;

		while (cap < m->len + 2 * len + 2)
			cap *= 2;
		if ((n = realloc(m->data, cap)) == NULL)
			return -1;
		m->data = n;
		m->datacap = cap;
	}
	for (i = 0; i < len; i++) {
		if (crlf && p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			m->data[m->len++] = '\r';
		m->data[m->len++] = p[i];
	}
	return 0;
}

/* The message is kept only where a split may need it (srs.reinject set).
 * Header values come from Postfix with their leading space, so the copy
 * is "Name:" + value; Postfix's own Received: of this hop is not shown to
 * milters, so the copy carries the client's headers only, and the
 * re-injection listener adds its own Received:. */
static struct alias_msg *
copy_state(struct milter_call *call)
{
	const struct alias_conf *c = call->conf;
	struct alias_msg *m = *call->state;

	if (c->srs == NULL || !c->srs->reinject_set)
		return NULL;
	if (m == NULL && (m = *call->state = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	return m;
}

static sfsistat
alias_header(struct milter_call *call, const char *name, const char *value)
{
	struct alias_msg *m = copy_state(call);

	if (m && (copy_append(m, name, strlen(name), false) < 0 || copy_append(m, ":", 1, false) < 0 ||
		  copy_append(m, value, strlen(value), true) < 0 || copy_append(m, "\r\n", 2, false) < 0))
		return SMFIS_TEMPFAIL;
	return SMFIS_CONTINUE;
}

static sfsistat
alias_eoh(struct milter_call *call)
{
	struct alias_msg *m = copy_state(call);

	return m && copy_append(m, "\r\n", 2, false) < 0 ? SMFIS_TEMPFAIL : SMFIS_CONTINUE;
}

static sfsistat
alias_body(struct milter_call *call, const unsigned char *chunk, size_t len)
{
	struct alias_msg *m = copy_state(call);

	return m && copy_append(m, (const char *)chunk, len, false) < 0 ? SMFIS_TEMPFAIL : SMFIS_CONTINUE;
}

static void
alias_msg_free(void *state)
{
	struct alias_msg *m = state;

	if (m) {
		free(m->rcpt);
		free(m->srs_back);
		free(m->data);
		free(m);
	}
}

const struct milter_module alias_module = {
	.name = "alias",
	.flags = SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM,
	.open = alias_open,
	.close = alias_close,
	.envrcpt = alias_envrcpt,
	.header = alias_header,
	.eoh = alias_eoh,
	.body = alias_body,
	.eom = alias_eom,
	.msg_free = alias_msg_free,
};
