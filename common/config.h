/*
 * config.h - sluice.conf, the one configuration file of both daemons.
 *
 * Interface:
 *   config_load()  parses and validates the whole file (libconfig syntax)
 *                  into a new struct sluice_config, with every default of
 *                  the spec filled in. On error it returns NULL and writes
 *                  "FILE:LINE: message" into err.
 *   config_free()  releases one.
 *
 * Contract: a loaded config is complete and valid: every key is known,
 * typed and in range (unknown keys are errors, so a typo never silently
 * means "default"); durations are seconds; lists of networks are parsed;
 * endpoints are parsed; the Redis password is read from password_file at
 * load time (while still root). A config is immutable once loaded: a
 * reload (SIGHUP) loads a new one and swaps it in only if it is valid.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "endpoint.h"
#include "network.h"
#include "redis.h"
#include "relay_hop.h"
#include "dnsbl_zone.h"

#define SLUICE_DEFAULT_CONFIG "/etc/sluice/sluice.conf"

struct strlist {
	char **items;
	size_t count;
};

enum canon { CANON_RELAXED, CANON_SIMPLE };

struct dkim_key_conf {
	char *domain;
	char *selector;
	char *key_path;
	char *source;		/* "FILE:LINE" of the entry, for key errors */
};

struct greylist_conf {
	bool enabled;
	long delay;		/* seconds */
	long retry_window;
	long auto_allowlist;
	int ipv4_prefix;
	int ipv6_prefix;
	bool spf_bypass;
	bool spf_domain_triplet;	/* SPF pass: key on the sender domain */
	int auto_allowlist_clients;	/* passes before a client is allowlisted */
	bool add_header;
	struct net_list allow_networks;
	struct strlist allow_client_domains;
	struct strlist allow_senders;	/* address, domain or /regex/ */
	struct strlist allow_recipients;
};

struct milter_conf {
	struct endpoint listen;
	char *pid_file;
	char *authserv_id;
	bool spf;
	bool dkim_verify;
	bool dmarc;
	bool dmarc_reject;
	bool dmarc_quarantine;	/* hold failures of p=quarantine domains */
	long dns_timeout_ms;	/* DNS time budget of one message */
	char *always_bcc;	/* NULL when unset */
	char *incoming_copy;
	char *outgoing_copy;
	struct srs_conf {		/* milter.srs; off when domain is NULL */
		char *domain;		/* the SRS addresses' domain */
		char *secret_file;	/* first line: the HMAC key */
		int max_age_days;	/* bounces to older SRS0 addresses: 550 */
		bool reinject_set;	/* mixed local/external messages split */
		struct endpoint reinject;	/* Postfix listener without milters */
		int line;		/* of the group, for errors */
	} srs;
	bool fail_open;		/* no lists ever loaded: accept (true) or 451 */
	bool metrics_set;	/* milter.metrics given: serve /metrics */
	struct endpoint metrics;
};

struct dkim_conf {
	bool sign;
	enum canon header_canon;
	enum canon body_canon;
	struct strlist headers;
	struct strlist oversign;
	struct dkim_key_conf *keys;
	size_t key_count;
	bool subdomains;	/* a.example.com may use example.com's keys */
	long expire;		/* x= after t=, seconds; 0: none */
};

/*
 * policyd.ratelimit (config_ratelimit.c): rules of subject + what is
 * counted + limit per window, and who is exempt. A rule counts at the
 * stage that sees what it counts: connections at CONNECT, recipients at
 * RCPT, messages at END-OF-MESSAGE. Inbound: a client neither in
 * trusted_networks nor authenticated; outbound: the others.
 */
#define RATELIMIT_RULES_MAX 8	/* rules in the config: calls per request */
enum rl_subject { RL_CLIENT, RL_SENDER, RL_SENDER_DOMAIN, RL_SASL_USER, RL_RECIPIENT };
enum rl_count { RL_CONNECTIONS, RL_MESSAGES, RL_RECIPIENTS };
enum rl_direction { RL_INBOUND, RL_OUTBOUND, RL_ANY };

