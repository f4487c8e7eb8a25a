/* test_config.c - sluice.conf loading: defaults, types, ranges, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_fixture.h"

/* load_text, expect_error, expect_ok, conf_path: config_fixture.h */

static void
test_defaults(void **state)
{
	struct sluice_config *cfg = expect_ok("");
	struct net_addr a;

	(void)state;
	assert_string_equal(cfg->user, "sluice");
	assert_string_equal(cfg->redis.host, "127.0.0.1");
	assert_int_equal(cfg->redis.port, 6379);
	assert_int_equal(cfg->redis.timeout_ms, 100);
	assert_string_equal(cfg->redis_prefix, "sluice:");
	assert_int_equal(cfg->policyd.greylist.delay, 120);
	assert_int_equal(cfg->policyd.greylist.retry_window, 2 * 86400);
	assert_int_equal(cfg->policyd.greylist.auto_allowlist, 7 * 86400);
	assert_int_equal(cfg->policyd.greylist.ipv4_prefix, 32);
	assert_int_equal(cfg->policyd.greylist.ipv6_prefix, 128);
	assert_true(cfg->policyd.fail_open);
	assert_true(cfg->policyd.greylist.spf_bypass);
	/* features not built yet are off */
	assert_false(cfg->milter.spf);
	assert_false(cfg->milter.dkim_verify);
	assert_false(cfg->milter.dmarc);
	assert_false(cfg->milter.dmarc_reject);
	assert_null(cfg->milter.always_bcc);
	assert_int_equal(cfg->policyd.recipients.validate, VALIDATE_OFF);
	assert_int_equal(cfg->policyd.max_recipients, 0);
	assert_false(cfg->policyd.require_reverse_dns);
	assert_false(cfg->policyd.enforce_sender_login);
	assert_int_equal(cfg->dkim.headers.count, 19);
	assert_string_equal(cfg->dkim.headers.items[0], "From");
	assert_int_equal(cfg->milter.listen.kind, ENDPOINT_UNIX);
	assert_string_equal(cfg->milter.listen.path, "/run/sluice/milter.sock");
	assert_int_equal(net_addr_parse("127.5.6.7", &a), 0);
	assert_true(net_list_contains(&cfg->trusted_networks, &a));
	assert_int_equal(net_addr_parse("192.168.1.1", &a), 0);
	assert_false(net_list_contains(&cfg->trusted_networks, &a));
	assert_true(net_list_contains(&cfg->policyd.greylist.allow_networks, &a));
	config_free(cfg);
}

static void
test_reference_file_is_valid(void **state)
{
	char err[1024];
	struct sluice_config *cfg = config_load(SRCDIR "/etc/sluice.conf", err, sizeof(err));

	(void)state;
	if (cfg == NULL)
		fail_msg("etc/sluice.conf: %s", err);
	assert_int_equal(cfg->policyd.idle_timeout, 600);
	assert_int_equal(cfg->policyd.request_timeout, 10);
	config_free(cfg);
}

