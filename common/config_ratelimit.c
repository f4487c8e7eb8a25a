/*
 * config_ratelimit.c - policyd.ratelimit and policyd.ratelimit_exempt.
 *
 *   ratelimit = (
 *     { name = "client-connections"; subject = "client"; count = "connections";
 *       limit = 5; window = "60s"; direction = "inbound"; },
 *     { subject = "sasl_user"; count = "recipients"; limit = 500; window = "1h";
 *       direction = "outbound"; }
 *   );
 *   ratelimit_exempt = { networks = [ ]; senders = [ ]; sasl_users = [ ]; };
 *
 * A rule is refused when it cannot count anything: what a stage does not
 * know (the sender at CONNECT, one recipient for a whole message) is not
 * a subject of that stage's count, so "connections" go with "client"
 * only and "messages" with anything but "recipient". Up to
 * RATELIMIT_RULES_MAX rules: each applicable rule is one script call in
 * the request's round trip, so the bound is a bound on that pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

#define WEEK (7 * 86400L)

/* value of member name among choices[] (NULL-terminated), or -1 (error set) */
static int
read_choice(struct cfg_reader *rd, const config_setting_t *e, const char *name,
	    const char *const *choices, int dflt, const char *hint, int *out)
{
	char *text = NULL;
	int i;

	*out = dflt;
	if (cfg_read_string(rd, e, name, &text) < 0)
		return -1;
	if (text == NULL)
		return dflt < 0 ? cfg_fail(rd, e, "ratelimit: a rule needs %s (%s)", name, hint) : 0;
	for (i = 0; choices[i]; i++)
		if (strcmp(text, choices[i]) == 0)
			break;
	free(text);
	if (choices[i] == NULL)
		return cfg_fail(rd, config_setting_get_member(e, name), "ratelimit: %s: must be %s",
				name, hint);
	*out = i;
	return 0;
}

static int
read_rule(struct cfg_reader *rd, const config_setting_t *e, size_t index,
	  struct ratelimit_rule *r)
{
	static const char *const members[] = {
		"name", "subject", "count", "limit", "window", "direction",
		"ipv4_prefix", "ipv6_prefix", NULL
	};
	static const char *const subjects[] = {
		[RL_CLIENT] = "client", [RL_SENDER] = "sender",
		[RL_SENDER_DOMAIN] = "sender_domain", [RL_SASL_USER] = "sasl_user",
		[RL_RECIPIENT] = "recipient", NULL
	};
	static const char *const counts[] = {
		[RL_CONNECTIONS] = "connections", [RL_MESSAGES] = "messages",
		[RL_RECIPIENTS] = "recipients", NULL
	};
	static const char *const directions[] = {
		[RL_INBOUND] = "inbound", [RL_OUTBOUND] = "outbound", [RL_ANY] = "any", NULL
	};
	int subject, count, direction;

