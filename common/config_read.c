/*
 * config_read.c - typed readers for sluice.conf settings.
 *
 * Every error names the file and line of the offending setting, because
 * that is what an admin needs at 3 a.m.: "sluice.conf:42: delay: ..." and
 * not "invalid configuration". Readers never leave partial results behind:
 * a list reader either fills *out completely or leaves it empty.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "config_read.h"
#include "patterns.h"

int
cfg_fail(struct cfg_reader *rd, const config_setting_t *where,
	    const char *fmt, ...)
{
	const config_setting_t *s;
	const char *file = NULL;
	int line = where ? cfg_setting_line(where, rd->path) : 0;
	char msg[512];
	va_list ap;

	/* the file of the setting, or of the nearest enclosing one */
	for (s = where; s && file == NULL; s = config_setting_parent(s))
		file = config_setting_source_file(s);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(rd->err, rd->errsize, "%s:%d: %s", file ? file : rd->path, line, msg);
	return -1;
}

int
cfg_check_members(struct cfg_reader *rd, const config_setting_t *group,
		     const char *const *allowed)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (*a == NULL)
			return cfg_fail(rd, m, "unknown setting '%s'", name);
	}
	return 0;
}

int
cfg_group(struct cfg_reader *rd, const config_setting_t *parent,
	     const char *name, const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(parent, name);

	*out = NULL;
	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s))
		return cfg_fail(rd, s, "%s: must be a group { ... }", name);
	*out = s;
	return 0;
}

int
cfg_read_bool(struct cfg_reader *rd, const config_setting_t *group,
		 const char *name, bool *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_fail(rd, s, "%s: must be true or false", name);
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

int
cfg_read_int(struct cfg_reader *rd, const config_setting_t *group,
		const char *name, long min, long max, int *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return cfg_fail(rd, s, "%s: must be a whole number", name);
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return cfg_fail(rd, s, "%s: %lld is out of range (%ld to %ld)", name, v, min, max);
	*out = (int)v;
	return 0;
}

long
config_parse_duration(const char *text)
{
	static const struct { char suffix; long factor; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	char *end;
	long v;
	size_t i;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	v = strtol(text, &end, 10);
	if (v < 0 || v > 100L * 365 * 86400)
		return -1;
	if (*end == '\0')
		return v;
	if (end[1] != '\0')
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].suffix)
			return v * units[i].factor;
	return -1;
}

int
cfg_read_duration(struct cfg_reader *rd, const config_setting_t *group,
		     const char *name, long min, long max, long *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	long v;

	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (long)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING:
		v = config_parse_duration(config_setting_get_string(s));
		if (v < 0)
			return cfg_fail(rd, s, "%s: '%s' is not a duration (like 90, 90s, 5m, 4h, 2d)",
					   name, config_setting_get_string(s));
		break;
	default:
		return cfg_fail(rd, s, "%s: must be a duration (like 90, \"5m\", \"2d\")", name);
	}
	if (v < min || v > max)
		return cfg_fail(rd, s, "%s: %ld seconds is out of range (%ld to %ld)",
				   name, v, min, max);
	*out = v;
	return 0;
}

int
cfg_read_string(struct cfg_reader *rd, const config_setting_t *group,
		   const char *name, char **out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	char *copy;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_fail(rd, s, "%s: must be a string in double quotes", name);
	if ((copy = strdup(config_setting_get_string(s))) == NULL)
		return cfg_fail(rd, s, "%s: out of memory", name);
	free(*out);
	*out = copy;
	return 0;
}

const char *
cfg_check_domain(const char *item)
{
	size_t label = 0, len = strlen(item);
	const char *p;

	if (len == 0 || len > ADDRESS_DOMAIN_MAX)
		return "not a domain name";
	for (p = item; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return "empty label in domain name";
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
			if (++label > 63)
				return "domain label longer than 63 characters";
		} else {
			return "invalid character in domain name";
		}
	}
	return label == 0 ? "domain name ends with a dot" : NULL;
}

/*
 * A host name as it may go into a header and a policy reply: RFC 1123
 * labels of letters, digits and inner '-', joined by '.'. Stricter than
 * cfg_check_domain() (no '_') because the name is written into mail and
 * protocol lines, where anything else could break their framing.
 */
const char *
cfg_check_hostname(const char *item)
{
	size_t label = 0, len = strlen(item);
	const char *p;

	if (len == 0 || len > 253)
		return "must be a DNS name of 1 to 253 characters";
	for (p = item; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return "empty label in host name";
			if (p[-1] == '-')
				return "a label of a host name ends with '-'";
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-') {
			if (label == 0 && *p == '-')
				return "a label of a host name starts with '-'";
			if (++label > 63)
				return "host name label longer than 63 characters";
		} else {
			return "a host name has only letters, digits, '-' and '.'";
		}
	}
	if (label == 0)
		return "host name ends with a dot";
	return p[-1] == '-' ? "a label of a host name ends with '-'" : NULL;
}

const char *
cfg_check_address(const char *item)
{
	struct address a;
	const char *why = NULL;

	if (address_parse(item, &a, &why) < 0)
		return why;
	if (a.is_null || a.domain[0] == '\0')
		return "an address needs a domain (user@example.com)";
	return NULL;
}

/* Length and regex rules are patterns.c's own (pattern_check), so -t and
 * the daemons, which load the Redis lists with pattern_list_add(), accept
 * exactly the same members. Compiling is cfg_read_patterns()'s. */