static void
test_values(void **state)
{
	struct sluice_config *cfg = expect_ok(
		"redis = { socket = \"/run/redis.sock\"; db = 3; timeout_ms = 250; prefix = \"x:\";\n"
		"  sentinel = { master = \"m\"; hosts = [ \"10.0.0.1:26379\", \"[::1]:26380\" ]; }; };\n"
		"domains = { local = [ \"Example.COM\", \"b.example\" ]; relay = [ \"r.example\" ]; };\n"
		"trusted_networks = [ \"192.0.2.0/24\" ];\n"
		"milter = { listen = \"inet:127.0.0.1:8891\"; spf = false; dmarc = false; always_bcc = \"\"; };\n"
		"dkim = { header_canon = \"simple\"; oversign = [ \"From\" ];\n"
		"  keys = ( { domain = \"example.com\"; selector = \"s1\"; key = \"/k/1.pem\"; } ); };\n"
		"policyd = { listen = \"inet:[::1]:10023\"; fail_open = false;\n"
		"  greylist = { delay = \"5m\"; retry_window = \"1d\"; ipv4_prefix = 24;\n"
		"    allow_senders = [ \"/.*@ttt-point\\\\.de/\", \"x.example\", \"u@y.example\" ]; };\n"
		"  recipients = { validate = \"off\"; }; max_recipients = 0; };\n");

	(void)state;
	assert_string_equal(cfg->redis.socket, "/run/redis.sock");
	assert_int_equal(cfg->redis.db, 3);
	assert_int_equal(cfg->redis.sentinel_count, 2);
	assert_string_equal(cfg->redis.sentinels[1].host, "::1");
	assert_int_equal(cfg->redis.sentinels[1].port, 26380);
	assert_string_equal(cfg->local_domains.items[0], "example.com");
	assert_true(strlist_contains(&cfg->local_domains, "B.EXAMPLE"));
	assert_int_equal(cfg->milter.listen.kind, ENDPOINT_INET);
	assert_string_equal(cfg->milter.listen.port, "8891");
	assert_false(cfg->milter.dmarc_reject);
	assert_null(cfg->milter.always_bcc);
	assert_int_equal(cfg->dkim.header_canon, CANON_SIMPLE);
	assert_int_equal(cfg->dkim.body_canon, CANON_RELAXED);
	assert_int_equal(cfg->dkim.key_count, 1);
	assert_string_equal(cfg->dkim.keys[0].selector, "s1");
	assert_string_equal(cfg->policyd.listen.host, "::1");
	assert_false(cfg->policyd.fail_open);
	assert_int_equal(cfg->policyd.greylist.delay, 300);
	assert_int_equal(cfg->policyd.greylist.ipv4_prefix, 24);
	assert_int_equal(cfg->policyd.greylist.allow_senders.count, 3);
	assert_int_equal(cfg->policyd.recipients.validate, VALIDATE_OFF);
	assert_int_equal(cfg->policyd.max_recipients, 0);
	config_free(cfg);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("user = \"x\";\nbogus = 1;\n", 2, "unknown setting 'bogus'");
	expect_error("policyd = {\n  greylist = {\n    delya = 5;\n  };\n};\n", 3, "unknown setting 'delya'");
	expect_error("redis = {\n port = 70000; };\n", 2, "out of range");
	expect_error("redis = { port = \"6379\"; };\n", 1, "whole number");
	expect_error("\n\nredis = { port = 6379 \n", 4, "syntax error");
	expect_error("policyd = { greylist = {\n delay = \"5x\"; }; };\n", 2, "not a duration");
	expect_error("policyd = { greylist = { delay = \"3d\"; }; };\n", 1, "out of range");
	expect_error("policyd = { request_timeout = \"10m\"; };\n", 1, "out of range");
	expect_error("policyd = { greylist = { delay = \"2h\"; retry_window = \"1h\"; }; };\n", 1,
		     "shorter than retry_window");
	expect_error("trusted_networks = [\n \"10.0.0.0/33\" ];\n", 2, "not an IP address or CIDR");
	expect_error("trusted_networks = \"10.0.0.0/8\";\n", 1, "must be a list");
	expect_error("milter = { listen = \"tcp:1.2.3.4:5\"; };\n", 1, "unix: or inet:");
	expect_error("milter = { listen = \"inet:8891\"; };\n", 1, "inet:host:port");
	expect_error("milter = { listen = \"unix:relative\"; };\n", 1, "absolute");
	expect_error("milter = { spf = 1; };\n", 1, "true or false");
	expect_error("milter = { always_bcc = \"not an address\"; };\n", 1,
		     "always_bcc: 'not an address' is not a mailbox address");
	expect_error("milter = {\n outgoing_copy = \"a@[192.0.2.1]\"; };\n", 2, "outgoing_copy:");
	expect_error("milter = { fail_open = \"no\"; };\n", 1, "true or false");
	expect_error("domains = { local = [ \"a..b\" ]; };\n", 1, "empty label");
	expect_error("dkim = { body_canon = \"nofws\"; };\n", 1, "relaxed");
	expect_error("dkim = { keys = ( { domain = \"a.example\"; selector = \"s\"; } ); };\n", 1,
		     "needs domain, selector and key");
	expect_error("dkim = { keys = ( { domain = \"a.example\"; selector = \"s\"; key = \"k.pem\"; } ); };\n",
		     1, "absolute path");
	expect_error("policyd = { greylist = { allow_senders = [ \"/a(/\" ]; }; };\n", 1,
		     "invalid regular expression");
	expect_error("policyd = { recipients = { validate = \"maybe\"; }; };\n", 1, "off");
	expect_error("policyd = { ratelimit = { x = 1; }; };\n", 1, "must be a list of rules");
	expect_error("redis = { sentinel = { master = \"m\"; }; };\n", 1, "hosts");
	expect_error("redis = { password_file = \"/nonexistent/pw\"; };\n", 1, "password_file");
	expect_error("policyd = 5;\n", 1, "must be a group");
}