	if (!config_setting_is_group(e))
		return cfg_fail(rd, e, "ratelimit: each rule must be a group "
				"{ subject; count; limit; window; }");
	r->limit = 0;
	r->window = 0;
	r->ipv4_prefix = 32;
	r->ipv6_prefix = 128;
	if (cfg_check_members(rd, e, members) < 0
	    || cfg_read_string(rd, e, "name", &r->name) < 0
	    || read_choice(rd, e, "subject", subjects, -1, "\"client\", \"sender\", "
			   "\"sender_domain\", \"sasl_user\" or \"recipient\"", &subject) < 0
	    || read_choice(rd, e, "count", counts, -1,
			   "\"connections\", \"messages\" or \"recipients\"", &count) < 0
	    || read_choice(rd, e, "direction", directions, RL_INBOUND,
			   "\"inbound\", \"outbound\" or \"any\"", &direction) < 0
	    || cfg_read_int(rd, e, "limit", 1, 1000000, &r->limit) < 0
	    || cfg_read_duration(rd, e, "window", 1, WEEK, &r->window) < 0
	    || cfg_read_int(rd, e, "ipv4_prefix", 8, 32, &r->ipv4_prefix) < 0
	    || cfg_read_int(rd, e, "ipv6_prefix", 16, 128, &r->ipv6_prefix) < 0)
		return -1;
	if (r->limit == 0 || r->window == 0)
		return cfg_fail(rd, e, "ratelimit: a rule needs limit and window");
	r->subject = (enum rl_subject)subject;
	r->count = (enum rl_count)count;
	r->direction = (enum rl_direction)direction;
	if (r->count == RL_CONNECTIONS && r->subject != RL_CLIENT)
		return cfg_fail(rd, e, "ratelimit: connections are counted at CONNECT, where only "
				"the client is known: subject must be \"client\"");
	if (r->count == RL_MESSAGES && r->subject == RL_RECIPIENT)
		return cfg_fail(rd, e, "ratelimit: a message has many recipients: count "
				"\"recipients\" per recipient instead");
	if (r->name == NULL) {
		char name[32];

		snprintf(name, sizeof(name), "rule%zu", index + 1);
		if ((r->name = strdup(name)) == NULL)
			return cfg_fail(rd, e, "ratelimit: out of memory");
	} else if (r->name[0] == '\0' || strlen(r->name) > 64
		   || strspn(r->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789-_.") != strlen(r->name)) {
		return cfg_fail(rd, config_setting_get_member(e, "name"),
				"ratelimit: name: 1 to 64 letters, digits, '-', '_' or '.'");
	}
	return 0;
}

static int
read_rules(struct cfg_reader *rd, const config_setting_t *policyd, struct ratelimit_conf *rl)
{
	const config_setting_t *list = config_setting_get_member(policyd, "ratelimit");
	unsigned i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list))
		return cfg_fail(rd, list, "ratelimit: must be a list of rules ( { ... }, ... )");
	n = (unsigned)config_setting_length(list);
	if (n > RATELIMIT_RULES_MAX)
		return cfg_fail(rd, list, "ratelimit: at most %d rules", RATELIMIT_RULES_MAX);
	for (i = 0; i < n; i++) {
		rl->rule_count = i + 1;
		const config_setting_t *e = config_setting_get_elem(list, i);
		unsigned j;

		if (read_rule(rd, e, i, &rl->rules[i]) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(rl->rules[j].name, rl->rules[i].name) == 0)
				return cfg_fail(rd, e, "ratelimit: name '%s' is used twice",
						rl->rules[i].name);
	}
	return 0;
}

/* A SASL login name as Postfix passes it: printable, no spaces. */
static const char *
check_sasl_user(const char *item)
{
	const unsigned char *p;

	if (*item == '\0' || strlen(item) > 256)
		return "must be 1 to 256 characters";
	for (p = (const unsigned char *)item; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return "spaces and control characters are not allowed";
	return NULL;
}

static int
read_exempt(struct cfg_reader *rd, const config_setting_t *policyd, struct ratelimit_conf *rl)
{
	static const char *const members[] = { "networks", "senders", "sasl_users", NULL };
	const config_setting_t *g;

	if (cfg_group(rd, policyd, "ratelimit_exempt", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || cfg_read_netlist(rd, g, "networks", &rl->exempt_networks) < 0
	    || cfg_read_patterns(rd, g, "senders", cfg_check_pattern, true,
				 &rl->exempt_senders) < 0
	    || cfg_read_strlist(rd, g, "sasl_users", check_sasl_user, false, &rl->exempt_sasl_users) < 0
	    ? -1 : 0;
}

int
cfg_read_ratelimit(struct cfg_reader *rd, const config_setting_t *policyd,
		   struct ratelimit_conf *rl)
{
	return read_rules(rd, policyd, rl) < 0 || read_exempt(rd, policyd, rl) < 0 ? -1 : 0;
}

void
ratelimit_conf_free(struct ratelimit_conf *rl)
{
	size_t i;

	for (i = 0; i < rl->rule_count; i++) {
		free(rl->rules[i].name);
		rl->rules[i].name = NULL;
	}
	rl->rule_count = 0;
	net_list_free(&rl->exempt_networks);
	strlist_free(&rl->exempt_senders);
	strlist_free(&rl->exempt_sasl_users);
}
