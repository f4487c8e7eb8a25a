/*
 * config_milter.c - the milter and dkim groups of sluice.conf: what
 * sluice-milter alone reads (SPF, DKIM verification and DMARC switches,
 * the copies, SRS; the signing keys and how they sign).
 *
 * Kept apart from config.c, as the policyd group is (config_policyd.c),
 * so that each file is one daemon's schema. Interface in config_read.h:
 * cfg_read_milter() and cfg_read_dkim(), called by config.c's read_root()
 * with the defaults already set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "config_read.h"

/* milter.srs = { domain; secret_file; max_age_days; reinject; }: both of the first
 * two, or the group absent (SRS off). The secret is read by the milter's
 * alias module at open, so "sluice-milter -t" checks it too. */
static int
read_srs(struct cfg_reader *rd, const config_setting_t *milter, struct srs_conf *srs)
{
	static const char *const members[] = { "domain", "secret_file", "max_age_days", "reinject", NULL };
	const config_setting_t *g;

	srs->max_age_days = 21;
	if (cfg_group(rd, milter, "srs", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	srs->line = cfg_setting_line(g, rd->path);
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_string(rd, g, "domain", &srs->domain) < 0
	    || cfg_read_string(rd, g, "secret_file", &srs->secret_file) < 0
	    || cfg_read_int(rd, g, "max_age_days", 1, 1000, &srs->max_age_days) < 0
	    || cfg_read_endpoint(rd, g, "reinject", &srs->reinject) < 0)
		return -1;
	srs->reinject_set = config_setting_get_member(g, "reinject") != NULL;
	if (srs->domain == NULL || cfg_check_domain(srs->domain) != NULL)
		return cfg_fail(rd, g, "srs.domain: must be a domain");
	if (srs->secret_file == NULL || srs->secret_file[0] != '/')
		return cfg_fail(rd, g, "srs.secret_file: must be an absolute path");
	return 0;
}

/*
 * The three copies are addresses (milter/copies.c); "" means no copy,
 * as when unset.
 */
int
cfg_read_milter(struct cfg_reader *rd, const config_setting_t *root, struct milter_conf *m)
{
	static const char *const members[] = {
		"listen", "pid_file", "authserv_id", "spf", "dkim_verify", "dmarc",
		"dmarc_reject", "dmarc_quarantine", "dns_timeout", "always_bcc", "incoming_copy",
		"outgoing_copy", "fail_open", "srs", "metrics", NULL
	};
	static const char *const copies[] = { "always_bcc", "incoming_copy", "outgoing_copy" };
	char **copy_fields[] = { &m->always_bcc, &m->incoming_copy, &m->outgoing_copy };
	const config_setting_t *g;
	long dns_timeout = m->dns_timeout_ms / 1000;
	size_t i;

	if (cfg_group(rd, root, "milter", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_endpoint(rd, g, "listen", &m->listen) < 0
	    || cfg_read_metrics_endpoint(rd, g, &m->metrics_set, &m->metrics) < 0
	    || cfg_read_string(rd, g, "pid_file", &m->pid_file) < 0
	    || cfg_read_string(rd, g, "authserv_id", &m->authserv_id) < 0
	    || cfg_read_bool(rd, g, "spf", &m->spf) < 0
	    || cfg_read_bool(rd, g, "dkim_verify", &m->dkim_verify) < 0
	    || cfg_read_bool(rd, g, "dmarc", &m->dmarc) < 0
	    || cfg_read_bool(rd, g, "dmarc_reject", &m->dmarc_reject) < 0
	    || cfg_read_bool(rd, g, "fail_open", &m->fail_open) < 0
	    || cfg_read_bool(rd, g, "dmarc_quarantine", &m->dmarc_quarantine) < 0
	    || cfg_read_duration(rd, g, "dns_timeout", 1, 60, &dns_timeout) < 0)
		return -1;
	m->dns_timeout_ms = dns_timeout * 1000;
	if (cfg_check_domain(m->authserv_id) != NULL)
		return cfg_fail(rd, config_setting_get_member(g, "authserv_id"),
				   "authserv_id: must be a host name");
	for (i = 0; i < 3; i++) {
		struct address addr;
		const char *why = NULL;

		if (cfg_read_string(rd, g, copies[i], copy_fields[i]) < 0)
			return -1;
		if (*copy_fields[i] == NULL)
			continue;
		if (**copy_fields[i] == '\0') {
			free(*copy_fields[i]);	/* "": no copy, as when unset */
			*copy_fields[i] = NULL;
			continue;
		}
		if (address_parse(*copy_fields[i], &addr, &why) < 0 || addr.is_null
		    || addr.domain[0] == '\0' || addr.domain_is_literal)
			return cfg_fail(rd, config_setting_get_member(g, copies[i]),
					"%s: '%s' is not a mailbox address (local@domain)%s%s",
					copies[i], *copy_fields[i], why ? ": " : "", why ? why : "");
	}
	return read_srs(rd, g, &m->srs);
}

static int
read_canon(struct cfg_reader *rd, const config_setting_t *g, const char *name,
	   enum canon *out)
{
	char *value = NULL;
	int rc = 0;

	if (cfg_read_string(rd, g, name, &value) < 0)
		return -1;
	if (value == NULL)
		return 0;
	if (strcmp(value, "relaxed") == 0)
		*out = CANON_RELAXED;
	else if (strcmp(value, "simple") == 0)
		*out = CANON_SIMPLE;
	else
		rc = cfg_fail(rd, config_setting_get_member(g, name),
				 "%s: must be \"relaxed\" or \"simple\"", name);
	free(value);
	return rc;
}

static int
read_dkim_key(struct cfg_reader *rd, const config_setting_t *e, struct dkim_key_conf *k)
{
	static const char *const members[] = { "domain", "selector", "key", NULL };
	char where[600];
	const char *why;

	if (!config_setting_is_group(e))
		return cfg_fail(rd, e, "keys: each entry must be { domain; selector; key; }");
	if (cfg_check_members(rd, e, members) < 0
	    || cfg_read_string(rd, e, "domain", &k->domain) < 0
	    || cfg_read_string(rd, e, "selector", &k->selector) < 0
	    || cfg_read_string(rd, e, "key", &k->key_path) < 0)
		return -1;
	if (!k->domain || !k->selector || !k->key_path)
		return cfg_fail(rd, e, "keys: an entry needs domain, selector and key");
	if ((why = cfg_check_domain(k->domain)) != NULL)
		return cfg_fail(rd, e, "keys: domain '%s': %s", k->domain, why);
	if (cfg_check_domain(k->selector) != NULL)
		return cfg_fail(rd, e, "keys: selector '%s' is not a valid DNS label", k->selector);
	if (k->key_path[0] != '/')
		return cfg_fail(rd, e, "keys: key '%s' must be an absolute path", k->key_path);
	snprintf(where, sizeof(where), "%s:%d",
		 config_setting_source_file(e) ? config_setting_source_file(e) : rd->path,
		 cfg_setting_line(e, rd->path));
	free(k->source);
	if ((k->source = strdup(where)) == NULL)
		return cfg_fail(rd, e, "keys: out of memory");
	return 0;
}

int
cfg_read_dkim(struct cfg_reader *rd, const config_setting_t *root, struct dkim_conf *d)
{
	static const char *const members[] = {
		"sign", "header_canon", "body_canon", "headers", "oversign", "keys",
		"subdomains", "expire", NULL
	};
	const config_setting_t *g, *keys;
	unsigned i, n;

	if (cfg_group(rd, root, "dkim", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_bool(rd, g, "sign", &d->sign) < 0
	    || read_canon(rd, g, "header_canon", &d->header_canon) < 0
	    || read_canon(rd, g, "body_canon", &d->body_canon) < 0
	    || cfg_read_strlist(rd, g, "headers", cfg_check_header_name, false, &d->headers) < 0
	    || cfg_read_strlist(rd, g, "oversign", cfg_check_header_name, false, &d->oversign) < 0
	    || cfg_read_bool(rd, g, "subdomains", &d->subdomains) < 0
	    || cfg_read_duration(rd, g, "expire", 0, 366L * 86400, &d->expire) < 0)
		return -1;
	if ((keys = config_setting_get_member(g, "keys")) == NULL)
		return 0;
	if (!config_setting_is_list(keys))
		return cfg_fail(rd, keys, "keys: must be a list ( { ... }, ... )");
	n = (unsigned)config_setting_length(keys);
	if ((d->keys = calloc(n + 1, sizeof(*d->keys))) == NULL)
		return cfg_fail(rd, keys, "keys: out of memory");
	for (i = 0; i < n; i++) {
		d->key_count = i + 1;
		if (read_dkim_key(rd, config_setting_get_elem(keys, i), &d->keys[i]) < 0)
			return -1;
	}
	return 0;
}
