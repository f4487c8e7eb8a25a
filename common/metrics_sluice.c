/*
 * metrics_sluice.c - the catalogue of sluice's metrics and the calls that
 * count them (see metrics_sluice.h). The README's metrics table lists the
 * same names: a new series here is a new row there.
 *
 * Why label sets are fixed: every series exists from start-up (a rate()
 * over a counter that appears late misses its first events), and a value
 * that is not in the set counts as "other", so no input can add series.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "metrics_sluice.h"

/* Latency buckets (seconds): from a cached decision (~0.1 ms) to a DNS
 * or probe budget (seconds). */
static const double latency_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10
};
#define NBOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/* policyd: the log's verdict keys; "action" is "no check decided". */
static const char *const check_keys[] = {
	"access", "relay", "reverse_dns", "sender_login", "dnsbl", "ratelimit",
	"max_recipients", "rcpt", "greylist", "action", "other"
};
#define NCHECKS (sizeof(check_keys) / sizeof(check_keys[0]))
static const char *const action_names[] = {
	"dunno", "prepend", "defer", "reject", "hold", "ok", "other"
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

/* milter */
static const char *const message_results[] = {
	"accept", "reject", "tempfail", "discard", "quarantine", "other"
};
static const char *const sign_results[] = { "signed", "error", "skipped" };
static const char *const spf_results[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror", "other"
};
static const char *const dkim_results[] = {
	"none", "pass", "fail", "neutral", "policy", "temperror", "permerror", "other"
};
static const char *const dmarc_results[] = {
	"none", "pass", "fail", "temperror", "permerror", "other"
};
static const char *const rules_verdicts[] = {
	"none", "permit-ip", "permit-mailbox", "permit-domain", "forbid-ip",
	"forbid-mailbox", "forbid-domain", "unavailable", "other"
};
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MODULES_MAX 16

/* Series ids of this process; written by metric_init() only. */
static struct ids {
	struct metrics *reg;
	enum metric_daemon daemon;
	int start_time, config_generation, reload_failures;
	int redis_seconds, redis_errors, dns_seconds, dns_errors;
	int list_entries[LIST_COUNT], lists_entries, lists_age, lists_failures;
	int decisions[NCHECKS][NACTIONS], decision_seconds[NCHECKS];
	int messages[N(message_results)], signed_[N(sign_results)];
	int spf[N(spf_results)], dkim[N(dkim_results)], dmarc[N(dmarc_results)];
	int rules[N(rules_verdicts)];
	int aliases, catchalls, srs, srs_bounces, copies, copy_failures;
	int module_seconds[MODULES_MAX];
	const char *module_names[MODULES_MAX];
} ids;

uint64_t
metric_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct metrics *
metric_registry(void)
{
	return ids.reg;
}

/* One series of a family per value: name{key="value"}. */
static int
each(struct metrics *m, int *out, const char *name, const char *help, const char *key,
     const char *const *values, size_t n)
{
	char labels[METRICS_LABELS_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(labels, sizeof(labels), "%s=\"%s\"", key, values[i]);
		if ((out[i] = metrics_counter(m, name, help, labels)) < 0)
			return -1;
	}
	return 0;
}

static int
register_common(struct metrics *m)
{
	char labels[METRICS_LABELS_MAX];
	int i;

	ids.start_time = metrics_gauge(m, "sluice_start_time_seconds",
				       "Unix time the daemon started", NULL);
	ids.config_generation = metrics_gauge(m, "sluice_config_generation",
					      "Configurations loaded since start (1: the first)", NULL);
	ids.reload_failures = metrics_counter(m, "sluice_config_reload_failures_total",
					      "Reloads (SIGHUP) refused, the running config kept", NULL);
	ids.redis_seconds = metrics_histogram(m, "sluice_redis_roundtrip_seconds",
					      "Redis round trips (a pipeline is one)", NULL,
					      latency_bounds, NBOUNDS);
	ids.redis_errors = metrics_counter(m, "sluice_redis_errors_total",
					   "Redis round trips that failed (connection, timeout, error reply)",
					   NULL);
	ids.dns_seconds = metrics_histogram(m, "sluice_dns_lookup_seconds", "DNS lookups", NULL,
					    latency_bounds, NBOUNDS);
	ids.dns_errors = metrics_counter(m, "sluice_dns_errors_total",
					 "DNS lookups that timed out or failed (not NXDOMAIN)", NULL);
	for (i = 0; i < LIST_COUNT; i++) {
		snprintf(labels, sizeof(labels), "list=\"%s\"", lists_name((enum list_id)i));
		ids.list_entries[i] = metrics_gauge(m, "sluice_list_entries",
						    "Entries of one Redis list in the cache", labels);
	}
	ids.lists_entries = metrics_gauge(m, "sluice_lists_entries",
					  "Entries of all lists, maps and aliases in the cache", NULL);
	ids.lists_age = metrics_age_gauge(m, "sluice_lists_refresh_age_seconds",
					  "Seconds since the list cache last took a new snapshot", NULL);
	ids.lists_failures = metrics_counter(m, "sluice_lists_refresh_failures_total",
					     "List reads from Redis that failed (the last lists kept)",
					     NULL);
	return ids.start_time < 0 || ids.config_generation < 0 || ids.reload_failures < 0
	       || ids.redis_seconds < 0 || ids.redis_errors < 0 || ids.dns_seconds < 0
	       || ids.dns_errors < 0 || ids.list_entries[LIST_COUNT - 1] < 0
	       || ids.lists_entries < 0 || ids.lists_age < 0 || ids.lists_failures < 0 ? -1 : 0;
}

static int
register_policyd(struct metrics *m)
{
	char labels[METRICS_LABELS_MAX];
	size_t c, a;

	for (c = 0; c < NCHECKS; c++) {
		for (a = 0; a < NACTIONS; a++) {
			snprintf(labels, sizeof(labels), "check=\"%s\",action=\"%s\"",
				 check_keys[c], action_names[a]);
			ids.decisions[c][a] = metrics_counter(m, "sluice_policyd_decisions_total",
							      "Policy answers by the check that gave "
							      "them and their action", labels);
			if (ids.decisions[c][a] < 0)
				return -1;
		}
	}
	for (c = 0; c < NCHECKS; c++) {
		snprintf(labels, sizeof(labels), "check=\"%s\"", check_keys[c]);
		ids.decision_seconds[c] = metrics_histogram(m, "sluice_policyd_decision_seconds",
							    "Time from a request's arrival to its "
							    "answer, by the deciding check",
							    labels, latency_bounds, NBOUNDS);
		if (ids.decision_seconds[c] < 0)
			return -1;
	}
	return 0;
}

static int
register_milter(struct metrics *m, const char *const *module_names)
{
	char labels[METRICS_LABELS_MAX];
	int i;

	if (each(m, ids.messages, "sluice_milter_messages_total",
		 "Messages at end of data, by the milter's answer", "result",
		 message_results, N(message_results)) < 0
	    || each(m, ids.signed_, "sluice_milter_dkim_sign_total",
		    "Outbound messages by DKIM signing result", "result",
		    sign_results, N(sign_results)) < 0
	    || each(m, ids.spf, "sluice_milter_spf_total", "Inbound SPF results", "result",
		    spf_results, N(spf_results)) < 0
	    || each(m, ids.dkim, "sluice_milter_dkim_verify_total",
		    "DKIM signatures verified, by result (none: a message without one)",
		    "result", dkim_results, N(dkim_results)) < 0
	    || each(m, ids.dmarc, "sluice_milter_dmarc_total", "DMARC results", "result",
		    dmarc_results, N(dmarc_results)) < 0
	    || each(m, ids.rules, "sluice_milter_rules_total",
		    "Address rules verdicts (permit/forbid lists)", "verdict",
		    rules_verdicts, N(rules_verdicts)) < 0)
		return -1;
	ids.aliases = metrics_counter(m, "sluice_milter_aliases_expanded_total",
				      "Messages whose recipients an alias expanded", NULL);
	ids.catchalls = metrics_counter(m, "sluice_milter_catchall_total",
					"Messages delivered to a catch-all mailbox", NULL);
	ids.srs = metrics_counter(m, "sluice_milter_srs_rewritten_total",
				  "Messages whose sender SRS rewrote", NULL);
	ids.srs_bounces = metrics_counter(m, "sluice_milter_srs_bounces_total",
					  "Bounces to SRS addresses reversed", NULL);
	ids.copies = metrics_counter(m, "sluice_milter_copies_total",
				     "Hidden copies added (always_bcc, incoming, outgoing, domain)",
				     NULL);
	ids.copy_failures = metrics_counter(m, "sluice_milter_copy_failures_total",
					    "Hidden copies that could not be added", NULL);
	for (i = 0; module_names && module_names[i] && i < MODULES_MAX; i++) {
		ids.module_names[i] = module_names[i];
		snprintf(labels, sizeof(labels), "module=\"%s\"", module_names[i]);
		ids.module_seconds[i] = metrics_histogram(m, "sluice_milter_module_seconds",
							  "Time a module takes at end of message",
							  labels, latency_bounds, NBOUNDS);
		if (ids.module_seconds[i] < 0)
			return -1;
	}
	for (; i < MODULES_MAX; i++)
		ids.module_seconds[i] = -1;
	return ids.aliases < 0 || ids.catchalls < 0 || ids.srs < 0 || ids.srs_bounces < 0
	       || ids.copies < 0 || ids.copy_failures < 0 ? -1 : 0;
}

int
metric_init(enum metric_daemon daemon, const char *const *module_names)
{
	struct metrics *m = metrics_new();

	/* A second call (unit tests) starts over; daemons call it once. */
	metrics_free(ids.reg);
	memset(&ids, 0, sizeof(ids));
	if (m == NULL || register_common(m) < 0
	    || (daemon == METRIC_POLICYD ? register_policyd(m)
					 : register_milter(m, module_names)) < 0) {
		metrics_free(m);
		return -1;
	}
	metrics_seal(m);
	metrics_set(m, ids.start_time, (int64_t)time(NULL));
	ids.daemon = daemon;
	ids.reg = m;
	return 0;
}

void
metric_redis(uint64_t ns, bool failed)
{
	metrics_observe_ns(ids.reg, ids.redis_seconds, ns);
	if (failed)
		metrics_add(ids.reg, ids.redis_errors, 1);
}

void
metric_dns(uint64_t ns, bool failed)
{
	metrics_observe_ns(ids.reg, ids.dns_seconds, ns);
	if (failed)
		metrics_add(ids.reg, ids.dns_errors, 1);
}

void
metric_lists_published(const struct lists *lists)
{
	int i;

	if (ids.reg == NULL)
		return;
	for (i = 0; i < LIST_COUNT; i++)
		metrics_set(ids.reg, ids.list_entries[i],
			    (int64_t)pattern_list_size(lists_get(lists, (enum list_id)i)));
	metrics_set(ids.reg, ids.lists_entries, (int64_t)lists_entries(lists));
	metrics_set(ids.reg, ids.lists_age, (int64_t)time(NULL));
}

void
metric_lists_failed(void)
{
	metrics_add(ids.reg, ids.lists_failures, 1);
}

void
metric_config_loaded(unsigned long generation)
{
	metrics_set(ids.reg, ids.config_generation, (int64_t)generation);
}

void
metric_config_reload_failed(void)
{
	metrics_add(ids.reg, ids.reload_failures, 1);
}

static size_t
index_of(const char *const *names, size_t n, const char *value, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (strlen(names[i]) == len && strncmp(names[i], value, len) == 0)
			return i;
	return n - 1;	/* "other" (or the last of the set) */
}

/* Whether action's first word is w (case-insensitive, as Postfix reads it). */
static inline bool
first_word_is(const char *action, const char *w, size_t n)
{
	return strncasecmp(action, w, n) == 0 && (action[n] == ' ' || action[n] == '\0');
}

/* The kind of a policy action, told apart by its first letter: this runs
 * for every answer, so no scan of the whole text. */
static size_t
action_kind(const char *action)
{
#define IS(w) first_word_is(action, w, sizeof(w) - 1)
	switch (action[0] | 0x20) {
	case '4' | 0x20: return 2;
	case '5' | 0x20: return 3;
	case 'd': return IS("DUNNO") ? 0 : IS("DEFER_IF_PERMIT") || IS("DEFER")
				 || IS("DEFER_IF_REJECT") ? 2 : NACTIONS - 1;
	case 'p': return IS("PREPEND") ? 1 : IS("PERMIT") ? 5 : NACTIONS - 1;
	case 'r': return IS("REJECT") ? 3 : NACTIONS - 1;
	case 'h': return IS("HOLD") ? 4 : NACTIONS - 1;
	case 'o': return IS("OK") ? 5 : NACTIONS - 1;
	default: return NACTIONS - 1;
	}
#undef IS
}

void
metric_policyd_decision(const char *verdict_key, const char *action, uint64_t ns)
{
	size_t c;

	if (ids.reg == NULL)
		return;
	if (verdict_key == NULL)
		verdict_key = "action";
	for (c = 0; c + 1 < NCHECKS && (check_keys[c][0] != verdict_key[0]
					  || strcmp(check_keys[c], verdict_key) != 0); c++)
		;	/* not found: the last, "other" */
	metrics_add(ids.reg, ids.decisions[c][action_kind(action)], 1);
	metrics_observe_ns(ids.reg, ids.decision_seconds[c], ns);
}

/* One "key=value" field of the verdicts, value of vlen bytes. */
static void
milter_verdict(const char *key, size_t klen, const char *value, size_t vlen)
{
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	const char *p = value, *end = value + vlen;

	if (KEY("spf")) {
		metrics_add(ids.reg, ids.spf[index_of(spf_results, N(spf_results), value, vlen)], 1);
	} else if (KEY("dkim")) {
		/* dkim_sign: signed|error|skipped; auth: one result per signature */
		size_t s = index_of(sign_results, N(sign_results) + 1, value, vlen);

		if (s < N(sign_results)) {
			metrics_add(ids.reg, ids.signed_[s], 1);
			return;
		}
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);

			metrics_add(ids.reg, ids.dkim[index_of(dkim_results, N(dkim_results), p, len)],
				    1);
			p += len + 1;
		}
	} else if (KEY("dmarc")) {
		metrics_add(ids.reg, ids.dmarc[index_of(dmarc_results, N(dmarc_results), value, vlen)],
			    1);
	} else if (KEY("rules")) {
		metrics_add(ids.reg, ids.rules[index_of(rules_verdicts, N(rules_verdicts), value,
							vlen)], 1);
	} else if (KEY("alias")) {
		metrics_add(ids.reg, ids.aliases, 1);
	} else if (KEY("catchall")) {
		metrics_add(ids.reg, ids.catchalls, 1);
	} else if (KEY("srs")) {
		if (vlen < 7 || memcmp(value, "skipped", 7) != 0)
			metrics_add(ids.reg, ids.srs, 1);
	} else if (KEY("srs_bounce")) {
		metrics_add(ids.reg, ids.srs_bounces, 1);
	} else if (KEY("copy") || KEY("copy_failed")) {
		uint64_t n = 1;

		for (; p < end; p++)
			n += *p == ',';
		metrics_add(ids.reg, KEY("copy") ? ids.copies : ids.copy_failures, n);
	}
