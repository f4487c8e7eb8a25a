/*
 * config_dnsbl.c - the policyd.dnsbl group:
 *   dnsbl = { threshold = 3; budget = "2s"; negative_ttl = "5m";
 *             zones = ( "zen.example.test=127.0.0.[2..11]*3", "wl.test*-5" ); }
 * Off while zones is empty. budget is "1500ms" or a duration in seconds
 * (100 ms to 30 s: far below Postfix's 100 s policy timeout). Each zone
 * entry's error names its own FILE:LINE.
 */
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

static int
read_budget(struct cfg_reader *rd, const config_setting_t *g, struct dnsbl_conf *d)
{
	const config_setting_t *s = config_setting_get_member(g, "budget");
	long seconds = d->budget_ms / 1000;

	if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *text = config_setting_get_string(s);
		size_t len = strlen(text);

		if (len > 2 && strcmp(text + len - 2, "ms") == 0) {
			char *end;
			long ms = strtol(text, &end, 10);

			if (end != text + len - 2 || ms < 100 || ms > 30000)
				return cfg_fail(rd, s, "budget: '%s' must be 100ms to 30000ms", text);
			d->budget_ms = ms;
			return 0;
		}
	}
	if (cfg_read_duration(rd, g, "budget", 1, 30, &seconds) < 0)
		return -1;
	d->budget_ms = seconds * 1000;
	return 0;
}

static int
read_zones(struct cfg_reader *rd, const config_setting_t *g, struct dnsbl_conf *d)
{
	const config_setting_t *list = config_setting_get_member(g, "zones");
	int i, n;

	if (list == NULL)
		return 0;
	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return cfg_fail(rd, list, "zones: must be a list of \"zone=filter*weight\" strings");
	n = config_setting_length(list);
	if (n > DNSBL_ZONES_MAX)
		return cfg_fail(rd, list, "zones: at most %d entries", DNSBL_ZONES_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *why = NULL;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return cfg_fail(rd, e, "zones: entries are strings like \"zone=127.0.0.[2..11]*3\"");
		if (dnsbl_zone_parse(config_setting_get_string(e), &d->zones[i], &why) < 0)
			return cfg_fail(rd, e, "zones: '%s': %s", config_setting_get_string(e), why);
	}
	d->zone_count = (size_t)n;
	return 0;
}

int
cfg_read_dnsbl(struct cfg_reader *rd, const config_setting_t *policyd, struct dnsbl_conf *d)
{
	static const char *const members[] = {
		"threshold", "budget", "negative_ttl", "zones", NULL
	};
	const config_setting_t *g;

	if (cfg_group(rd, policyd, "dnsbl", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || cfg_read_int(rd, g, "threshold", 1, 100000, &d->threshold) < 0
	    || read_budget(rd, g, d) < 0
	    || cfg_read_duration(rd, g, "negative_ttl", 10, 86400, &d->negative_ttl) < 0
	    || read_zones(rd, g, d) < 0
	    ? -1 : 0;
}
