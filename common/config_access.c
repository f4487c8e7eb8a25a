/*
 * config_access.c - policyd's access settings: the relaying list
 * (policyd.relay, policyd.relay_exact_domain), require_reverse_dns and
 * its reply code, enforce_sender_login.
 *
 *   relay = ( { match = "anyideas.de"; option = "to"; action = "relay"; },
 *             { match = "192.0.2.0/30"; action = "relay"; } );
 *
 * match is a domain, a host name, an IP or a CIDR block; option "none"
 * (default), "from", "to" or "connect"; action "relay", "reject" or "ok"
 * (required: an entry that does nothing by default would be a trap).
 * An IP/CIDR is the connecting client, so it takes option none or
 * connect only: "from" with an IP would never match. Every error names
 * FILE:LINE of the entry. At most RELAY_ENTRIES_MAX entries: matching
 * is a linear walk per recipient.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_read.h"

#define RELAY_ENTRIES_MAX 1000

static int
pick(struct cfg_reader *rd, const config_setting_t *where, const char *name,
     const char *value, const char *const *names, int *out)
{
	int i;

	for (i = 0; names[i]; i++)
		if (strcasecmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return cfg_fail(rd, where, "%s: \"%s\" is not one of %s", name, value,
			names[3] ? "\"none\", \"from\", \"to\", \"connect\""
				 : "\"relay\", \"reject\", \"ok\"");
}

static int
read_entry(struct cfg_reader *rd, const config_setting_t *e, struct relay_entry *out)
{
	static const char *const members[] = { "match", "option", "action", NULL };
	static const char *const options[] = { "none", "from", "to", "connect", NULL };
	static const char *const actions[] = { "relay", "reject", "ok", NULL, NULL };
	char *match = NULL, *option = NULL, *action = NULL;
	const char *why;
	int opt = RELAY_OPTION_NONE, act = 0, rc = -1;
	size_t i;

	if (!config_setting_is_group(e))
		return cfg_fail(rd, e, "relay: each entry is a group { match; option; action; }");
	if (cfg_check_members(rd, e, members) < 0
	    || cfg_read_string(rd, e, "match", &match) < 0
	    || cfg_read_string(rd, e, "option", &option) < 0
	    || cfg_read_string(rd, e, "action", &action) < 0)
		goto out;
	if (match == NULL || action == NULL) {
		cfg_fail(rd, e, "relay: an entry needs match and action");
		goto out;
	}
	if ((option && pick(rd, config_setting_get_member(e, "option"), "option", option,
			    options, &opt) < 0)
	    || pick(rd, config_setting_get_member(e, "action"), "action", action, actions,
		    &act) < 0)
		goto out;
	out->option = (enum relay_option)opt;
	out->action = (enum relay_action)act;
	if (net_cidr_parse(match, &out->network) == 0) {
		if (opt == RELAY_OPTION_FROM || opt == RELAY_OPTION_TO) {
			cfg_fail(rd, e, "relay: \"%s\" is an address, which matches the "
				 "connecting client: option must be \"none\" or \"connect\"", match);
			goto out;
		}
		out->is_network = true;
		out->match = strdup("");
	} else {
		if ((why = cfg_check_domain(match)) != NULL) {
			cfg_fail(rd, config_setting_get_member(e, "match"), "match: '%s': %s",
				 match, why);
			goto out;
		}
		for (i = 0; match[i]; i++)
			if (match[i] >= 'A' && match[i] <= 'Z')
				match[i] = (char)(match[i] - 'A' + 'a');
		out->match = match;
		match = NULL;
	}
	rc = out->match ? 0 : cfg_fail(rd, e, "out of memory");
out:
	free(match);
	free(option);
	free(action);
	return rc;
}

static int
read_relay(struct cfg_reader *rd, const config_setting_t *policyd, struct relay_conf *relay)
{
	const config_setting_t *list = config_setting_get_member(policyd, "relay");
	int n, i;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return cfg_fail(rd, list, "relay: must be a list ( { match; option; action; }, ... )");
	n = config_setting_length(list);
	if (n > RELAY_ENTRIES_MAX)
		return cfg_fail(rd, list, "relay: more than %d entries", RELAY_ENTRIES_MAX);
	if (n == 0)
		return 0;
	relay_conf_free(relay);
	if ((relay->entries = calloc((size_t)n, sizeof(*relay->entries))) == NULL)
		return cfg_fail(rd, list, "out of memory");
	for (i = 0; i < n; i++) {
		if (read_entry(rd, config_setting_get_elem(list, (unsigned)i),
			       &relay->entries[relay->count]) < 0)
			return -1;
		relay->count++;
	}
	return 0;
}

int
cfg_read_access(struct cfg_reader *rd, const config_setting_t *policyd,
		   struct policyd_conf *p)
{
	if (read_relay(rd, policyd, &p->access.relay) < 0
	    || cfg_read_bool(rd, policyd, "relay_exact_domain", &p->access.relay.exact_domain) < 0
	    || cfg_read_bool(rd, policyd, "require_reverse_dns", &p->require_reverse_dns) < 0
	    || cfg_read_int(rd, policyd, "reverse_dns_code", 450, 550,
			       &p->access.reverse_dns_code) < 0
	    || cfg_read_bool(rd, policyd, "enforce_sender_login", &p->enforce_sender_login) < 0)
		return -1;
	if (p->access.reverse_dns_code != 450 && p->access.reverse_dns_code != 550)
		return cfg_fail(rd, config_setting_get_member(policyd, "reverse_dns_code"),
				"reverse_dns_code: must be 450 or 550");
	return 0;
}

void
relay_conf_free(struct relay_conf *relay)
{
	size_t i;

	for (i = 0; i < relay->count; i++)
		free(relay->entries[i].match);
	free(relay->entries);
	relay->entries = NULL;
	relay->count = 0;
}
