/* test_config.c - sluice.conf loading: defaults, types, ranges, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char conf_path[64];

static struct sluice_config *
load_text(const char *text, char *err, size_t errsize)
{
	FILE *fp;
	int fd;

	strcpy(conf_path, "/tmp/sluice-test-conf.XXXXXX");
	fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	err[0] = '\0';
	return config_load(conf_path, err, errsize);
}

/* Expects a load error on line `line` whose message contains `part`. */
static void
expect_error(const char *text, int line, const char *part)
{
	char err[1024], prefix[128];
	struct sluice_config *cfg = load_text(text, err, sizeof(err));

	if (cfg != NULL)
		fail_msg("loaded, expected error containing '%s'", part);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, part) == NULL)
		fail_msg("error '%s' is not '%s...%s'", err, prefix, part);
	unlink(conf_path);
}

static struct sluice_config *
expect_ok(const char *text)
{
	char err[1024];
	struct sluice_config *cfg = load_text(text, err, sizeof(err));

	if (cfg == NULL)
		fail_msg("unexpected error: %s", err);
	unlink(conf_path);
	return cfg;
}

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
		"milter = { listen = \"inet:127.0.0.1:8891\"; dmarc_reject = true; always_bcc = \"a@b.example\"; };\n"
		"dkim = { header_canon = \"simple\"; oversign = [ \"From\" ];\n"
		"  keys = ( { domain = \"example.com\"; selector = \"s1\"; key = \"/k/1.pem\"; } ); };\n"
		"policyd = { listen = \"inet:[::1]:10023\"; fail_open = false;\n"
		"  greylist = { delay = \"5m\"; retry_window = \"1d\"; ipv4_prefix = 24;\n"
		"    allow_senders = [ \"/.*@ttt-point\\\\.de/\", \"x.example\", \"u@y.example\" ]; };\n"
		"  recipients = { validate = \"list\"; }; max_recipients = 50; };\n");

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
	assert_true(cfg->milter.dmarc_reject);
	assert_int_equal(cfg->dkim.header_canon, CANON_SIMPLE);
	assert_int_equal(cfg->dkim.body_canon, CANON_RELAXED);
	assert_int_equal(cfg->dkim.key_count, 1);
	assert_string_equal(cfg->dkim.keys[0].selector, "s1");
	assert_string_equal(cfg->policyd.listen.host, "::1");
	assert_false(cfg->policyd.fail_open);
	assert_int_equal(cfg->policyd.greylist.delay, 300);
	assert_int_equal(cfg->policyd.greylist.ipv4_prefix, 24);
	assert_int_equal(cfg->policyd.greylist.allow_senders.count, 3);
	assert_int_equal(cfg->policyd.validate, VALIDATE_LIST);
	assert_int_equal(cfg->policyd.max_recipients, 50);
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
	expect_error("milter = { always_bcc = \"not an address\"; };\n", 1, "always_bcc");
	expect_error("domains = { local = [ \"a..b\" ]; };\n", 1, "empty label");
	expect_error("dkim = { body_canon = \"nofws\"; };\n", 1, "relaxed");
	expect_error("dkim = { keys = ( { domain = \"a.example\"; selector = \"s\"; } ); };\n", 1,
		     "needs domain, selector and key");
	expect_error("dkim = { keys = ( { domain = \"a.example\"; selector = \"s\"; key = \"k.pem\"; } ); };\n",
		     1, "absolute path");
	expect_error("policyd = { greylist = { allow_senders = [ \"/a(/\" ]; }; };\n", 1,
		     "invalid regular expression");
	expect_error("policyd = { recipients = { validate = \"maybe\"; }; };\n", 1, "off");
	expect_error("policyd = { ratelimit = { x = 1; }; };\n", 1, "not supported");
	expect_error("redis = { sentinel = { master = \"m\"; }; };\n", 1, "hosts");
	expect_error("redis = { password_file = \"/nonexistent/pw\"; };\n", 1, "password_file");
	expect_error("policyd = 5;\n", 1, "must be a group");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reference_file_is_valid),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
