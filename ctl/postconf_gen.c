/*
 * postconf_gen.c - sluice.conf -> Postfix settings (see postconf_gen.h).
 *
 * One function per concern, each appending its settings in a fixed
 * order: networks and domains, routing (relay domains, smarthost, relay
 * rules, TLS and SASL per hop), the milter, the restrictions with the
 * policy service, the postfix group's limits, postscreen, the SRS
 * re-injection listener. Why each setting is what it is: README,
 * "Postfix settings from sluice.conf".
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postconf_gen.h"

#define MAILBOX_SIZE_DEFAULT 51200000L	/* Postfix's mailbox_size_limit */
#define SMTPS_SERVICE "sluice-smtps"	/* master.cf transport for implicit TLS */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 128) + (size_t)n;
		char *s = realloc(b->s, cap);

		if (s == NULL) {
			b->oom = true;
			return;
		}
		if (b->s == NULL)
			s[0] = '\0';
		b->s = s;
		b->cap = cap;
	}
}

/* A comma-separated inline:{ } table being built. */
static void
table_add(struct sbuf *b, const char *key, const char *value)
{
	sb_printf(b, "%s%s=%s", b->len ? ", " : "", key, value);
}

struct gen {
	const struct sluice_config *cfg;
	struct pc_output *out;
	bool oom;
	char policy[sizeof(((struct endpoint *)0)->path) + 128];	/* check_policy_service ... */
};

static void
list_add(struct gen *g, struct pc_list *l, const char *name, char *value)
{
	char *n = value ? strdup(name) : NULL;

	if (n && l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct pc_setting *items = reallocarray(l->items, cap, sizeof(*items));

		if (items == NULL) {
			free(n);
			n = NULL;
		} else {
			l->items = items;
			l->cap = cap;
		}
	}
	if (n == NULL) {
		free(value);
		g->oom = true;
		return;
	}
	l->items[l->count].name = n;
	l->items[l->count++].value = value;
}

static void __attribute__((format(printf, 3, 4)))
set_main(struct gen *g, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;

	if (g->oom)
		return;
	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	list_add(g, &g->out->main, name, v);
}

static void
set_main_sb(struct gen *g, const char *name, struct sbuf *b)
{
	if (b->oom)
		g->oom = true;
	else
		set_main(g, name, "%s", b->s ? b->s : "");
	free(b->s);
	*b = (struct sbuf){ 0 };
}

static void
set_master(struct gen *g, const char *service, const char *type, const char *fields)
{
	char name[200];
	char *v = NULL;

	if (g->oom)
		return;
	snprintf(name, sizeof(name), "%s/%s", service, type);
	if (asprintf(&v, "%s %s %s", service, type, fields) < 0)
		v = NULL;
	list_add(g, &g->out->master, name, v);
}

static void __attribute__((format(printf, 2, 3)))
note(struct gen *g, const char *fmt, ...)
{
	struct pc_output *o = g->out;
	va_list ap;
	char *v = NULL, **n;

	if (g->oom)
		return;
	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	if (v == NULL || (n = reallocarray(o->notes, o->note_count + 1, sizeof(*n))) == NULL) {
		free(v);
		g->oom = true;
		return;
	}
	o->notes = n;
	o->notes[o->note_count++] = v;
}

/* Postfix's next hop without MX lookup: [host]:port */
static void
nexthop(const struct relay_hop *h, char *buf, size_t size)
{
	snprintf(buf, size, "[%s]:%d", h->host, h->port);
}

static void
gen_networks(struct gen *g)
{
	const struct net_list *nets = &g->cfg->trusted_networks;
	struct sbuf b = { 0 };
	char text[80];
	size_t i;

	for (i = 0; i < nets->count; i++) {
		if (net_cidr_format(&nets->items[i], text, sizeof(text)) < 0)
			continue;
		if (strchr(text, ':')) {	/* mynetworks writes IPv6 as [addr]/len */
			char *slash = strchr(text, '/');

			*slash = '\0';
			sb_printf(&b, "%s[%s]/%s", i ? " " : "", text, slash + 1);
		} else {
			sb_printf(&b, "%s%s", i ? " " : "", text);
		}
	}
	set_main_sb(g, "mynetworks", &b);
}