#undef KEY
}

void
metric_milter_message(const char *result, const struct logline *verdicts)
{
	const char *p, *end;
	bool hold = false;

	if (ids.reg == NULL)
		return;
	/* Fields are " key=value", values sanitized: no spaces inside. */
	for (p = verdicts->buf, end = p + verdicts->len; p < end;) {
		const char *field, *eq;
		size_t flen;

		while (p < end && *p == ' ')
			p++;
		field = p;
		while (p < end && *p != ' ')
			p++;
		flen = (size_t)(p - field);
		if (flen == 0 || (eq = memchr(field, '=', flen)) == NULL)
			continue;
		if (eq - field == 6 && memcmp(field, "action", 6) == 0
		    && flen == 11 && memcmp(eq + 1, "hold", 4) == 0)
			hold = true;
		milter_verdict(field, (size_t)(eq - field), eq + 1, flen - (size_t)(eq - field) - 1);
	}
	if (hold && strcmp(result, "accept") == 0)
		result = "quarantine";
	metrics_add(ids.reg, ids.messages[index_of(message_results, N(message_results), result,
						   strlen(result))], 1);
}

void
metric_milter_module(int module, uint64_t ns)
{
	if (ids.reg && module >= 0 && module < MODULES_MAX)
		metrics_observe_ns(ids.reg, ids.module_seconds[module], ns);
}

