/*
 * config.c - the schema of sluice.conf: groups, keys, defaults, ranges.
 *
 * Each group has one function that lists its members (anything else is an
 * error) and reads each with a typed reader from config_read.c. Defaults
 * are set before reading, so the file only states what differs. Cross-key
 * rules (a sentinel needs hosts, a DKIM key needs a selector) are checked
 * here, where the whole group is in view.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "address.h"
#include "config_read.h"

#define DAY 86400L

static int
set_string(char **field, const char *value)
{
	free(*field);
	*field = value ? strdup(value) : NULL;
	return (value && *field == NULL) ? -1 : 0;
}

static int
set_defaults(struct sluice_config *cfg)
{
	static const char *const private_nets[] = {
		"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
		"::1/128", "fc00::/7", "fe80::/10", NULL
	};
	static const char *const trusted_nets[] = { "127.0.0.0/8", "::1/128", NULL };
	char host[256];
	struct net_cidr block;
	const char *const *p;
	int rc = 0;

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	rc |= set_string(&cfg->user, "sluice");
	rc |= set_string(&cfg->socket_group, "postfix");
	cfg->socket_mode = 0660;
	rc |= set_string(&cfg->hostname, host);
	strcpy(cfg->redis.host, "127.0.0.1");
	cfg->redis.port = 6379;
	cfg->redis.timeout_ms = 100;
	cfg->lists.bulk_timeout_ms = 2000;
	cfg->lists.resync = 300;
	rc |= set_string(&cfg->redis_prefix, "sluice:");
	for (p = trusted_nets; *p; p++)
		rc |= net_cidr_parse(*p, &block) | net_list_add(&cfg->trusted_networks, &block);

	endpoint_parse("unix:/run/sluice/milter.sock", &cfg->milter.listen, NULL);
	rc |= set_string(&cfg->milter.pid_file, "/run/sluice/sluice-milter.pid");
	rc |= set_string(&cfg->milter.authserv_id, host);
	cfg->milter.fail_open = true;
	/* spf, dkim_verify, dmarc and dmarc_reject are off until the admin
	 * turns them on; the copies are unset. */
	cfg->milter.dns_timeout_ms = 5000;
	cfg->milter.dmarc_quarantine = true;

	cfg->dkim.sign = true;
	cfg->dkim.header_canon = cfg->dkim.body_canon = CANON_RELAXED;

	endpoint_parse("unix:/run/sluice/policyd.sock", &cfg->policyd.listen, NULL);
	rc |= set_string(&cfg->policyd.pid_file, "/run/sluice/sluice-policyd.pid");
	cfg->policyd.fail_open = true;
	cfg->policyd.max_connections = 4096;
	cfg->policyd.workers = 4;
	cfg->policyd.idle_timeout = 600;
	cfg->policyd.request_timeout = 10;
	cfg->policyd.spf_timeout_ms = 5000;
	cfg->policyd.access.reverse_dns_code = 450;
	rc |= config_recipients_defaults(&cfg->policyd.recipients);
	cfg->policyd.dnsbl.threshold = 1;
	cfg->policyd.dnsbl.budget_ms = 2000;
	cfg->policyd.dnsbl.negative_ttl = 300;

	cfg->policyd.greylist.enabled = true;
	cfg->policyd.greylist.delay = 120;
	cfg->policyd.greylist.retry_window = 2 * DAY;
	cfg->policyd.greylist.auto_allowlist = 7 * DAY;
	cfg->policyd.greylist.ipv4_prefix = 32;
	cfg->policyd.greylist.ipv6_prefix = 128;
	cfg->policyd.greylist.spf_bypass = true;
	cfg->policyd.greylist.spf_domain_triplet = true;
	cfg->policyd.greylist.auto_allowlist_clients = 5;
	cfg->policyd.greylist.add_header = true;
	for (p = private_nets; *p; p++)
		rc |= net_cidr_parse(*p, &block)
		    | net_list_add(&cfg->policyd.greylist.allow_networks, &block);
	return rc ? -1 : 0;
}