struct ratelimit_rule {
	char *name;		/* for logs and replies; default "rule N" */
	enum rl_subject subject;
	enum rl_count count;
	enum rl_direction direction;
	int limit;		/* events per window */
	long window;		/* seconds */
	int ipv4_prefix, ipv6_prefix;	/* RL_CLIENT: the client's network */
};

struct ratelimit_conf {
	struct ratelimit_rule rules[RATELIMIT_RULES_MAX];
	size_t rule_count;
	struct net_list exempt_networks;
	struct strlist exempt_senders;	/* address, domain or /regex/ */
	struct strlist exempt_sasl_users;	/* login names */
};

/* The relaying list (policyd.relay, check_relay.c, access.h). */
enum relay_option { RELAY_OPTION_NONE, RELAY_OPTION_FROM, RELAY_OPTION_TO,
		    RELAY_OPTION_CONNECT };
enum relay_action { RELAY_ACTION_RELAY, RELAY_ACTION_REJECT, RELAY_ACTION_OK };

struct relay_entry {
	char *match;		/* lowercase domain or host; "" for a network */
	bool is_network;
	struct net_cidr network;	/* when is_network */
	enum relay_option option;
	enum relay_action action;
};

struct relay_conf {
	struct relay_entry *entries;
	size_t count;
	bool exact_domain;	/* off: a domain also matches its subdomains */
};

/* policyd's access checks (config_access.c). */
struct access_conf {
	struct relay_conf relay;
	int reverse_dns_code;	/* 450 or 550: require_reverse_dns's reply */
};

/* policyd.recipients: recipient validation (config_recipients.c). */
enum recipient_validation { VALIDATE_OFF, VALIDATE_LIST, VALIDATE_SMTP, VALIDATE_LDAP };

struct recipients_conf {
	enum recipient_validation validate;
	long positive_ttl;	/* seconds a "valid" answer is cached (smtp, ldap) */
	long negative_ttl;	/* seconds an "unknown" answer is cached */
	long timeout_ms;	/* one probe or directory lookup, all included */
	int concurrency;	/* probes at once per internal server (and per process) */
	long idle_ms;		/* an idle probe connection is closed after this */
	/* validate = "ldap" */
	char *ldap_uri;		/* "ldap://10.0.0.5" */
	char *ldap_bind_dn;	/* NULL: anonymous */
	char *ldap_password;	/* read from ldap_password_file at load */
	char *ldap_base;
	char *ldap_filter;	/* %s: the address, escaped (RFC 4515) */
};

/* policyd.dnsbl (config_dnsbl.c): DNSBL/DNSWL zones; off without zones. */
struct dnsbl_conf {
	int threshold;		/* a score at or above it rejects */
	long budget_ms;		/* all zones of one request, in parallel */
	long negative_ttl;	/* seconds a "not listed" answer is cached */
	size_t zone_count;
	struct dnsbl_zone zones[DNSBL_ZONES_MAX];
};

struct policyd_conf {
	struct endpoint listen;
	char *pid_file;
	bool fail_open;
	int max_connections;
	int workers;		/* event-loop threads */
	long idle_timeout;	/* seconds a client may stay silent */
	long request_timeout;	/* seconds a request may take to arrive */
	bool test_clock;	/* test aid: clock offset from Redis */
	long spf_timeout_ms;	/* time budget of one SPF evaluation */
	struct greylist_conf greylist;
	struct ratelimit_conf ratelimit;
	struct recipients_conf recipients;
	int max_recipients;	/* 0: no limit */
	bool require_reverse_dns;
	bool enforce_sender_login;
	struct access_conf access;	/* relay, reverse DNS reply */
	struct dnsbl_conf dnsbl;
	bool metrics_set;	/* policyd.metrics given: serve /metrics */
	struct endpoint metrics;
};