/* inline:{ entries } when there are any */
static void
set_table(struct gen *g, const char *name, struct sbuf *b)
{
	if (b->oom)
		g->oom = true;
	else if (b->len)
		set_main(g, name, "inline:{ %s }", b->s);
	free(b->s);
	*b = (struct sbuf){ 0 };
}

/* TLS level and SASL table of one hop; sasl_key is what
 * smtp_sasl_password_maps is asked for it. */
static void
hop_extras(struct gen *g, const struct pf_hop *h, struct sbuf *tls_policy, const char *sasl_key)
{
	char hop[RELAY_HOST_MAX + 16];
	struct pc_output *o = g->out;
	struct pc_sasl_entry *e;

	nexthop(&h->hop, hop, sizeof(hop));
	table_add(tls_policy, hop, postfix_tls_name(h->tls));
	if (h->sasl_user == NULL || g->oom)
		return;
	if ((e = reallocarray(o->sasl, o->sasl_count + 1, sizeof(*e))) == NULL) {
		g->oom = true;
		return;
	}
	o->sasl = e;
	if ((e[o->sasl_count].key = strdup(sasl_key)) == NULL) {
		g->oom = true;
		return;
	}
	e[o->sasl_count].file = h->sasl_password_file;
	e[o->sasl_count++].user = h->sasl_user;
}

static void
gen_relay_domains(struct gen *g, struct sbuf *transport)
{
	const struct sluice_config *cfg = g->cfg;
	struct sbuf domains = { 0 };
	char hop[RELAY_HOST_MAX + 16], value[RELAY_HOST_MAX + 32];
	size_t i;

	for (i = 0; i < cfg->relay_domains.count; i++) {
		const struct relay_hop *h = &cfg->relay_hops[i];

		sb_printf(&domains, "%s%s", i ? " " : "", cfg->relay_domains.items[i]);
		if (h->host[0] == '\0') {
			note(g, "domains.relay '%s' names no next hop: Postfix sends its mail %s",
			     cfg->relay_domains.items[i], cfg->postfix.smarthost_set
			     ? "to relayhost (the smarthost)"
			     : "to the domain's MX (make sure that is not this host)");
			continue;
		}
		nexthop(h, hop, sizeof(hop));
		snprintf(value, sizeof(value), "smtp:%s", hop);
		table_add(transport, cfg->relay_domains.items[i], value);
	}
	if (cfg->relay_domains.count)
		set_main_sb(g, "relay_domains", &domains);
	else
		note(g, "domains.relay is empty: relay_domains is not printed");
	if (cfg->local_domains.count)
		note(g, "domains.local: Postfix must accept these as its own (mydestination, "
		     "virtual_mailbox_domains, or relay_domains with a transport): not printed");
}

/* relay_domains, transport_maps, relayhost, the relay rules, per-hop TLS
 * and SASL. */
