/*
 * config_policyd.c - the policyd group of sluice.conf.
 *
 * Kept apart from config.c because it is the largest group and the one
 * later checks extend (rate limits, recipient validation, relaying list).
 * The rate limits (ratelimit, ratelimit_exempt) are read in
 * config_ratelimit.c. The access settings (relay,
 * require_reverse_dns, enforce_sender_login) are read in config_access.c,
 * recipients in config_recipients.c.
 */
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

#define DAY 86400L

/* In seconds in the file (1 to 60: far below Postfix's 100 s policy
 * timeout), in milliseconds inside. */
static int
read_spf_timeout(struct cfg_reader *rd, const config_setting_t *g, struct policyd_conf *p)
{
	long seconds = p->spf_timeout_ms / 1000;

	if (cfg_read_duration(rd, g, "spf_timeout", 1, 60, &seconds) < 0)
		return -1;
	p->spf_timeout_ms = seconds * 1000;
	return 0;
}

static int
read_greylist(struct cfg_reader *rd, const config_setting_t *policyd,
	      struct greylist_conf *gl)
{
	static const char *const members[] = {
		"enabled", "delay", "retry_window", "auto_allowlist", "ipv4_prefix",
		"ipv6_prefix", "spf_bypass", "spf_domain_triplet",
		"auto_allowlist_clients", "add_header", "allow_networks",
		"allow_client_domains", "allow_senders", "allow_recipients", NULL
	};
	const config_setting_t *g;

	if (cfg_group(rd, policyd, "greylist", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_bool(rd, g, "enabled", &gl->enabled) < 0
	    || cfg_read_duration(rd, g, "delay", 0, DAY, &gl->delay) < 0
	    || cfg_read_duration(rd, g, "retry_window", 60, 30 * DAY, &gl->retry_window) < 0
	    || cfg_read_duration(rd, g, "auto_allowlist", 60, 365 * DAY, &gl->auto_allowlist) < 0
	    || cfg_read_int(rd, g, "ipv4_prefix", 8, 32, &gl->ipv4_prefix) < 0
	    || cfg_read_int(rd, g, "ipv6_prefix", 16, 128, &gl->ipv6_prefix) < 0
	    || cfg_read_bool(rd, g, "spf_bypass", &gl->spf_bypass) < 0
	    || cfg_read_bool(rd, g, "spf_domain_triplet", &gl->spf_domain_triplet) < 0
	    || cfg_read_int(rd, g, "auto_allowlist_clients", 0, 1000, &gl->auto_allowlist_clients) < 0
	    || cfg_read_bool(rd, g, "add_header", &gl->add_header) < 0
	    || cfg_read_netlist(rd, g, "allow_networks", &gl->allow_networks) < 0
	    || cfg_read_patterns(rd, g, "allow_client_domains", cfg_check_domain, true,
				    &gl->allow_client_domains) < 0
	    || cfg_read_patterns(rd, g, "allow_senders", cfg_check_pattern, false,
				    &gl->allow_senders) < 0
	    || cfg_read_patterns(rd, g, "allow_recipients", cfg_check_pattern, false,
				    &gl->allow_recipients) < 0)
		return -1;
	if (gl->delay >= gl->retry_window)
		return cfg_fail(rd, g, "greylist: delay must be shorter than retry_window");
	return 0;
}

int
cfg_read_policyd(struct cfg_reader *rd, const config_setting_t *root,
		    struct policyd_conf *p)
{
	static const char *const members[] = {
		"listen", "pid_file", "fail_open", "max_connections", "workers",
		"idle_timeout", "request_timeout", "test_clock", "spf_timeout",
		"greylist", "ratelimit", "ratelimit_exempt", "recipients", "relay", "max_recipients",
		"require_reverse_dns", "enforce_sender_login", "relay_exact_domain",
		"reverse_dns_code", "dnsbl", "metrics", NULL
	};
	const config_setting_t *g;

	if (cfg_group(rd, root, "policyd", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || cfg_read_endpoint(rd, g, "listen", &p->listen) < 0
	    || cfg_read_metrics_endpoint(rd, g, &p->metrics_set, &p->metrics) < 0
	    || cfg_read_string(rd, g, "pid_file", &p->pid_file) < 0
	    || cfg_read_bool(rd, g, "fail_open", &p->fail_open) < 0
	    || cfg_read_int(rd, g, "max_connections", 1, 100000, &p->max_connections) < 0
	    || cfg_read_int(rd, g, "workers", 1, 64, &p->workers) < 0
	    || cfg_read_duration(rd, g, "idle_timeout", 10, DAY, &p->idle_timeout) < 0
	    || cfg_read_duration(rd, g, "request_timeout", 1, 300, &p->request_timeout) < 0
	    || read_spf_timeout(rd, g, p) < 0
	    || cfg_read_bool(rd, g, "test_clock", &p->test_clock) < 0
	    || read_greylist(rd, g, &p->greylist) < 0
	    || cfg_read_ratelimit(rd, g, &p->ratelimit) < 0
	    || cfg_read_recipients(rd, g, &p->recipients) < 0
	    || cfg_read_int(rd, g, "max_recipients", 0, 100000, &p->max_recipients) < 0
	    || cfg_read_access(rd, g, p) < 0
	    || cfg_read_dnsbl(rd, g, &p->dnsbl) < 0
	    ? -1 : 0;
}