/* How the list cache reads Redis (list_cache.h). */
struct lists_conf {
	int bulk_timeout_ms;	/* one page of a bulk read (SSCAN, HSCAN, SCAN) */
	long resync;		/* seconds between safety-net full re-reads */
};

/*
 * The postfix group (config_postfix.c): Postfix-only settings that the
 * daemons accept and ignore; `sluice-ctl postconf` turns them into
 * main.cf and master.cf lines. A hop is a smarthost or one of
 * NethServer's relay rules.
 */
enum pf_rule_type { PF_RULE_SENDER, PF_RULE_RECIPIENT, PF_RULE_DEFAULT };
enum pf_tls { PF_TLS_NONE, PF_TLS_MAY, PF_TLS_ENCRYPT, PF_TLS_DANE, PF_TLS_DANE_ONLY,
	      PF_TLS_VERIFY, PF_TLS_SECURE };
#define PF_RELAY_RULES_MAX 256	/* each is one entry of an inline: table */

struct pf_hop {
	enum pf_rule_type type;
	char *match;		/* sender/recipient: lowercase address or domain */
	struct relay_hop hop;	/* host ("" when unset) and port */
	enum pf_tls tls;
	bool implicit_tls;	/* TLS from the first byte (port 465) */
	char *sasl_user;	/* NULL: no SASL */
	char *sasl_password_file;	/* the admin's Postfix map file */
	char *source;		/* "FILE:LINE" of the entry */
};

struct postfix_conf {
	int message_size_mb;	/* message_size_limit, megabytes */
	bool helo_required;
	bool accept_unresolvable_domains;	/* off: reject_unknown_sender_domain */
	long queue_lifetime;	/* seconds */
	bool no_address_mappings;	/* receive_override_options */
	struct {
		bool enabled;
		char *service;	/* master.cf name of the public smtpd ("smtp") */
		long greet_wait;	/* seconds */
		long cache_retention;	/* a passed client is remembered this long */
	} postscreen;
	struct {
		bool enabled;
		int connections;	/* at once per client (anvil) */
		int rate;		/* connections per window per client */
		long window;		/* anvil_rate_time_unit, seconds */
	} client_limits;
	bool smarthost_set;
	struct pf_hop smarthost;	/* the default rule, however written */
	struct pf_hop *rules;	/* sender and recipient rules, in file order */
	size_t rule_count;
};

struct sluice_config {
	char *path;
	char *user;		/* unprivileged user the daemons become */
	char *socket_group;	/* group of both unix sockets ("postfix") */
	gid_t socket_gid;	/* socket_group, looked up at load */
	mode_t socket_mode;	/* mode of both unix sockets (0660) */
	char *hostname;		/* this host, for headers and logs */
	struct redis_settings redis;
	char *redis_prefix;
	struct lists_conf lists;
	struct strlist local_domains;	/* main domain first */
	struct strlist relay_domains;	/* the domains only, "|host" cut off */
	struct relay_hop *relay_hops;	/* relay_hops[i]: relay_domains.items[i]'s */
	struct net_list trusted_networks;
	struct milter_conf milter;
	struct dkim_conf dkim;
	struct policyd_conf policyd;
	struct postfix_conf postfix;	/* read by sluice-ctl postconf only */
};

/* "none", "may", "encrypt", ...: Postfix's name of a TLS level */
const char *postfix_tls_name(enum pf_tls tls);

struct sluice_config *config_load(const char *path, char *err, size_t errsize);
void config_free(struct sluice_config *cfg);

/* Parses "120", "120s", "2m", "3h", "2d" into seconds; -1 if malformed. */
long config_parse_duration(const char *text);

bool strlist_contains(const struct strlist *list, const char *item);
void strlist_free(struct strlist *list);
void relay_conf_free(struct relay_conf *relay);

#endif