/* milter.metrics, policyd.metrics: off by default and when "", an inet:
 * endpoint, and clear errors for anything else. */
static void
test_metrics_endpoints(void **state)
{
	struct sluice_config *cfg;

	(void)state;
	cfg = expect_ok("user = \"x\";\n");
	assert_false(cfg->milter.metrics_set);
	assert_false(cfg->policyd.metrics_set);
	config_free(cfg);
	cfg = expect_ok("policyd = { metrics = \"inet:127.0.0.1:9187\"; };\n"
			"milter = { metrics = \"inet:[::1]:9188\"; };\n");
	assert_true(cfg->policyd.metrics_set);
	assert_string_equal(cfg->policyd.metrics.host, "127.0.0.1");
	assert_string_equal(cfg->policyd.metrics.port, "9187");
	assert_true(cfg->milter.metrics_set);
	assert_string_equal(cfg->milter.metrics.port, "9188");
	config_free(cfg);
	cfg = expect_ok("policyd = { metrics = \"\"; };\n");
	assert_false(cfg->policyd.metrics_set);
	config_free(cfg);
	expect_error("policyd = {\n metrics = \"unix:/run/sluice/m.sock\"; };\n", 2,
		     "must be inet:HOST:PORT");
	expect_error("milter = { metrics = \"inet:9188\"; };\n", 1, "inet:host:port");
	expect_error("milter = { metrics = 9188; };\n", 1, "must be a string");
	expect_error("metrics = \"inet:127.0.0.1:9187\";\n", 1, "unknown setting 'metrics'");
}

/* "/.*@aaa...[.]example/" of exactly len bytes (no libconfig escapes). */
static void
regex_of_length(char *buf, size_t len)
{
	size_t k = len - strlen("/.*@[.]example/");

	strcpy(buf, "/.*@");
	memset(buf + 4, 'a', k);
	strcpy(buf + 4 + k, "[.]example/");
}

/* Issue 7, defects 1 and 2: -t refuses exactly what the daemons refuse
 * (patterns.c decides both): 256 bytes is the last length accepted, the
 * costly regexes are refused, at the line of the member. */
static void
test_regex_members(void **state)
{
	char re[300], text[1200];
	struct sluice_config *cfg;
	int i;

	(void)state;
	regex_of_length(re, 256);
	snprintf(text, sizeof(text), "policyd: { greylist: {\n allow_senders = [\n \"%s\" ] } }\n", re);
	cfg = expect_ok(text);
	assert_string_equal(cfg->policyd.greylist.allow_senders.items[0], re);
	config_free(cfg);
	regex_of_length(re, 257);
	snprintf(text, sizeof(text), "policyd: { greylist: {\n allow_senders = [\n \"%s\" ] } }\n", re);
	expect_error(text, 3, "longer than 256 bytes");
	expect_error("policyd: { greylist: {\n allow_recipients = [ \"a@b.test\",\n"
		     " \"/((.{0,40}){0,40}){0,40}/\" ] } }\n", 3, "too large");
	expect_error("policyd: { greylist: {\n allow_recipients = [\n"
		     " \"/(((.{0,40}){0,40}){0,40}){0,40}/\" ] } }\n", 3, "too large");
	expect_error("policyd: { greylist: {\n allow_senders = [\n \"/a(/\" ] } }\n", 3,
		     "invalid regular expression: missing closing parenthesis");
	/* the count bound, at the line of the first regex over it */
	{
		size_t size = 64 + 20 * 1002, len;
		char *big = malloc(size);

		assert_non_null(big);
		len = (size_t)snprintf(big, size, "policyd: { greylist: { allow_senders = [\n");
		for (i = 0; i < 1001; i++)
			len += (size_t)snprintf(big + len, size - len, "\"/u%d@.*/\"%s",
						i, i < 1000 ? ",\n" : "");
		snprintf(big + len, size - len, " ] } }\n");
		expect_error(big, 1002, "more than 1000 regular expressions");
		free(big);
	}
}