static void
gen_routing(struct gen *g)
{
	const struct postfix_conf *pf = &g->cfg->postfix;
	struct sbuf transport = { 0 }, senders = { 0 }, tls = { 0 }, sasl_maps = { 0 };
	bool sender_auth = false, implicit = false, verify = false, any_tls = false;
	char hop[RELAY_HOST_MAX + 16], value[RELAY_HOST_MAX + 64], key[300];
	size_t i, j;

	gen_relay_domains(g, &transport);
	for (i = 0; i < pf->rule_count; i++) {
		const struct pf_hop *r = &pf->rules[i];

		nexthop(&r->hop, hop, sizeof(hop));
		if (r->type == PF_RULE_RECIPIENT) {
			snprintf(value, sizeof(value), "%s:%s",
				 r->implicit_tls ? SMTPS_SERVICE : "smtp", hop);
			table_add(&transport, r->match, value);
			hop_extras(g, r, &tls, hop);
		} else {
			/* a domain is "@domain" in sender-keyed tables */
			snprintf(key, sizeof(key), "%s%s", strchr(r->match, '@') ? "" : "@", r->match);
			snprintf(value, sizeof(value), "%s:%s",
				 r->implicit_tls ? SMTPS_SERVICE : "smtp", hop);
			table_add(&senders, key, value);
			hop_extras(g, r, &tls, key);
			sender_auth |= r->sasl_user != NULL;
		}
		implicit |= r->implicit_tls;
		any_tls |= r->tls != PF_TLS_NONE;
		verify |= r->tls == PF_TLS_VERIFY || r->tls == PF_TLS_SECURE;
	}
	if (pf->smarthost_set) {
		const struct pf_hop *s = &pf->smarthost;

		nexthop(&s->hop, hop, sizeof(hop));
		set_main(g, "relayhost", "%s", hop);
		if (s->implicit_tls)
			set_main(g, "default_transport", "%s", SMTPS_SERVICE);
		hop_extras(g, s, &tls, hop);
		implicit |= s->implicit_tls;
		any_tls |= s->tls != PF_TLS_NONE;
		verify |= s->tls == PF_TLS_VERIFY || s->tls == PF_TLS_SECURE;
	}
	set_table(g, "transport_maps", &transport);
	/* Not sender_dependent_relayhost_maps: a default_transport with a
	 * next hop overrules it, and it reroutes relay domains without a hop
	 * too; this one overrides default_transport only, transport included
	 * (implicit TLS). */
	set_table(g, "sender_dependent_default_transport_maps", &senders);
	set_table(g, "smtp_tls_policy_maps", &tls);
	if (verify)
		set_main(g, "smtp_tls_CApath", "/etc/ssl/certs");
	/* TLS to any hop needs the TLS cache manager (in Postfix's default
	 * master.cf, not in every hand-made one: "TLS engine unavailable") */
	if (any_tls)
		set_master(g, "tlsmgr", "unix", "-       -       n       1000?   1       tlsmgr");
	if (implicit)
		set_master(g, SMTPS_SERVICE, "unix", "-       -       n       -       -       smtp "
			   "-o smtp_tls_wrappermode=yes -o smtp_tls_security_level=encrypt "
			   "-o syslog_name=postfix/" SMTPS_SERVICE);
	if (g->out->sasl_count == 0 || g->oom)
		return;
	/* each table once, in the order the hops name them */
	for (i = 0; i < g->out->sasl_count; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(g->out->sasl[j].file, g->out->sasl[i].file) == 0)
				break;
		if (j == i)
			sb_printf(&sasl_maps, "%shash:%s", sasl_maps.len ? ", " : "",
				  g->out->sasl[i].file);
	}
	set_main(g, "smtp_sasl_auth_enable", "yes");
	set_main_sb(g, "smtp_sasl_password_maps", &sasl_maps);
	/* PLAIN and LOGIN inside TLS only (every SASL hop has an encrypting level) */
	set_main(g, "smtp_sasl_security_options", "noplaintext, noanonymous");
	set_main(g, "smtp_sasl_tls_security_options", "noanonymous");
	if (sender_auth)
		set_main(g, "smtp_sender_dependent_authentication", "yes");
	for (i = 0; i < g->out->sasl_count; i++)
		note(g, "%s: needs a line '%s %s:PASSWORD'; after each change run: postmap hash:%s",
		     g->out->sasl[i].file, g->out->sasl[i].key, g->out->sasl[i].user,
		     g->out->sasl[i].file);
}