struct out {
	char *buf;
	size_t size, len;
};

static void
emit(struct out *o, const char *key, const char *key2, uint64_t v)
{
	int n;

	if (o->len >= o->size)
		return;
	n = snprintf(o->buf + o->len, o->size - o->len, " %s%s%s=%llu", key, key2 ? "_" : "",
		     key2 ? key2 : "", (unsigned long long)v);
	if (n > 0)
		o->len += (size_t)n;
}

static void
emit_set(struct out *o, const char *prefix, const int *set, const char *const *names, size_t n)
{
	size_t i;
	uint64_t v;

	for (i = 0; i < n; i++)
		if ((v = metrics_value(ids.reg, set[i])) > 0)
			emit(o, prefix, names[i], v);
}

void
metric_summary(char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	int64_t refreshed;
	uint64_t total = 0, v;
	size_t c, a;

	buf[0] = '\0';
	if (ids.reg == NULL || size == 0)
		return;
	o.len = (size_t)snprintf(buf, size, "summary:");
	if (ids.daemon == METRIC_POLICYD) {
		for (c = 0; c < NCHECKS; c++)
			for (a = 0; a < NACTIONS; a++)
				total += metrics_value(ids.reg, ids.decisions[c][a]);
		emit(&o, "decisions", NULL, total);
		for (c = 0; c < NCHECKS; c++)
			for (a = 0; a < NACTIONS; a++)
				if ((v = metrics_value(ids.reg, ids.decisions[c][a])) > 0)
					emit(&o, check_keys[c], action_names[a], v);
	} else {
		emit_set(&o, "messages", ids.messages, message_results, N(message_results));
		emit_set(&o, "dkim_sign", ids.signed_, sign_results, N(sign_results));
		emit_set(&o, "spf", ids.spf, spf_results, N(spf_results));
		emit_set(&o, "dkim", ids.dkim, dkim_results, N(dkim_results));
		emit_set(&o, "dmarc", ids.dmarc, dmarc_results, N(dmarc_results));
		emit_set(&o, "rules", ids.rules, rules_verdicts, N(rules_verdicts));
		emit(&o, "aliases", NULL, metrics_value(ids.reg, ids.aliases));
		emit(&o, "copies", NULL, metrics_value(ids.reg, ids.copies));
	}
	emit(&o, "redis_errors", NULL, metrics_value(ids.reg, ids.redis_errors));
	emit(&o, "dns_errors", NULL, metrics_value(ids.reg, ids.dns_errors));
	emit(&o, "reload_failures", NULL, metrics_value(ids.reg, ids.reload_failures));
	emit(&o, "lists_refresh_failures", NULL, metrics_value(ids.reg, ids.lists_failures));
	emit(&o, "lists_entries", NULL, metrics_value(ids.reg, ids.lists_entries));
	refreshed = (int64_t)metrics_value(ids.reg, ids.lists_age);
	if (o.len < size)
		o.len += (size_t)snprintf(buf + o.len, size - o.len, refreshed
					  ? " lists_age=%lld" : " lists_age=never",
					  (long long)(time(NULL) - refreshed));
}