static void
test_missing_file(void **state)
{
	char err[512];

	(void)state;
	assert_null(config_load("/nonexistent/sluice.conf", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/sluice.conf:0: cannot read"));
}

static void
test_password_file(void **state)
{
	char pw[] = "/tmp/sluice-pw.XXXXXX", text[256];
	int fd = mkstemp(pw);
	struct sluice_config *cfg;

	(void)state;
	assert_true(write(fd, "s3cret\n", 7) == 7);
	close(fd);
	snprintf(text, sizeof(text), "redis = { password_file = \"%s\"; };\n", pw);
	cfg = expect_ok(text);
	assert_string_equal(cfg->redis.password, "s3cret");
	config_free(cfg);
	unlink(pw);
}

static void
test_durations(void **state)
{
	(void)state;
	assert_int_equal(config_parse_duration("0"), 0);
	assert_int_equal(config_parse_duration("90"), 90);
	assert_int_equal(config_parse_duration("90s"), 90);
	assert_int_equal(config_parse_duration("5m"), 300);
	assert_int_equal(config_parse_duration("4h"), 14400);
	assert_int_equal(config_parse_duration("2d"), 172800);
	assert_int_equal(config_parse_duration("1w"), 604800);
	assert_int_equal(config_parse_duration(""), -1);
	assert_int_equal(config_parse_duration("m"), -1);
	assert_int_equal(config_parse_duration("-5"), -1);
	assert_int_equal(config_parse_duration("5mm"), -1);
	assert_int_equal(config_parse_duration("5 m"), -1);
	assert_int_equal(config_parse_duration("99999999999999999999"), -1);
}

/* hostname is written into X-Greylist and policy replies. */
static void
test_hostname(void **state)
{
	struct sluice_config *cfg;

	(void)state;
	cfg = expect_ok("hostname = \"MX-1.example.com\";\n");
	assert_string_equal(cfg->hostname, "MX-1.example.com");
	config_free(cfg);
	expect_error("user = \"x\";\nhostname = \"mx1.example.com\\nX-Evil: 1\";\n", 2,
		     "hostname: a host name has only letters");
	expect_error("hostname = \"mx1 example\";\n", 1, "hostname:");
	expect_error("hostname = \"mx_1.example\";\n", 1, "hostname:");
	expect_error("hostname = \"mx1.example.;\";\n", 1, "hostname:");
	expect_error("hostname = \"\";\n", 1, "hostname:");
	expect_error("hostname = \"mx1..example\";\n", 1, "empty label");
	expect_error("hostname = \"mx1.example.\";\n", 1, "ends with a dot");
	expect_error("hostname = \"-mx.example\";\n", 1, "starts with '-'");
	expect_error("hostname = \"mx-.example\";\n", 1, "ends with '-'");
	expect_error("hostname = \"m\xc3\xbc.example\";\n", 1, "hostname:");
	expect_error("hostname = \"a123456789012345678901234567890123456789012345678901234567890123.x\";\n",
		     1, "longer than 63");
}

/* A bad list member is reported at its own line, whatever the layout:
 * libconfig itself records an element at the line of the token after it. */
static void
test_member_lines(void **state)
{
	char text[1024], re[301];

	(void)state;
	expect_error("trusted_networks = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\"\n];\n", 3,
		     "trusted_networks: '10.0.0.0/33'");
	expect_error("trusted_networks = [\n  \"10.0.0.0/33\",\n  \"10.0.0.0/8\"\n];\n", 2,
		     "'10.0.0.0/33'");
	expect_error("trusted_networks = [ \"10.0.0.0/8\"\n  , \"10.0.0.0/33\"\n  , \"::1\"\n];\n", 2,
		     "'10.0.0.0/33'");
	expect_error("domains = { local = [ \"a.example\", # a \"quoted\" ] comment\n"
		     "  /* block, \"with\" [ ] ( ) */ \"b.example\",\n"
		     "  \"a..b\" // last\n\n  ]; };\n", 3, "local: 'a..b'");
	expect_error("domains = { relay = [ \"x.example\" ];\n  local = [\n    \"ok.example\",\n"
		     "    \"bad domain\"\n  ]; };\n", 4, "local: 'bad domain'");
	expect_error("dkim = { keys = (\n  { domain = \"a.example\"; selector = \"s\"; key = \"/k\"; },\n"
		     "  { domain = \"b.example\";\n    selector = \"s\"; }\n); };\n", 3,
		     "needs domain, selector and key");
	expect_error("policyd = {\n  greylist = {\n    allow_senders = [\n      \"a@b.example\",\n"
		     "      \"/a(/\"\n    ];\n  };\n};\n", 5, "allow_senders: '/a(/'");
	/* A member the daemons would refuse when compiling their lists is
	 * refused by the config, at its line (here: longer than an address). */
	memset(re, 'a', sizeof(re) - 1);
	re[0] = re[sizeof(re) - 2] = '/';
	re[sizeof(re) - 1] = '\0';
	snprintf(text, sizeof(text), "policyd = {\n  greylist = {\n    allow_recipients = [\n"
		 "      \"x.example\",\n      \"%s\"\n    ];\n  };\n};\n", re);
	expect_error(text, 5, "allow_recipients: '/aaa");
	snprintf(text, sizeof(text), "policyd = { greylist = {\n allow_senders = [ \"%s\" ]; }; };\n", re);
	expect_error(text, 2, "allow_senders: '/aaa");
}

/* Settings of an @include are reported in the included file. */
static void
test_member_lines_in_include(void **state)
{
	char inc[] = "/tmp/sluice-test-inc.XXXXXX", text[256];
	int fd = mkstemp(inc);
	char err[1024], prefix[64];
	struct sluice_config *cfg;
	const char body[] = "# included\ntrusted_networks = [\n  \"10.0.0.0/8\",\n  \"bogus\"\n];\n";

	(void)state;
	assert_true(write(fd, body, sizeof(body) - 1) == (ssize_t)(sizeof(body) - 1));
	close(fd);
	snprintf(text, sizeof(text), "user = \"x\";\n@include \"%s\"\n", inc);
	cfg = load_text(text, err, sizeof(err));
	unlink(conf_path);
	unlink(inc);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "%s:4: ", inc);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, "'bogus'") == NULL)
		fail_msg("error '%s' is not '%s...'", err, prefix);
}