static void
gen_milter(struct gen *g)
{
	char ep[sizeof(((struct endpoint *)0)->path) + 16];

	if (endpoint_format(&g->cfg->milter.listen, ep, sizeof(ep)) < 0) {
		g->oom = true;
		return;
	}
	set_main(g, "smtpd_milters", "%s", ep);
	set_main(g, "non_smtpd_milters", "$smtpd_milters");
	/* milter unreachable: 4xx, never accept unsigned or unexpanded mail */
	set_main(g, "milter_default_action", "tempfail");
	set_main(g, "milter_protocol", "6");
	if (g->cfg->postfix.no_address_mappings)
		set_main(g, "receive_override_options", "no_address_mappings");
}

static bool
ratelimit_counts(const struct ratelimit_conf *rl, enum rl_count what)
{
	size_t i;

	for (i = 0; i < rl->rule_count; i++)
		if (rl->rules[i].count == what)
			return true;
	return false;
}

static void
gen_restrictions(struct gen *g)
{
	const struct policyd_conf *p = &g->cfg->policyd;
	char ep[sizeof(((struct endpoint *)0)->path) + 16];

	if (endpoint_format(&p->listen, ep, sizeof(ep)) < 0) {
		g->oom = true;
		return;
	}
	/* policyd.fail_open: unreachable policy service = no verdict, or 451 */
	snprintf(g->policy, sizeof(g->policy), "check_policy_service { %s, %s }", ep,
		 p->fail_open ? "default_action=DUNNO"
			      : "{ default_action = 451 4.3.5 Policy service unavailable }");
	/* relay control first: the policy's verdicts can never open a relay */
	set_main(g, "smtpd_relay_restrictions",
		 "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination");
	set_main(g, "smtpd_recipient_restrictions", "%s", g->policy);
	if (!g->cfg->postfix.accept_unresolvable_domains)
		set_main(g, "smtpd_sender_restrictions",
			 "permit_mynetworks, permit_sasl_authenticated, reject_unknown_sender_domain");
	if (ratelimit_counts(&p->ratelimit, RL_CONNECTIONS)) {
		/* asked at CONNECT only without delayed rejection */
		set_main(g, "smtpd_delay_reject", "no");
		set_main(g, "smtpd_client_restrictions", "%s", g->policy);
	}
	if (ratelimit_counts(&p->ratelimit, RL_MESSAGES))
		set_main(g, "smtpd_end_of_data_restrictions", "%s", g->policy);
	note(g, "smtpd_*_restrictions are printed whole: merge restrictions of your own by hand");
}