static int
default_string_list(struct strlist *list, const char *const *items)
{
	size_t n;

	for (n = 0; items[n]; n++)
		;
	if ((list->items = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (list->count = 0; list->count < n; list->count++)
		if ((list->items[list->count] = strdup(items[list->count])) == NULL)
			return -1;
	return 0;
}

int
cfg_read_password_file(struct cfg_reader *rd, const config_setting_t *where,
		   const char *path, char *out, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t len;

	if (fp == NULL)
		return cfg_fail(rd, where, "password_file: %s: %s", path, strerror(errno));
	if (fgets(out, (int)size, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	if (len == 0 || len + 1 >= size)
		return cfg_fail(rd, where, "password_file: %s: empty or longer than %zu characters",
				   path, size - 2);
	return 0;
}

static int
read_sentinel(struct cfg_reader *rd, const config_setting_t *redis,
	      struct redis_settings *rs)
{
	static const char *const members[] = { "master", "hosts", NULL };
	const config_setting_t *g;
	struct strlist hosts = { NULL, 0 };
	char *master = NULL;
	size_t i;
	int rc = -1;

	if (cfg_group(rd, redis, "sentinel", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_string(rd, g, "master", &master) < 0
	    || cfg_read_strlist(rd, g, "hosts", NULL, false, &hosts) < 0)
		goto out;
	if (master == NULL || *master == '\0' || strlen(master) >= sizeof(rs->sentinel_master)) {
		cfg_fail(rd, g, "sentinel: needs master = \"name\" (the name Sentinel monitors)");
		goto out;
	}
	if (hosts.count == 0 || hosts.count > REDIS_MAX_SENTINELS) {
		cfg_fail(rd, g, "sentinel: hosts needs 1 to %d \"host:port\" entries",
			    REDIS_MAX_SENTINELS);
		goto out;
	}
	strcpy(rs->sentinel_master, master);
	for (i = 0; i < hosts.count; i++) {
		struct endpoint ep;
		char inet[300];

		snprintf(inet, sizeof(inet), "inet:%s", hosts.items[i]);
		if (endpoint_parse(inet, &ep, NULL) < 0) {
			cfg_fail(rd, g, "sentinel: '%s' is not host:port", hosts.items[i]);
			goto out;
		}
		strcpy(rs->sentinels[i].host, ep.host);
		rs->sentinels[i].port = atoi(ep.port);
	}
	rs->sentinel_count = (int)hosts.count;
	rc = 0;
out:
	free(master);
	strlist_free(&hosts);
	return rc;
}

static int
read_redis(struct cfg_reader *rd, const config_setting_t *root, struct sluice_config *cfg)
{
	static const char *const members[] = {
		"host", "port", "socket", "db", "password_file", "timeout_ms",
		"bulk_timeout_ms", "lists_resync", "prefix", "sentinel", NULL
	};
	struct redis_settings *rs = &cfg->redis;
	const config_setting_t *g;
	char *host = NULL, *sock = NULL, *pwfile = NULL;
	int rc = -1;

	if (cfg_group(rd, root, "redis", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_string(rd, g, "host", &host) < 0
	    || cfg_read_int(rd, g, "port", 1, 65535, &rs->port) < 0
	    || cfg_read_string(rd, g, "socket", &sock) < 0
	    || cfg_read_int(rd, g, "db", 0, 1000, &rs->db) < 0
	    || cfg_read_string(rd, g, "password_file", &pwfile) < 0
	    || cfg_read_int(rd, g, "timeout_ms", 1, 60000, &rs->timeout_ms) < 0
	    || cfg_read_int(rd, g, "bulk_timeout_ms", 1, 600000, &cfg->lists.bulk_timeout_ms) < 0
	    || cfg_read_duration(rd, g, "lists_resync", 10, 7 * 86400L, &cfg->lists.resync) < 0
	    || cfg_read_string(rd, g, "prefix", &cfg->redis_prefix) < 0
	    || read_sentinel(rd, g, rs) < 0)
		goto out;
	if (host && (strlen(host) == 0 || strlen(host) >= sizeof(rs->host))) {
		cfg_fail(rd, config_setting_get_member(g, "host"), "host: empty or too long");
		goto out;
	}
	if (host)
		strcpy(rs->host, host);
	if (sock) {
		if (sock[0] != '/' || strlen(sock) >= sizeof(rs->socket)) {
			cfg_fail(rd, config_setting_get_member(g, "socket"),
				    "socket: must be an absolute path under %zu characters",
				    sizeof(rs->socket));
			goto out;
		}
		strcpy(rs->socket, sock);
	}
	if (pwfile && cfg_read_password_file(rd, config_setting_get_member(g, "password_file"),
					 pwfile, rs->password, sizeof(rs->password)) < 0)
		goto out;
	if (strlen(cfg->redis_prefix) > 64) {
		cfg_fail(rd, config_setting_get_member(g, "prefix"), "prefix: longer than 64");
		goto out;
	}
	rc = 0;
out:
	free(host);
	free(sock);
	free(pwfile);
	return rc;
}

/* domains.relay entries are "domain" or "domain|host:port" (checked by
 * relay_entry_check as they were read): the hops go to relay_hops, and
 * relay_domains keeps the bare domains, which is what every other user
 * of the list wants. */
static int
split_relay_hops(struct cfg_reader *rd, const config_setting_t *g, struct sluice_config *cfg)
{
	size_t i, n = cfg->relay_domains.count;

	free(cfg->relay_hops);
	if ((cfg->relay_hops = calloc(n + 1, sizeof(*cfg->relay_hops))) == NULL)
		return cfg_fail(rd, g, "relay: out of memory");
	for (i = 0; i < n; i++) {
		char *entry = cfg->relay_domains.items[i];
		const char *why = NULL;
		char domain[ADDRESS_DOMAIN_MAX + 1];

		if (relay_entry_parse(entry, domain, sizeof(domain), &cfg->relay_hops[i], &why) < 0)
			return cfg_fail(rd, g, "relay: '%s': %s", entry, why);
		strcpy(entry, domain);	/* never longer than the entry */
	}
	return 0;
}

static int
read_domains(struct cfg_reader *rd, const config_setting_t *root, struct sluice_config *cfg)
{
	static const char *const members[] = { "local", "relay", NULL };
	const config_setting_t *g;

	if (cfg_group(rd, root, "domains", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (cfg_check_members(rd, g, members) < 0
	    || cfg_read_strlist(rd, g, "local", cfg_check_domain, true, &cfg->local_domains) < 0
	    || cfg_read_strlist(rd, g, "relay", relay_entry_check, true, &cfg->relay_domains) < 0)
		return -1;
	return split_relay_hops(rd, g, cfg);
}

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
static int
read_milter(struct cfg_reader *rd, const config_setting_t *root, struct milter_conf *m)
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
	return set_string(&k->source, where);
}

static int
read_dkim(struct cfg_reader *rd, const config_setting_t *root, struct dkim_conf *d)
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

/*
 * hostname goes into X-Greylist headers and policy replies: a newline or
 * a space in it would end or split those lines. The default (the
 * system's name) is checked too, and refused with a hint to set it.
 */
static int
check_hostname(struct cfg_reader *rd, const config_setting_t *root,
	       const struct sluice_config *cfg)
{
	const config_setting_t *s = config_setting_get_member(root, "hostname");
	const char *why;

	if ((why = cfg_check_hostname(cfg->hostname)) == NULL)
		return 0;
	if (s != NULL)
		return cfg_fail(rd, s, "hostname: %s", why);
	return cfg_fail(rd, root, "hostname: this system's name is not usable (%s); "
			"set hostname = \"mx.example.com\";", why);
}

/*
 * socket_group and socket_mode: who may connect to both unix sockets.
 * The group must exist now: a typo must fail -t, not the start-up after
 * the next reboot. The mode is an octal string ("0660"), permission bits
 * only.
 */
static int
read_socket_access(struct cfg_reader *rd, const config_setting_t *root,
		   struct sluice_config *cfg)
{
	const config_setting_t *gs = config_setting_get_member(root, "socket_group");
	const config_setting_t *ms = config_setting_get_member(root, "socket_mode");
	char *mode = NULL, *end;
	struct group *gr;
	long m;

	if (cfg_read_string(rd, root, "socket_group", &cfg->socket_group) < 0
	    || cfg_read_string(rd, root, "socket_mode", &mode) < 0)
		return -1;
	if (mode) {
		errno = 0;
		m = strtol(mode, &end, 8);
		if (*mode == '\0' || *end != '\0' || errno || m < 0 || m > 0777) {
			free(mode);
			return cfg_fail(rd, ms, "socket_mode: must be octal permission bits "
					   "like \"0660\"");
		}
		free(mode);
		cfg->socket_mode = (mode_t)m;
	}
	if ((gr = getgrnam(cfg->socket_group)) == NULL)
		return cfg_fail(rd, gs, "socket_group: group '%s' does not exist%s",
				   cfg->socket_group,
				   gs ? "" : " (the default: install Postfix, or set socket_group)");
	cfg->socket_gid = gr->gr_gid;
	cfg->milter.listen.group = cfg->policyd.listen.group = cfg->socket_gid;
	cfg->milter.listen.mode = cfg->policyd.listen.mode = cfg->socket_mode;
	return 0;
}

/* validate = "smtp" asks the next hops of domains.relay: with none named,
 * it would judge nothing while the admin believes recipients checked. */
static int
check_probe_hops(struct cfg_reader *rd, const config_setting_t *root,
		 const struct sluice_config *cfg)
{
	const config_setting_t *s = config_setting_get_member(root, "policyd");
	size_t i;

	if (cfg->policyd.recipients.validate != VALIDATE_SMTP)
		return 0;
	for (i = 0; i < cfg->relay_domains.count; i++)
		if (cfg->relay_hops[i].host[0])
			return 0;
	if (s)
		s = config_setting_get_member(s, "recipients");
	if (s)
		s = config_setting_get_member(s, "validate");
	return cfg_fail(rd, s,
			"validate = \"smtp\" needs a next hop in domains.relay"
			" (\"domain|host:port\"), which it asks");
}

static int
read_root(struct cfg_reader *rd, const config_setting_t *root, struct sluice_config *cfg)
{
	static const char *const members[] = {
		"user", "hostname", "socket_group", "socket_mode", "redis", "domains",
		"trusted_networks", "milter", "dkim", "policyd", "postfix", NULL
	};

	return cfg_check_members(rd, root, members) < 0
	    || cfg_read_string(rd, root, "user", &cfg->user) < 0
	    || cfg_read_string(rd, root, "hostname", &cfg->hostname) < 0
	    || read_redis(rd, root, cfg) < 0
	    || read_domains(rd, root, cfg) < 0
	    || cfg_read_postfix(rd, root, cfg, &cfg->postfix) < 0
	    || cfg_read_netlist(rd, root, "trusted_networks", &cfg->trusted_networks) < 0
	    || read_milter(rd, root, &cfg->milter) < 0
	    || read_dkim(rd, root, &cfg->dkim) < 0
	    || cfg_read_policyd(rd, root, &cfg->policyd) < 0
	    || check_probe_hops(rd, root, cfg) < 0
	    || read_socket_access(rd, root, cfg) < 0
	    ? -1 : 0;
}

struct sluice_config *
config_load(const char *path, char *err, size_t errsize)
{
	static const char *const default_headers[] = {
		"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date",
		"Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To", "References",
		"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
		"List-Post", "List-Owner", "List-Archive", NULL
	};
	struct cfg_reader rd = { path, err, errsize };
	struct sluice_config *cfg;
	config_t lc;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		snprintf(err, errsize, "%s:0: out of memory", path);
		return NULL;
	}
	config_init(&lc);
	if (set_defaults(cfg) < 0 || set_string(&cfg->path, path) < 0
	    || default_string_list(&cfg->dkim.headers, default_headers) < 0) {
		snprintf(err, errsize, "%s:0: out of memory", path);
		goto fail;
	}
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errsize, "%s:0: cannot read: %s", path, strerror(errno));
		else
			snprintf(err, errsize, "%s:%d: %s",
				 config_error_file(&lc) ? config_error_file(&lc) : path,
				 config_error_line(&lc), config_error_text(&lc));
		goto fail;
	}
	if (read_root(&rd, config_root_setting(&lc), cfg) < 0
	    || check_hostname(&rd, config_root_setting(&lc), cfg) < 0)
		goto fail;
	config_destroy(&lc);
	return cfg;
fail:
	config_destroy(&lc);
	config_free(cfg);
	return NULL;
}

void
config_free(struct sluice_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->user);
	free(cfg->socket_group);
	free(cfg->hostname);
	free(cfg->redis_prefix);
	strlist_free(&cfg->local_domains);
	strlist_free(&cfg->relay_domains);
	free(cfg->relay_hops);
	net_list_free(&cfg->trusted_networks);
	free(cfg->milter.pid_file);
	free(cfg->milter.authserv_id);
	free(cfg->milter.always_bcc);
	free(cfg->milter.incoming_copy);
	free(cfg->milter.outgoing_copy);
	free(cfg->milter.srs.domain);
	free(cfg->milter.srs.secret_file);
	strlist_free(&cfg->dkim.headers);
	strlist_free(&cfg->dkim.oversign);
	for (i = 0; i < cfg->dkim.key_count; i++) {
		free(cfg->dkim.keys[i].domain);
		free(cfg->dkim.keys[i].selector);
		free(cfg->dkim.keys[i].key_path);
		free(cfg->dkim.keys[i].source);
	}
	free(cfg->dkim.keys);
	free(cfg->policyd.pid_file);
	free(cfg->policyd.recipients.ldap_uri);
	free(cfg->policyd.recipients.ldap_bind_dn);
	free(cfg->policyd.recipients.ldap_password);
	free(cfg->policyd.recipients.ldap_base);
	free(cfg->policyd.recipients.ldap_filter);
	net_list_free(&cfg->policyd.greylist.allow_networks);
	relay_conf_free(&cfg->policyd.access.relay);
	strlist_free(&cfg->policyd.greylist.allow_client_domains);
	strlist_free(&cfg->policyd.greylist.allow_senders);
	strlist_free(&cfg->policyd.greylist.allow_recipients);
	ratelimit_conf_free(&cfg->policyd.ratelimit);
	postfix_conf_free(&cfg->postfix);
	free(cfg);
}
