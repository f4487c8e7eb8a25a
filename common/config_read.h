/*
 * config_read.h - typed readers over libconfig settings, for config.c.
 *
 * Interface: each reader looks up one member of a group; an absent member
 * leaves *out at its default and succeeds; a present member of the wrong
 * type or out of range fails with "FILE:LINE: name: reason" in the reader's
 * error buffer. cfg_check_members() refuses members not in a list,
 * which is what makes a misspelt key an error instead of a silent default.
 */
#ifndef SLUICE_CONFIG_READ_H
#define SLUICE_CONFIG_READ_H

#include <libconfig.h>
#include <stdbool.h>

#include "config.h"

struct cfg_reader {
	const char *path;	/* the main file, when a setting has none */
	char *err;
	size_t errsize;
};

int cfg_fail(struct cfg_reader *rd, const config_setting_t *where,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The line where setting s starts (config_lines.c): exact for list and
 * array elements too, which libconfig records one token late. */
int cfg_setting_line(const config_setting_t *s, const char *path);
int cfg_check_members(struct cfg_reader *rd, const config_setting_t *group,
			 const char *const *allowed);
/* A group member that must be a group; NULL (and no error) when absent. */
int cfg_group(struct cfg_reader *rd, const config_setting_t *parent,
		 const char *name, const config_setting_t **out);

int cfg_read_bool(struct cfg_reader *rd, const config_setting_t *group,
		     const char *name, bool *out);
int cfg_read_int(struct cfg_reader *rd, const config_setting_t *group,
		    const char *name, long min, long max, int *out);
int cfg_read_duration(struct cfg_reader *rd, const config_setting_t *group,
			 const char *name, long min, long max, long *out);
int cfg_read_string(struct cfg_reader *rd, const config_setting_t *group,
		       const char *name, char **out);

/* What a list member must look like; each returns NULL or a reason. */
typedef const char *(*cfg_item_check)(const char *item);
const char *cfg_check_domain(const char *item);
const char *cfg_check_hostname(const char *item);	/* letters, digits, '-', '.' */
const char *cfg_check_address(const char *item);
const char *cfg_check_pattern(const char *item);	/* address, domain, /re/ */
const char *cfg_check_header_name(const char *item);

int cfg_read_strlist(struct cfg_reader *rd, const config_setting_t *group,
			const char *name, cfg_item_check check, bool lowercase,
			struct strlist *out);
/* cfg_read_strlist() for a list the daemons compile into a struct
 * pattern_list (patterns.h): compiled here too, so that each member's
 * error, regexes included, names its own FILE:LINE. */
int cfg_read_patterns(struct cfg_reader *rd, const config_setting_t *group,
			 const char *name, cfg_item_check check, bool lowercase,
			 struct strlist *out);
int cfg_read_netlist(struct cfg_reader *rd, const config_setting_t *group,
			const char *name, struct net_list *out);
int cfg_read_endpoint(struct cfg_reader *rd, const config_setting_t *group,
			 const char *name, struct endpoint *out);
/* milter.metrics, policyd.metrics: an inet: endpoint (Prometheus scrapes
 * over TCP); *set false when absent or "" (metrics off). */
int cfg_read_metrics_endpoint(struct cfg_reader *rd, const config_setting_t *group,
			      bool *set, struct endpoint *out);

/* The first line of a password file into out (size bytes, at most). */
int cfg_read_password_file(struct cfg_reader *rd, const config_setting_t *where,
			   const char *path, char *out, size_t size);

/* policyd.recipients, in config_recipients.c: its defaults, its reader. */
int config_recipients_defaults(struct recipients_conf *r);
int cfg_read_recipients(struct cfg_reader *rd, const config_setting_t *policyd,
			struct recipients_conf *r);

/* The milter and dkim groups, in config_milter.c. */
int cfg_read_milter(struct cfg_reader *rd, const config_setting_t *root, struct milter_conf *m);
int cfg_read_dkim(struct cfg_reader *rd, const config_setting_t *root, struct dkim_conf *d);

/* The policyd group, in config_policyd.c. */
/* config_access.c: relay, relay_exact_domain, require_reverse_dns,
 * reverse_dns_code, enforce_sender_login of the policyd group. */
int cfg_read_access(struct cfg_reader *rd, const config_setting_t *policyd,
		   struct policyd_conf *p);
int cfg_read_policyd(struct cfg_reader *rd, const config_setting_t *root,
			struct policyd_conf *p);

/* policyd.dnsbl, in config_dnsbl.c. */
int cfg_read_dnsbl(struct cfg_reader *rd, const config_setting_t *policyd,
		   struct dnsbl_conf *d);
/* policyd.ratelimit and policyd.ratelimit_exempt, in config_ratelimit.c. */
int cfg_read_ratelimit(struct cfg_reader *rd, const config_setting_t *policyd,
		       struct ratelimit_conf *rl);
void ratelimit_conf_free(struct ratelimit_conf *rl);

/* The postfix group, in config_postfix.c (domains are read before it). */
int cfg_read_postfix(struct cfg_reader *rd, const config_setting_t *root,
		     const struct sluice_config *cfg, struct postfix_conf *pf);
void postfix_conf_free(struct postfix_conf *pf);

#endif