/* 432000 -> "5d": the largest unit that divides it */
static void
duration(long seconds, char *buf, size_t size)
{
	static const struct { long n; char unit; } units[] = {
		{ 604800, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (seconds % units[i].n == 0) {
			snprintf(buf, size, "%ld%c", seconds / units[i].n, units[i].unit);
			return;
		}
}

static void
gen_limits(struct gen *g)
{
	const struct postfix_conf *pf = &g->cfg->postfix;
	long bytes = pf->message_size_mb * 1048576L;
	char d[32];

	set_main(g, "message_size_limit", "%ld", bytes);
	if (bytes > MAILBOX_SIZE_DEFAULT)	/* local(8) refuses a smaller mailbox limit */
		set_main(g, "mailbox_size_limit", "%ld", bytes);
	set_main(g, "smtpd_helo_required", "%s", pf->helo_required ? "yes" : "no");
	duration(pf->queue_lifetime, d, sizeof(d));
	set_main(g, "maximal_queue_lifetime", "%s", d);
	if (pf->queue_lifetime < 5 * 86400L)	/* bounces live no longer than mail */
		set_main(g, "bounce_queue_lifetime", "%s", d);
	if (pf->client_limits.enabled) {
		set_main(g, "smtpd_client_connection_count_limit", "%d", pf->client_limits.connections);
		set_main(g, "smtpd_client_connection_rate_limit", "%d", pf->client_limits.rate);
		duration(pf->client_limits.window, d, sizeof(d));
		set_main(g, "anvil_rate_time_unit", "%s", d);
	}
}

static void
gen_postscreen(struct gen *g)
{
	const struct postfix_conf *pf = &g->cfg->postfix;
	char d[32];

	if (!pf->postscreen.enabled)
		return;
	duration(pf->postscreen.greet_wait, d, sizeof(d));
	set_main(g, "postscreen_greet_wait", "%s", d);
	set_main(g, "postscreen_greet_action", "enforce");
	duration(pf->postscreen.cache_retention, d, sizeof(d));
	set_main(g, "postscreen_greet_ttl", "%s", d);
	set_main(g, "postscreen_cache_retention_time", "%s", d);
	set_main(g, "postscreen_access_list", "permit_mynetworks");
	set_master(g, pf->postscreen.service, "inet", "n       -       n       -       1       postscreen");
	set_master(g, "smtpd", "pass", "-       -       n       -       -       smtpd");
	set_master(g, "dnsblog", "unix", "-       -       n       -       0       dnsblog");
	set_master(g, "tlsproxy", "unix", "-       -       n       -       0       tlsproxy");
	note(g, "postscreen: master.cf's '%s inet' smtpd becomes postscreen; move its -o "
	     "options to 'smtpd pass'", pf->postscreen.service);
}

/* The listener the milter re-injects SRS copies to (milter.srs.reinject):
 * no milters, no address mappings, no policy service, loopback only. */
static void
gen_reinject(struct gen *g)
{
	const struct endpoint *ep = &g->cfg->milter.srs.reinject;
	char service[300], fields[700];

	if (!g->cfg->milter.srs.reinject_set)
		return;
	if (ep->kind != ENDPOINT_INET) {
		note(g, "milter.srs.reinject is a unix socket: make its listener by hand");
		return;
	}
	snprintf(service, sizeof(service), strchr(ep->host, ':') ? "[%s]:%s" : "%s:%s",
		 ep->host, ep->port);
	snprintf(fields, sizeof(fields),
		 "n       -       n       -       -       smtpd -o smtpd_milters= "
		 "-o receive_override_options=no_address_mappings,no_milters "
		 "-o smtpd_client_restrictions= -o smtpd_sender_restrictions= "
		 "-o smtpd_end_of_data_restrictions= "
		 "-o smtpd_recipient_restrictions=permit_mynetworks,reject "
		 "-o mynetworks=%s%s%s/%s",
		 strchr(ep->host, ':') ? "[" : "", ep->host, strchr(ep->host, ':') ? "]" : "",
		 strchr(ep->host, ':') ? "128" : "32");
	set_master(g, service, "inet", fields);
}

int
postconf_generate(const struct sluice_config *cfg, struct pc_output *out)
{
	struct gen g = { .cfg = cfg, .out = out };

	memset(out, 0, sizeof(*out));
	gen_networks(&g);
	gen_routing(&g);
	gen_milter(&g);
	gen_restrictions(&g);
	gen_limits(&g);
	gen_postscreen(&g);
	gen_reinject(&g);
	if (g.oom) {
		postconf_output_free(out);
		return -1;
	}
	return 0;
}

const char *
postconf_main_value(const struct pc_output *out, const char *name)
{
	size_t i;

	for (i = 0; i < out->main.count; i++)
		if (strcmp(out->main.items[i].name, name) == 0)
			return out->main.items[i].value;
	return NULL;
}

static void
list_free(struct pc_list *l)
{
	size_t i;

	for (i = 0; i < l->count; i++) {
		free(l->items[i].name);
		free(l->items[i].value);
	}
	free(l->items);
}

void
postconf_output_free(struct pc_output *out)
{
	size_t i;

	list_free(&out->main);
	list_free(&out->master);
	for (i = 0; i < out->note_count; i++)
		free(out->notes[i]);
	free(out->notes);
	for (i = 0; i < out->sasl_count; i++)
		free(out->sasl[i].key);
	free(out->sasl);
	memset(out, 0, sizeof(*out));
}