const char *
cfg_check_pattern(const char *item)
{
	size_t len = strlen(item);
	const char *why;

	if ((why = pattern_check(item)) != NULL)
		return why;
	if (len >= 2 && item[0] == '/' && item[len - 1] == '/')
		return NULL;
	return strchr(item, '@') ? cfg_check_address(item) : cfg_check_domain(item);
}

const char *
cfg_check_header_name(const char *item)
{
	const char *p;

	if (*item == '\0')
		return "empty header name";
	for (p = item; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ':')
			return "invalid character in header name";
	return NULL;
}

void
strlist_free(struct strlist *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

bool
strlist_contains(const struct strlist *list, const char *item)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		if (strcasecmp(list->items[i], item) == 0)
			return true;
	return false;
}

static const config_setting_t *
list_setting(struct cfg_reader *rd, const config_setting_t *group,
	     const char *name, int *failed)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;

	*failed = 0;
	if (s && !config_setting_is_array(s) && !config_setting_is_list(s)) {
		*failed = cfg_fail(rd, s, "%s: must be a list [ \"...\", ... ]", name);
		return NULL;
	}
	return s;
}

int
cfg_read_strlist(struct cfg_reader *rd, const config_setting_t *group,
		    const char *name, cfg_item_check check, bool lowercase,
		    struct strlist *out)
{
	const config_setting_t *s;
	struct strlist list = { NULL, 0 };
	int failed, i, n;

	if ((s = list_setting(rd, group, name, &failed)) == NULL)
		return failed;
	n = config_setting_length(s);
	if ((list.items = calloc((size_t)n + 1, sizeof(char *))) == NULL)
		return cfg_fail(rd, s, "%s: out of memory", name);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		const char *why;
		char *p;

		if (v == NULL) {
			strlist_free(&list);
			return cfg_fail(rd, e, "%s: element %d must be a string", name, i + 1);
		}
		if (check && (why = check(v)) != NULL) {
			strlist_free(&list);
			return cfg_fail(rd, e, "%s: '%s': %s", name, v, why);
		}
		list.items[list.count++] = p = strdup(v);
		if (p == NULL) {
			strlist_free(&list);
			return cfg_fail(rd, e, "%s: out of memory", name);
		}
		for (; lowercase && *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	strlist_free(out);
	*out = list;
	return 0;
}

/*
 * The list is compiled by pattern_list_add(), the very code the daemons
 * use, into a list that is thrown away: so `-t` and the daemons accept
 * exactly the same members (and as many of them), and a member that
 * passed the config, where its FILE:LINE is known, never fails later
 * when a check compiles its lists, where the line is lost.
 */
int
cfg_read_patterns(struct cfg_reader *rd, const config_setting_t *group,
		     const char *name, cfg_item_check check, bool lowercase,
		     struct strlist *out)
{
	struct pattern_list trial;
	const config_setting_t *s;
	size_t i;

	if (cfg_read_strlist(rd, group, name, check, lowercase, out) < 0)
		return -1;
	if ((s = group ? config_setting_get_member(group, name) : NULL) == NULL)
		return 0;
	memset(&trial, 0, sizeof(trial));
	for (i = 0; i < out->count; i++) {
		const char *why = NULL;

		if (pattern_list_add(&trial, out->items[i], &why) < 0) {
			cfg_fail(rd, config_setting_get_elem(s, (unsigned)i), "%s: '%s': %s",
				 name, out->items[i], why ? why : "not a valid list member");
			pattern_list_free(&trial);
			strlist_free(out);
			return -1;
		}
	}
	pattern_list_free(&trial);
	return 0;
}

int
cfg_read_netlist(struct cfg_reader *rd, const config_setting_t *group,
		    const char *name, struct net_list *out)
{
	const config_setting_t *s;
	struct net_list list = { NULL, 0, 0 };
	int failed, i, n;

	if ((s = list_setting(rd, group, name, &failed)) == NULL)
		return failed;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		struct net_cidr block;

		if (v == NULL || net_cidr_parse(v, &block) < 0) {
			net_list_free(&list);
			return cfg_fail(rd, e, "%s: '%s' is not an IP address or CIDR block",
					   name, v ? v : "(not a string)");
		}
		if (net_list_add(&list, &block) < 0) {
			net_list_free(&list);
			return cfg_fail(rd, e, "%s: out of memory", name);
		}
	}
	net_list_free(out);
	*out = list;
	return 0;
}

int
cfg_read_endpoint(struct cfg_reader *rd, const config_setting_t *group,
		     const char *name, struct endpoint *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	const char *why = NULL;
	const char *v;

	if (s == NULL)
		return 0;
	if ((v = config_setting_get_string(s)) == NULL)
		return cfg_fail(rd, s, "%s: must be a string like \"unix:/run/sluice/x.sock\"", name);
	if (endpoint_parse(v, out, &why) < 0)
		return cfg_fail(rd, s, "%s: '%s': %s", name, v, why);
	return 0;
}

int
cfg_read_metrics_endpoint(struct cfg_reader *rd, const config_setting_t *group,
			  bool *set, struct endpoint *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, "metrics") : NULL;
	const char *v;

	*set = false;
	if (s == NULL)
		return 0;
	if ((v = config_setting_get_string(s)) == NULL)
		return cfg_fail(rd, s, "metrics: must be a string like \"inet:127.0.0.1:9187\"");
	if (*v == '\0')
		return 0;	/* "": off, as when unset */
	if (cfg_read_endpoint(rd, group, "metrics", out) < 0)
		return -1;
	if (out->kind != ENDPOINT_INET)
		return cfg_fail(rd, s, "metrics: '%s': must be inet:HOST:PORT "
				"(Prometheus scrapes over TCP)", v);
	*set = true;
	return 0;
}
