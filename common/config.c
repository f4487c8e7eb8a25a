/*
 * config.c - the schema of sluice.conf: groups, keys, defaults, ranges.
 *
 * Each group has one function that lists its members (anything else is an
 * error) and reads each with a typed reader from config_read.c. Defaults
 * are set before reading, so the file only states what differs. Cross-key
 * rules (a sentinel needs hosts, a DKIM key needs a selector) are checked
 * where the whole group is in view. The milter and dkim groups are read
 * in config_milter.c, policyd in config_policyd.c (and the files it
 * names), postfix in config_postfix.c; this file has the root, redis,
 * domains, and the defaults of all.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
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
	    || cfg_read_milter(rd, root, &cfg->milter) < 0
	    || cfg_read_dkim(rd, root, &cfg->dkim) < 0
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
