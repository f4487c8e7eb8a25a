/*
 * config_recipients.c - policyd.recipients: recipient validation.
 *
 *   recipients = {
 *     validate = "off" | "list" | "smtp" | "ldap";
 *     positive_ttl = "1h"; negative_ttl = "5m";   (smtp, ldap: Redis cache)
 *     timeout = "5s";        one probe or lookup, connect included
 *     concurrency = 4;       probes at once per internal server
 *     idle_timeout = "10s";  an idle probe connection is closed after this
 *     ldap_uri; ldap_bind_dn; ldap_password_file; ldap_base; ldap_filter;
 *   };
 *
 * Contract: validate = "ldap" needs ldap_uri and ldap_base; the filter
 * (default "(|(mail=%s)(proxyAddresses=smtp:%s))") has %s where the
 * escaped address goes, and no other '%' directive, so that nothing in
 * the file can make the lookup read memory it should not. The password is
 * read at load, while still root, as the Redis one is.
 */
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

#define LDAP_FILTER_MAX 512
#define LDAP_PASSWORD_MAX 256

static const char default_filter[] = "(|(mail=%s)(proxyAddresses=smtp:%s))";

int
config_recipients_defaults(struct recipients_conf *r)
{
	r->validate = VALIDATE_OFF;
	r->positive_ttl = 3600;
	r->negative_ttl = 300;
	r->timeout_ms = 5000;
	r->concurrency = 4;
	r->idle_ms = 10000;
	r->ldap_filter = strdup(default_filter);
	return r->ldap_filter ? 0 : -1;
}

/* %s only, at most 8 of them; %% is not needed in a filter (RFC 4515
 * writes a literal '%' as itself, and we refuse it to keep this simple). */
static const char *
check_filter(const char *f)
{
	const char *p;
	int n = 0;

	if (strlen(f) > LDAP_FILTER_MAX)
		return "ldap_filter: longer than 512 characters";
	if (f[0] != '(' || f[strlen(f) - 1] != ')')
		return "ldap_filter: must be an LDAP filter in ( )";
	for (p = f; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] != 's')
			return "ldap_filter: only %s (the address) may follow a '%'";
		n++;
	}
	if (n == 0)
		return "ldap_filter: needs %s where the address goes";
	return n > 8 ? "ldap_filter: at most 8 %s" : NULL;
}

static int
read_seconds_ms(struct cfg_reader *rd, const config_setting_t *g, const char *name,
		long min, long max, long *ms)
{
	long seconds = *ms / 1000;

	if (cfg_read_duration(rd, g, name, min, max, &seconds) < 0)
		return -1;
	*ms = seconds * 1000;
	return 0;
}

static int
read_mode(struct cfg_reader *rd, const config_setting_t *g, struct recipients_conf *r)
{
	char *mode = NULL;
	int rc = 0;

	if (cfg_read_string(rd, g, "validate", &mode) < 0)
		return -1;
	if (mode == NULL || strcmp(mode, "off") == 0)
		r->validate = VALIDATE_OFF;
	else if (strcmp(mode, "list") == 0)
		r->validate = VALIDATE_LIST;
	else if (strcmp(mode, "smtp") == 0)
		r->validate = VALIDATE_SMTP;
	else if (strcmp(mode, "ldap") == 0)
		r->validate = VALIDATE_LDAP;
	else
		rc = cfg_fail(rd, config_setting_get_member(g, "validate"),
			      "validate: must be \"off\", \"list\", \"smtp\" or \"ldap\"");
	free(mode);
	return rc;
}

static int
read_ldap(struct cfg_reader *rd, const config_setting_t *g, struct recipients_conf *r)
{
	char *pwfile = NULL;
	const char *why;
	int rc = -1;

	if (cfg_read_string(rd, g, "ldap_uri", &r->ldap_uri) < 0
	    || cfg_read_string(rd, g, "ldap_bind_dn", &r->ldap_bind_dn) < 0
	    || cfg_read_string(rd, g, "ldap_password_file", &pwfile) < 0
	    || cfg_read_string(rd, g, "ldap_base", &r->ldap_base) < 0
	    || cfg_read_string(rd, g, "ldap_filter", &r->ldap_filter) < 0)
		goto out;
	if ((why = check_filter(r->ldap_filter)) != NULL) {
		cfg_fail(rd, config_setting_get_member(g, "ldap_filter"), "%s", why);
		goto out;
	}
	if (r->ldap_uri && strncmp(r->ldap_uri, "ldap://", 7) != 0
	    && strncmp(r->ldap_uri, "ldaps://", 8) != 0 && strncmp(r->ldap_uri, "ldapi://", 8) != 0) {
		cfg_fail(rd, config_setting_get_member(g, "ldap_uri"),
			 "ldap_uri: must start with ldap://, ldaps:// or ldapi://");
		goto out;
	}
	if (r->validate == VALIDATE_LDAP && (r->ldap_uri == NULL || r->ldap_base == NULL)) {
		cfg_fail(rd, g, "validate = \"ldap\" needs ldap_uri and ldap_base");
		goto out;
	}
	if (pwfile) {
		if ((r->ldap_password = calloc(1, LDAP_PASSWORD_MAX)) == NULL) {
			cfg_fail(rd, g, "out of memory");
			goto out;
		}
		if (cfg_read_password_file(rd, config_setting_get_member(g, "ldap_password_file"),
					   pwfile, r->ldap_password, LDAP_PASSWORD_MAX) < 0)
			goto out;
	}
	if (r->ldap_password && r->ldap_bind_dn == NULL) {
		cfg_fail(rd, g, "ldap_password_file without ldap_bind_dn");
		goto out;
	}
	rc = 0;
out:
	free(pwfile);
	return rc;
}

int
cfg_read_recipients(struct cfg_reader *rd, const config_setting_t *policyd,
		    struct recipients_conf *r)
{
	static const char *const members[] = {
		"validate", "positive_ttl", "negative_ttl", "timeout", "concurrency",
		"idle_timeout", "ldap_uri", "ldap_bind_dn", "ldap_password_file",
		"ldap_base", "ldap_filter", NULL
	};
	const config_setting_t *g;

	if (cfg_group(rd, policyd, "recipients", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	return cfg_check_members(rd, g, members) < 0
	    || read_mode(rd, g, r) < 0
	    || cfg_read_duration(rd, g, "positive_ttl", 1, 30 * 86400L, &r->positive_ttl) < 0
	    || cfg_read_duration(rd, g, "negative_ttl", 1, 30 * 86400L, &r->negative_ttl) < 0
	    || read_seconds_ms(rd, g, "timeout", 1, 30, &r->timeout_ms) < 0
	    || cfg_read_int(rd, g, "concurrency", 1, 64, &r->concurrency) < 0
	    || read_seconds_ms(rd, g, "idle_timeout", 1, 300, &r->idle_ms) < 0
	    || read_ldap(rd, g, r) < 0
	    ? -1 : 0;
}