/* policyd's access settings (config_access.c). */
static void
test_access(void **state)
{
	struct sluice_config *cfg;
	const struct relay_conf *r;

	(void)state;
	cfg = expect_ok("policyd = { relay = (\n"
			"  { match = \"AnyIdeas.de\"; option = \"to\"; action = \"relay\"; },\n"
			"  { match = \"192.0.2.0/30\"; action = \"RELAY\"; },\n"
			"  { match = \"spam.example\"; option = \"connect\"; action = \"reject\"; } );\n"
			"  relay_exact_domain = true; require_reverse_dns = true;\n"
			"  reverse_dns_code = 550; enforce_sender_login = true; };\n");
	r = &cfg->policyd.access.relay;
	assert_int_equal(r->count, 3);
	assert_true(r->exact_domain);
	assert_string_equal(r->entries[0].match, "anyideas.de");
	assert_int_equal(r->entries[0].option, RELAY_OPTION_TO);
	assert_true(r->entries[1].is_network);
	assert_int_equal(r->entries[1].option, RELAY_OPTION_NONE);
	assert_int_equal(r->entries[2].action, RELAY_ACTION_REJECT);
	assert_true(cfg->policyd.require_reverse_dns);
	assert_true(cfg->policyd.enforce_sender_login);
	assert_int_equal(cfg->policyd.access.reverse_dns_code, 550);
	config_free(cfg);
	cfg = expect_ok("policyd = { relay = ( ); };\n");
	assert_int_equal(cfg->policyd.access.relay.count, 0);
	assert_int_equal(cfg->policyd.access.reverse_dns_code, 450);
	config_free(cfg);
	expect_error("policyd = { relay = (\n { match = \"a.example\"; option = \"sideways\"; action = \"ok\"; } ); };\n",
		     2, "\"none\", \"from\"");
	expect_error("policyd = { relay = (\n { match = \"a.example\"; action = \"allow\"; } ); };\n",
		     2, "\"relay\", \"reject\"");
	expect_error("policyd = { relay = (\n { match = \"a.example\"; } ); };\n", 2,
		     "needs match and action");
	expect_error("policyd = { relay = (\n { match = \"10.0.0.1\"; option = \"from\"; action = \"relay\"; } ); };\n",
		     2, "connecting client");
	expect_error("policyd = { relay = (\n { match = \"a b\"; action = \"relay\"; } ); };\n", 2,
		     "match:");
	expect_error("policyd = { relay = (\n { match = \"a.example\"; action = \"ok\"; via = 1; } ); };\n",
		     2, "unknown setting 'via'");
	expect_error("policyd = {\n reverse_dns_code = 500; };\n", 2, "450 or 550");
	expect_error("policyd = {\n relay = \"a.example\"; };\n", 2, "must be a list");
}

/* Every feature is built now: "off" is accepted for each, and the
 * copies are read as addresses. */
