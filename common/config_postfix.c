/*
 * config_postfix.c - the postfix group of sluice.conf: Postfix-only
 * settings, which neither daemon uses (they accept the group and ignore
 * it) and `sluice-ctl postconf` turns into main.cf/master.cf lines.
 *
 *   postfix = {
 *     message_size_mb = 20; helo_required = true;
 *     accept_unresolvable_domains = false; queue_lifetime = "5d";
 *     no_address_mappings = true;
 *     postscreen = { enabled; service; greet_wait; cache_retention; };
 *     client_limits = { enabled; connections; rate; window; };
 *     smarthost = { host; port; tls; implicit_tls; sasl_user; sasl_password_file; };
 *     relay_rules = ( { type = "sender"|"recipient"|"default"; match;
 *                       host; port; tls; implicit_tls; sasl_user;
 *                       sasl_password_file; }, ... );
 *   };
 *
 * Why these shapes: the settings are Securepoint's (maximum message size,
 * HELO required, accept unresolvable domains, greeting pause, restriction
 * per client, smarthost) and NethServer's (maximal queue lifetime, relay
 * rules: sender, recipient and one default rule, each with host, port,
 * optional SASL and TLS), in their words. The smarthost is the default
 * rule written the Securepoint way: both at once is an error.
 *
 * Passwords are never read here nor printed anywhere: sasl_password_file
 * is the admin's own Postfix lookup table ("KEY user:password" lines),
 * which the printed smtp_sasl_password_maps names.
 *
 * Rules a hop must follow, each a FILE:LINE error: host is a host name,
 * an IPv4 address or an [IPv6] literal, without a port (port is its own
 * key); sasl_user and sasl_password_file come together and need a TLS
 * level that always encrypts (encrypt, dane-only, verify, secure: the
 * password must not cross the network in clear); implicit_tls needs one
 * too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

static const char *const tls_names[] = {
	[PF_TLS_NONE] = "none", [PF_TLS_MAY] = "may", [PF_TLS_ENCRYPT] = "encrypt",
	[PF_TLS_DANE] = "dane", [PF_TLS_DANE_ONLY] = "dane-only",
	[PF_TLS_VERIFY] = "verify", [PF_TLS_SECURE] = "secure", NULL
};

const char *
postfix_tls_name(enum pf_tls tls)
{
	return tls_names[tls];
}

static bool
tls_always_encrypts(enum pf_tls tls)
{
	return tls == PF_TLS_ENCRYPT || tls == PF_TLS_DANE_ONLY || tls == PF_TLS_VERIFY
	    || tls == PF_TLS_SECURE;
}

static int
read_tls(struct cfg_reader *rd, const config_setting_t *g, enum pf_tls *out)
{
	char *text = NULL;
	int i, rc = 0;

	if (cfg_read_string(rd, g, "tls", &text) < 0)
		return -1;
	if (text == NULL)
		return 0;
	for (i = 0; tls_names[i]; i++)
		if (strcmp(text, tls_names[i]) == 0)
			break;
	if (tls_names[i])
		*out = (enum pf_tls)i;
	else
		rc = cfg_fail(rd, config_setting_get_member(g, "tls"),
			      "tls: must be \"none\", \"may\", \"encrypt\", \"dane\", "
			      "\"dane-only\", \"verify\" or \"secure\" (Postfix's levels)");
	free(text);
	return rc;
}

static int
read_host(struct cfg_reader *rd, const config_setting_t *g, struct pf_hop *h)
{
	const config_setting_t *s = config_setting_get_member(g, "host");
	const char *text, *after, *why = NULL;
	struct relay_hop parsed;

	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_fail(rd, s ? s : g, "host: needs a host name or IP address in double quotes");
	text = config_setting_get_string(s);
	after = text[0] == '[' ? strchr(text, ']') : text;	/* IPv6 has ':' inside [ ] */
	if (after && strchr(after, ':'))
		return cfg_fail(rd, s, "host: '%s': no port here, set port = N;", text);
	if (relay_hop_parse(text, &parsed, &why) < 0)
		return cfg_fail(rd, s, "host: '%s': %s", text, why);
	strcpy(h->hop.host, parsed.host);
	return 0;
}