static void
test_not_built(void **state)
{
	struct sluice_config *cfg;

	(void)state;
	cfg = expect_ok("milter = { spf = false; dkim_verify = false; dmarc = false;\n"
			"  dmarc_reject = false; always_bcc = \"\"; incoming_copy = \"\";\n"
			"  outgoing_copy = \"\"; };\n"
			"policyd = { recipients = { validate = \"off\"; }; max_recipients = 0;\n"
			"  require_reverse_dns = false; enforce_sender_login = false; };\n");
	assert_false(cfg->milter.spf);
	assert_null(cfg->milter.incoming_copy);
	assert_true(cfg->milter.fail_open);	/* the default */
	config_free(cfg);
	/* the copies are built: an address is kept, fail_open is read */
	cfg = expect_ok("milter = { always_bcc = \"Archive@Example.test\"; incoming_copy = \"in@b.example\";\n"
			"  outgoing_copy = \"out@b.example\"; fail_open = false; };\n");
	assert_string_equal(cfg->milter.always_bcc, "Archive@Example.test");
	assert_string_equal(cfg->milter.incoming_copy, "in@b.example");
	assert_string_equal(cfg->milter.outgoing_copy, "out@b.example");
	assert_false(cfg->milter.fail_open);
	config_free(cfg);
	/* built: SPF, DMARC and its enforcement, the DNS budget */
	cfg = expect_ok("milter = { spf = true; dmarc = true; dmarc_reject = true; dkim_verify = true;\n"
			"  dmarc_quarantine = false; dns_timeout = \"2s\"; };\n");
	assert_true(cfg->milter.spf);
	assert_true(cfg->milter.dmarc);
	assert_true(cfg->milter.dmarc_reject);
	assert_true(cfg->milter.dkim_verify);
	assert_false(cfg->milter.dmarc_quarantine);
	assert_int_equal(cfg->milter.dns_timeout_ms, 2000);
	config_free(cfg);
	expect_error("milter = {\n dns_timeout = \"0s\"; };\n", 2, "out of range");
	expect_error("milter = {\n dns_timeout = 61; };\n", 2, "out of range");
	/* types and ranges are still checked first */
	expect_error("milter = { spf = \"yes\"; };\n", 1, "true or false");
	expect_error("policyd = { max_recipients = -1; };\n", 1, "out of range");
	expect_error("policyd = { recipients = { validate = \"maybe\"; }; };\n", 1, "\"off\"");
}

/* Both unix sockets get socket_group and socket_mode; a group that does
 * not exist is an error at its line, not at start-up. */
static void
test_socket_access(void **state)
{
	struct sluice_config *cfg;
	struct group *gr;

	(void)state;
	if ((gr = getgrnam("postfix")) != NULL) {
		cfg = expect_ok("user = \"sluice\";\n");
		assert_string_equal(cfg->socket_group, "postfix");
		assert_int_equal(cfg->socket_mode, 0660);
		assert_int_equal(cfg->milter.listen.group, gr->gr_gid);
		assert_int_equal(cfg->policyd.listen.group, gr->gr_gid);
		assert_int_equal(cfg->milter.listen.mode, 0660);
		config_free(cfg);
	}
	cfg = expect_ok("socket_group = \"root\";\nsocket_mode = \"0600\";\n"
			"milter = { listen = \"unix:/run/x/m.sock\"; };\n");
	assert_int_equal(cfg->socket_gid, 0);
	assert_int_equal(cfg->milter.listen.group, 0);
	assert_int_equal(cfg->milter.listen.mode, 0600);
	assert_int_equal(cfg->policyd.listen.mode, 0600);
	config_free(cfg);
	expect_error("user = \"sluice\";\nsocket_group = \"no-such-group-here\";\n", 2,
		     "socket_group: group 'no-such-group-here' does not exist");
	expect_error("socket_mode = \"0660\";\n\nsocket_mode2 = 1;\n", 3, "unknown setting");
	expect_error("\nsocket_mode = \"rw-rw----\";\n", 2, "socket_mode: must be octal");
	expect_error("socket_mode = \"4770\";\n", 1, "socket_mode: must be octal");
	expect_error("socket_mode = \"\";\n", 1, "socket_mode: must be octal");
	expect_error("socket_mode = 660;\n", 1, "socket_mode: must be a string");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reference_file_is_valid),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_metrics_endpoints),
		cmocka_unit_test(test_regex_members),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_hostname),
		cmocka_unit_test(test_member_lines),
		cmocka_unit_test(test_member_lines_in_include),
		cmocka_unit_test(test_not_built),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_socket_access),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