static int
read_match(struct cfg_reader *rd, const config_setting_t *e, struct pf_hop *h)
{
	const config_setting_t *s = config_setting_get_member(e, "match");
	const char *why;
	char *p;

	if (h->type == PF_RULE_DEFAULT) {
		if (s)
			return cfg_fail(rd, s, "match: a default rule matches everything, it takes none");
		return 0;
	}
	if (cfg_read_string(rd, e, "match", &h->match) < 0)
		return -1;
	if (h->match == NULL)
		return cfg_fail(rd, e, "relay_rules: a %s rule needs match = \"address\" or \"domain\"",
				h->type == PF_RULE_SENDER ? "sender" : "recipient");
	for (p = h->match; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	why = strchr(h->match, '@') ? cfg_check_address(h->match) : cfg_check_domain(h->match);
	if (why)
		return cfg_fail(rd, s, "match: '%s': %s", h->match, why);
	return 0;
}

/* The members every hop has, rule or smarthost. */
static int
read_hop(struct cfg_reader *rd, const config_setting_t *g, const char *what, struct pf_hop *h)
{
	const config_setting_t *user_s = config_setting_get_member(g, "sasl_user");
	char where[600];

	h->hop.port = 25;
	h->tls = PF_TLS_MAY;
	if (read_host(rd, g, h) < 0
	    || cfg_read_int(rd, g, "port", 1, 65535, &h->hop.port) < 0
	    || read_tls(rd, g, &h->tls) < 0
	    || cfg_read_bool(rd, g, "implicit_tls", &h->implicit_tls) < 0
	    || cfg_read_string(rd, g, "sasl_user", &h->sasl_user) < 0
	    || cfg_read_string(rd, g, "sasl_password_file", &h->sasl_password_file) < 0)
		return -1;
	if ((h->sasl_user == NULL) != (h->sasl_password_file == NULL))
		return cfg_fail(rd, g, "%s: sasl_user and sasl_password_file go together", what);
	if (h->sasl_user && (h->sasl_user[0] == '\0' || strpbrk(h->sasl_user, ": \t\r\n")))
		return cfg_fail(rd, user_s, "sasl_user: must be a login without ':' or spaces");
	if (h->sasl_password_file && h->sasl_password_file[0] != '/')
		return cfg_fail(rd, config_setting_get_member(g, "sasl_password_file"),
				"sasl_password_file: must be an absolute path (a Postfix lookup table)");
	if (h->sasl_password_file && strpbrk(h->sasl_password_file, ", \t\r\n"))
		return cfg_fail(rd, config_setting_get_member(g, "sasl_password_file"),
				"sasl_password_file: no spaces or commas in the path");
	if (h->sasl_user && !tls_always_encrypts(h->tls))
		return cfg_fail(rd, user_s, "sasl_user: needs tls = \"encrypt\", \"dane-only\", "
				"\"verify\" or \"secure\": the password must not cross the network in clear");
	if (h->implicit_tls && !tls_always_encrypts(h->tls))
		return cfg_fail(rd, config_setting_get_member(g, "implicit_tls"),
				"implicit_tls: needs tls = \"encrypt\" or stronger");
	snprintf(where, sizeof(where), "%s:%d",
		 config_setting_source_file(g) ? config_setting_source_file(g) : rd->path,
		 cfg_setting_line(g, rd->path));
	if ((h->source = strdup(where)) == NULL)
		return cfg_fail(rd, g, "%s: out of memory", what);
	return 0;
}

static int
read_smarthost(struct cfg_reader *rd, const config_setting_t *pfg, struct postfix_conf *pf)
{
	static const char *const members[] = {
		"host", "port", "tls", "implicit_tls", "sasl_user", "sasl_password_file", NULL
	};
	const config_setting_t *g;

	if (cfg_group(rd, pfg, "smarthost", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	pf->smarthost.type = PF_RULE_DEFAULT;
	if (cfg_check_members(rd, g, members) < 0 || read_hop(rd, g, "smarthost", &pf->smarthost) < 0)
		return -1;
	pf->smarthost_set = true;
	return 0;
}

/* A recipient rule for a relay domain that has a next hop would be a
 * second transport_maps entry for one key. */
static int
check_rule_conflicts(struct cfg_reader *rd, const config_setting_t *e, const struct pf_hop *h,
		     const struct postfix_conf *pf, size_t index, const struct sluice_config *cfg)
{
	size_t i;

	for (i = 0; i < index; i++)
		if (pf->rules[i].type == h->type && strcmp(pf->rules[i].match, h->match) == 0)
			return cfg_fail(rd, e, "relay_rules: a second rule for %s '%s' (first at %s)",
					h->type == PF_RULE_SENDER ? "sender" : "recipient",
					h->match, pf->rules[i].source);
	if (h->type != PF_RULE_RECIPIENT)
		return 0;
	for (i = 0; i < cfg->relay_domains.count; i++)
		if (cfg->relay_hops[i].host[0] && strcmp(cfg->relay_domains.items[i], h->match) == 0)
			return cfg_fail(rd, e, "relay_rules: '%s' has its next hop in domains.relay "
					"already", h->match);
	return 0;
}

static int
read_rules(struct cfg_reader *rd, const config_setting_t *pfg, const struct sluice_config *cfg,
	   struct postfix_conf *pf)
{
	static const char *const members[] = {
		"type", "match", "host", "port", "tls", "implicit_tls", "sasl_user",
		"sasl_password_file", NULL
	};
	static const char *const types[] = {
		[PF_RULE_SENDER] = "sender", [PF_RULE_RECIPIENT] = "recipient",
		[PF_RULE_DEFAULT] = "default", NULL
	};
	const config_setting_t *list = config_setting_get_member(pfg, "relay_rules");
	const config_setting_t *default_at = NULL;
	unsigned i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list))
		return cfg_fail(rd, list, "relay_rules: must be a list ( { type; match; host; ... }, ... )");
	n = (unsigned)config_setting_length(list);
	if (n > PF_RELAY_RULES_MAX)
		return cfg_fail(rd, list, "relay_rules: at most %d rules", PF_RELAY_RULES_MAX);
	if ((pf->rules = calloc(n + 1, sizeof(*pf->rules))) == NULL)
		return cfg_fail(rd, list, "relay_rules: out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		struct pf_hop h = { 0 };
		char *type = NULL;
		int t;

		if (!config_setting_is_group(e))
			return cfg_fail(rd, e, "relay_rules: each rule is a group { type; match; host; ... }");
		if (cfg_check_members(rd, e, members) < 0 || cfg_read_string(rd, e, "type", &type) < 0)
			return -1;
		for (t = 0; type && types[t]; t++)
			if (strcmp(type, types[t]) == 0)
				break;
		if (type == NULL || types[t] == NULL) {
			free(type);
			return cfg_fail(rd, e, "relay_rules: type must be \"sender\", \"recipient\" "
					"or \"default\"");
		}
		free(type);
		h.type = (enum pf_rule_type)t;
		if (h.type == PF_RULE_DEFAULT) {
			if (default_at)
				return cfg_fail(rd, e, "relay_rules: only one default rule (the first "
						"is at line %d)", cfg_setting_line(default_at, rd->path));
			if (pf->smarthost_set)
				return cfg_fail(rd, e, "relay_rules: a default rule and a smarthost: "
						"they are the same thing, keep one");
			default_at = e;
		}
		pf->rules[pf->rule_count++] = h;	/* owned by pf from here, for freeing */
		if (read_match(rd, e, &pf->rules[pf->rule_count - 1]) < 0
		    || read_hop(rd, e, "relay_rules", &pf->rules[pf->rule_count - 1]) < 0)
			return -1;
		if (h.type == PF_RULE_DEFAULT) {
			pf->smarthost = pf->rules[--pf->rule_count];
			pf->smarthost_set = true;
			memset(&pf->rules[pf->rule_count], 0, sizeof(pf->rules[0]));
			continue;
		}
		if (check_rule_conflicts(rd, e, &pf->rules[pf->rule_count - 1], pf,
					 pf->rule_count - 1, cfg) < 0)
			return -1;
	}
	return 0;
}

static int
read_postscreen(struct cfg_reader *rd, const config_setting_t *pfg, struct postfix_conf *pf)
{
	static const char *const members[] = {
		"enabled", "service", "greet_wait", "cache_retention", NULL
	};
	const config_setting_t *g;
	const char *p;

	if (cfg_group(rd, pfg, "postscreen", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_bool(rd, g, "enabled", &pf->postscreen.enabled) < 0
	    || cfg_read_string(rd, g, "service", &pf->postscreen.service) < 0
	    || cfg_read_duration(rd, g, "greet_wait", 1, 60, &pf->postscreen.greet_wait) < 0
	    || cfg_read_duration(rd, g, "cache_retention", 60, 365 * 86400L,
				 &pf->postscreen.cache_retention) < 0)
		return -1;
	for (p = pf->postscreen.service; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
		      || strchr(".-_:[]", *p)))
			break;
	if (*p || pf->postscreen.service[0] == '\0' || strlen(pf->postscreen.service) > 100)
		return cfg_fail(rd, config_setting_get_member(g, "service"),
				"service: a master.cf service name (\"smtp\", \"127.0.0.1:25\")");
	return 0;
}

static int
read_client_limits(struct cfg_reader *rd, const config_setting_t *pfg, struct postfix_conf *pf)
{
	static const char *const members[] = { "enabled", "connections", "rate", "window", NULL };
	const config_setting_t *g;

	if (cfg_group(rd, pfg, "client_limits", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || cfg_read_bool(rd, g, "enabled", &pf->client_limits.enabled) < 0
	    || cfg_read_int(rd, g, "connections", 0, 10000, &pf->client_limits.connections) < 0
	    || cfg_read_int(rd, g, "rate", 0, 1000000, &pf->client_limits.rate) < 0
	    || cfg_read_duration(rd, g, "window", 1, 86400, &pf->client_limits.window) < 0
	    ? -1 : 0;
}

static int
set_defaults(struct postfix_conf *pf)
{
	pf->message_size_mb = 20;		/* Securepoint: 20 MB */
	pf->helo_required = true;
	pf->accept_unresolvable_domains = false;
	pf->queue_lifetime = 5 * 86400L;	/* NethServer: 120 hours */
	pf->no_address_mappings = true;
	pf->postscreen.greet_wait = 2;		/* Securepoint: 2000 ms */
	pf->postscreen.cache_retention = 86400;	/* passed clients: one day */
	pf->client_limits.connections = 1;	/* Securepoint's example */
	pf->client_limits.rate = 5;
	pf->client_limits.window = 60;
	return (pf->postscreen.service = strdup("smtp")) ? 0 : -1;
}

int
cfg_read_postfix(struct cfg_reader *rd, const config_setting_t *root,
		 const struct sluice_config *cfg, struct postfix_conf *pf)
{
	static const char *const members[] = {
		"message_size_mb", "helo_required", "accept_unresolvable_domains",
		"queue_lifetime", "no_address_mappings", "postscreen", "client_limits",
		"smarthost", "relay_rules", NULL
	};
	const config_setting_t *g;

	if (set_defaults(pf) < 0)
		return cfg_fail(rd, root, "postfix: out of memory");
	if (cfg_group(rd, root, "postfix", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || cfg_read_int(rd, g, "message_size_mb", 1, 2000, &pf->message_size_mb) < 0
	    || cfg_read_bool(rd, g, "helo_required", &pf->helo_required) < 0
	    || cfg_read_bool(rd, g, "accept_unresolvable_domains",
			     &pf->accept_unresolvable_domains) < 0
	    || cfg_read_duration(rd, g, "queue_lifetime", 3600, 100 * 86400L,
				 &pf->queue_lifetime) < 0
	    || cfg_read_bool(rd, g, "no_address_mappings", &pf->no_address_mappings) < 0
	    || read_postscreen(rd, g, pf) < 0
	    || read_client_limits(rd, g, pf) < 0
	    || read_smarthost(rd, g, pf) < 0
	    || read_rules(rd, g, cfg, pf) < 0
	    ? -1 : 0;
}

static void
hop_free(struct pf_hop *h)
{
	free(h->match);
	free(h->sasl_user);
	free(h->sasl_password_file);
	free(h->source);
}

void
postfix_conf_free(struct postfix_conf *pf)
{
	size_t i;

	free(pf->postscreen.service);
	hop_free(&pf->smarthost);
	for (i = 0; i < pf->rule_count; i++)
		hop_free(&pf->rules[i]);
	free(pf->rules);
}
