/*
 * test_postconf.c - sluice.conf -> Postfix lines (ctl/postconf_gen.c) and
 * the postfix group's reader (common/config_postfix.c): given a config,
 * exactly these main.cf values and master.cf entries; bad groups fail
 * with FILE:LINE.
 */
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
#include "../../ctl/postconf_gen.h"
#include "config_fixture.h"

/* load_text, expect_error, expect_ok, conf_path: config_fixture.h */

/* Loads text (socket_group root: the test needs no postfix group) and
 * generates. */
static struct sluice_config *
generate(const char *text, struct pc_output *out)
{
	char err[1024], full[8192];
	struct sluice_config *cfg;

	snprintf(full, sizeof(full), "socket_group = \"root\";\n%s", text);
	cfg = load_text(full, err, sizeof(err));
	unlink(conf_path);
	if (cfg == NULL)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(postconf_generate(cfg, out), 0);
	return cfg;
}

static void
expect_main(const struct pc_output *out, const char *name, const char *value)
{
	const char *got = postconf_main_value(out, name);

	if (got == NULL)
		fail_msg("no main.cf setting %s (expected '%s')", name, value);
	if (strcmp(got, value) != 0)
		fail_msg("%s = '%s', expected '%s'", name, got, value);
}

static void
expect_no_main(const struct pc_output *out, const char *name)
{
	const char *got = postconf_main_value(out, name);

	if (got)
		fail_msg("%s = '%s' printed, expected nothing", name, got);
}

static const char *
master_entry(const struct pc_output *out, const char *name)
{
	size_t i;

	for (i = 0; i < out->master.count; i++)
		if (strcmp(out->master.items[i].name, name) == 0)
			return out->master.items[i].value;
	return NULL;
}

static bool
has_note(const struct pc_output *out, const char *part)
{
	size_t i;

	for (i = 0; i < out->note_count; i++)
		if (strstr(out->notes[i], part))
			return true;
	return false;
}

/* The defaults: milter and policy hooks, Securepoint's and NethServer's
 * defaults, nothing about rules, postscreen or anvil. */
static void
test_defaults(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate("", &out);

	(void)state;
	expect_main(&out, "mynetworks", "127.0.0.0/8 [::1]/128");
	expect_main(&out, "smtpd_milters", "unix:/run/sluice/milter.sock");
	expect_main(&out, "non_smtpd_milters", "$smtpd_milters");
	expect_main(&out, "milter_default_action", "tempfail");
	expect_main(&out, "milter_protocol", "6");
	expect_main(&out, "receive_override_options", "no_address_mappings");
	expect_main(&out, "smtpd_relay_restrictions",
		     "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination");
	expect_main(&out, "smtpd_recipient_restrictions",
		     "check_policy_service { unix:/run/sluice/policyd.sock, default_action=DUNNO }");
	expect_main(&out, "smtpd_sender_restrictions",
		     "permit_mynetworks, permit_sasl_authenticated, reject_unknown_sender_domain");
	expect_main(&out, "message_size_limit", "20971520");
	expect_main(&out, "smtpd_helo_required", "yes");
	expect_main(&out, "maximal_queue_lifetime", "5d");
	expect_no_main(&out, "bounce_queue_lifetime");
	expect_no_main(&out, "mailbox_size_limit");
	expect_no_main(&out, "relay_domains");
	expect_no_main(&out, "transport_maps");
	expect_no_main(&out, "relayhost");
	expect_no_main(&out, "smtpd_client_restrictions");
	expect_no_main(&out, "smtpd_delay_reject");
	expect_no_main(&out, "smtpd_end_of_data_restrictions");
	expect_no_main(&out, "smtp_sasl_auth_enable");
	expect_no_main(&out, "postscreen_greet_wait");
	expect_no_main(&out, "smtpd_client_connection_count_limit");
	assert_int_equal(out.master.count, 0);
	assert_true(has_note(&out, "domains.relay is empty"));
	postconf_output_free(&out);
	config_free(cfg);
}

static void
test_relay_domains(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"domains = { local = [ \"example.com\" ];\n"
		"  relay = [ \"Mydomain.com|10.20.30.40\", \"b.example|mail.b.example:2525\",\n"
		"            \"c.example\", \"v6.example|[2001:db8::1]:26\" ]; };\n"
		"trusted_networks = [ \"192.0.2.0/24\", \"2001:db8::/32\" ];\n", &out);

	(void)state;
	expect_main(&out, "relay_domains", "mydomain.com b.example c.example v6.example");
	expect_main(&out, "transport_maps",
		     "inline:{ mydomain.com=smtp:[10.20.30.40]:25, b.example=smtp:[mail.b.example]:2525, "
		     "v6.example=smtp:[2001:db8::1]:26 }");
	expect_main(&out, "mynetworks", "192.0.2.0/24 [2001:db8::]/32");
	assert_true(has_note(&out, "'c.example' names no next hop"));
	assert_true(has_note(&out, "domains.local"));
	postconf_output_free(&out);
	config_free(cfg);
}

/* policyd: fail_open false, an inet listener, rules that count
 * connections and messages: the hooks. */
static void
test_policy_hooks(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"milter = { listen = \"inet:127.0.0.1:8891\"; };\n"
		"policyd = { listen = \"inet:127.0.0.1:10023\"; fail_open = false;\n"
		"  ratelimit = ( { subject = \"client\"; count = \"connections\"; limit = 5; window = 60; },\n"
		"                { subject = \"sender\"; count = \"messages\"; limit = 5; window = 60; } ); };\n",
		&out);
	const char *policy = "check_policy_service { inet:127.0.0.1:10023, "
			     "{ default_action = 451 4.3.5 Policy service unavailable } }";

	(void)state;
	expect_main(&out, "smtpd_milters", "inet:127.0.0.1:8891");
	expect_main(&out, "smtpd_recipient_restrictions", policy);
	expect_main(&out, "smtpd_client_restrictions", policy);
	expect_main(&out, "smtpd_delay_reject", "no");
	expect_main(&out, "smtpd_end_of_data_restrictions", policy);
	postconf_output_free(&out);
	config_free(cfg);

	/* recipients only: no CONNECT or END-OF-MESSAGE hook */
	cfg = generate("policyd = { ratelimit = ( { subject = \"sasl_user\"; count = \"recipients\";"
		       " limit = 5; window = 60; } ); };\n", &out);
	expect_no_main(&out, "smtpd_client_restrictions");
	expect_no_main(&out, "smtpd_end_of_data_restrictions");
	postconf_output_free(&out);
	config_free(cfg);
}

static void
test_limits(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"postfix = { message_size_mb = 100; helo_required = false;\n"
		"  accept_unresolvable_domains = true; queue_lifetime = \"36h\";\n"
		"  no_address_mappings = false;\n"
		"  client_limits = { enabled = true; connections = 2; rate = 30; window = \"2m\"; }; };\n",
		&out);

	(void)state;
	expect_main(&out, "message_size_limit", "104857600");
	expect_main(&out, "mailbox_size_limit", "104857600");
	expect_main(&out, "smtpd_helo_required", "no");
	expect_no_main(&out, "smtpd_sender_restrictions");
	expect_main(&out, "maximal_queue_lifetime", "36h");
	expect_main(&out, "bounce_queue_lifetime", "36h");
	expect_no_main(&out, "receive_override_options");
	expect_main(&out, "smtpd_client_connection_count_limit", "2");
	expect_main(&out, "smtpd_client_connection_rate_limit", "30");
	expect_main(&out, "anvil_rate_time_unit", "2m");
	postconf_output_free(&out);
	config_free(cfg);
}

static void
test_postscreen(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate("postfix = { postscreen = { enabled = true; }; };\n", &out);

	(void)state;
	expect_main(&out, "postscreen_greet_wait", "2s");
	expect_main(&out, "postscreen_greet_action", "enforce");
	expect_main(&out, "postscreen_greet_ttl", "1d");
	expect_main(&out, "postscreen_cache_retention_time", "1d");
	expect_main(&out, "postscreen_access_list", "permit_mynetworks");
	assert_string_equal(master_entry(&out, "smtp/inet"),
			    "smtp inet n       -       n       -       1       postscreen");
	assert_string_equal(master_entry(&out, "smtpd/pass"),
			    "smtpd pass -       -       n       -       -       smtpd");
	assert_non_null(master_entry(&out, "dnsblog/unix"));
	assert_non_null(master_entry(&out, "tlsproxy/unix"));
	postconf_output_free(&out);
	config_free(cfg);
}

/* The smarthost with SASL and TLS; the password file is named, never read. */
static void
test_smarthost(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"postfix = { smarthost = { host = \"smtp.anyideas.de\"; port = 587; tls = \"verify\";\n"
		"  sasl_user = \"gw@anyideas.de\"; sasl_password_file = \"/etc/postfix/sasl_passwd\"; }; };\n",
		&out);

	(void)state;
	expect_main(&out, "relayhost", "[smtp.anyideas.de]:587");
	expect_no_main(&out, "default_transport");
	expect_main(&out, "smtp_tls_policy_maps", "inline:{ [smtp.anyideas.de]:587=verify }");
	expect_main(&out, "smtp_tls_CApath", "/etc/ssl/certs");
	expect_main(&out, "smtp_sasl_auth_enable", "yes");
	expect_main(&out, "smtp_sasl_password_maps", "hash:/etc/postfix/sasl_passwd");
	expect_main(&out, "smtp_sasl_security_options", "noplaintext, noanonymous");
	expect_main(&out, "smtp_sasl_tls_security_options", "noanonymous");
	expect_no_main(&out, "smtp_sender_dependent_authentication");
	assert_int_equal(out.sasl_count, 1);
	assert_string_equal(out.sasl[0].key, "[smtp.anyideas.de]:587");
	assert_string_equal(out.sasl[0].user, "gw@anyideas.de");
	assert_true(has_note(&out, "postmap hash:/etc/postfix/sasl_passwd"));
	postconf_output_free(&out);
	config_free(cfg);

	/* Securepoint's port 465 with implicit TLS: a wrapper transport */
	cfg = generate("postfix = { smarthost = { host = \"192.0.2.25\"; port = 465;"
		       " tls = \"encrypt\"; implicit_tls = true; }; };\n", &out);
	expect_main(&out, "relayhost", "[192.0.2.25]:465");
	expect_main(&out, "default_transport", "sluice-smtps");
	assert_string_equal(master_entry(&out, "sluice-smtps/unix"),
			    "sluice-smtps unix -       -       n       -       -       smtp "
			    "-o smtp_tls_wrappermode=yes -o smtp_tls_security_level=encrypt "
			    "-o syslog_name=postfix/sluice-smtps");
	expect_no_main(&out, "smtp_sasl_auth_enable");
	postconf_output_free(&out);
	config_free(cfg);

	/* tls = "none": no TLS cache manager needed */
	cfg = generate("postfix = { smarthost = { host = \"192.0.2.25\"; tls = \"none\"; }; };\n", &out);
	expect_main(&out, "smtp_tls_policy_maps", "inline:{ [192.0.2.25]:25=none }");
	assert_null(master_entry(&out, "tlsmgr/unix"));
	postconf_output_free(&out);
	config_free(cfg);
}

/* NethServer's relay rules: sender, recipient and default. */
static void
test_relay_rules(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"domains = { relay = [ \"in.example|10.0.0.5\" ]; };\n"
		"postfix = { relay_rules = (\n"
		"  { type = \"sender\"; match = \"Sales@Example.com\"; host = \"10.1.1.1\"; port = 2525; },\n"
		"  { type = \"sender\"; match = \"example.org\"; host = \"relay.example.org\"; port = 587;\n"
		"    tls = \"encrypt\"; sasl_user = \"org\"; sasl_password_file = \"/etc/postfix/org_passwd\"; },\n"
		"  { type = \"recipient\"; match = \"partner.example\"; host = \"[2001:db8::7]\";\n"
		"    tls = \"secure\"; implicit_tls = true; sasl_user = \"p\";\n"
		"    sasl_password_file = \"/etc/postfix/sasl_passwd\"; },\n"
		"  { type = \"default\"; host = \"smart.example\"; tls = \"encrypt\"; sasl_user = \"d\";\n"
		"    sasl_password_file = \"/etc/postfix/sasl_passwd\"; }\n"
		"); };\n", &out);

	(void)state;
	expect_main(&out, "transport_maps", "inline:{ in.example=smtp:[10.0.0.5]:25, "
		     "partner.example=sluice-smtps:[2001:db8::7]:25 }");
	expect_main(&out, "sender_dependent_default_transport_maps",
		     "inline:{ sales@example.com=smtp:[10.1.1.1]:2525, "
		     "@example.org=smtp:[relay.example.org]:587 }");
	expect_no_main(&out, "sender_dependent_relayhost_maps");
	expect_main(&out, "relayhost", "[smart.example]:25");
	expect_main(&out, "smtp_tls_policy_maps",
		     "inline:{ [10.1.1.1]:2525=may, [relay.example.org]:587=encrypt, "
		     "[2001:db8::7]:25=secure, [smart.example]:25=encrypt }");
	/* each table once, in the order the rules name them */
	expect_main(&out, "smtp_sasl_password_maps",
		     "hash:/etc/postfix/org_passwd, hash:/etc/postfix/sasl_passwd");
	expect_main(&out, "smtp_sender_dependent_authentication", "yes");
	assert_int_equal(out.sasl_count, 3);
	assert_string_equal(out.sasl[0].key, "@example.org");
	assert_string_equal(out.sasl[1].key, "[2001:db8::7]:25");
	assert_string_equal(out.sasl[2].key, "[smart.example]:25");
	assert_non_null(master_entry(&out, "sluice-smtps/unix"));
	assert_string_equal(master_entry(&out, "tlsmgr/unix"),
			    "tlsmgr unix -       -       n       1000?   1       tlsmgr");
	postconf_output_free(&out);
	config_free(cfg);
}

static void
test_srs_reinject(void **state)
{
	struct pc_output out;
	struct sluice_config *cfg = generate(
		"milter = { srs = { domain = \"example.com\"; secret_file = \"/etc/sluice/srs.secret\";\n"
		"  reinject = \"inet:127.0.0.1:10026\"; }; };\n", &out);
	const char *e = master_entry(&out, "127.0.0.1:10026/inet");

	(void)state;
	assert_non_null(e);
	assert_non_null(strstr(e, "smtpd -o smtpd_milters= "));
	assert_non_null(strstr(e, "-o receive_override_options=no_address_mappings,no_milters"));
	assert_non_null(strstr(e, "-o mynetworks=127.0.0.1/32"));
	postconf_output_free(&out);
	config_free(cfg);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("postfix = {\n  message_size = 20;\n};\n", 2, "unknown setting 'message_size'");
	expect_error("postfix = {\n  message_size_mb = 0;\n};\n", 2, "out of range");
	expect_error("postfix = { smarthost = {\n  port = 25; }; };\n", 1, "host: needs");
	expect_error("postfix = { smarthost = {\n  host = \"smtp.x.example:587\"; }; };\n", 2,
		     "no port here");
	expect_error("postfix = { smarthost = { host = \"a.example\";\n"
		     "  sasl_user = \"u\"; }; };\n", 1, "go together");
	expect_error("postfix = { smarthost = { host = \"a.example\";\n"
		     "  sasl_user = \"u\"; sasl_password_file = \"/etc/p\"; }; };\n", 2,
		     "needs tls = \"encrypt\"");
	expect_error("postfix = { smarthost = { host = \"a.example\"; tls = \"encrypt\";\n"
		     "  sasl_user = \"u\"; sasl_password_file = \"p\"; }; };\n", 2, "absolute path");
	expect_error("postfix = { smarthost = { host = \"a.example\";\n  tls = \"maybe\"; }; };\n", 2,
		     "tls: must be");
	expect_error("postfix = { smarthost = { host = \"a.example\";\n  implicit_tls = true; }; };\n",
		     2, "implicit_tls: needs");
	expect_error("postfix = { relay_rules = (\n  { type = \"sender\"; host = \"a.example\"; } ); };\n",
		     2, "needs match");
	expect_error("postfix = { relay_rules = (\n  { type = \"both\"; host = \"a.example\"; } ); };\n",
		     2, "type must be");
	expect_error("postfix = { relay_rules = (\n  { type = \"default\"; host = \"a.example\"; },\n"
		     "  { type = \"default\"; host = \"b.example\"; } ); };\n", 3, "only one default rule");
	expect_error("postfix = { smarthost = { host = \"a.example\"; }; relay_rules = (\n"
		     "  { type = \"default\"; host = \"b.example\"; } ); };\n", 2, "same thing");
	expect_error("postfix = { relay_rules = (\n"
		     "  { type = \"sender\"; match = \"a@b.example\"; host = \"h.example\"; },\n"
		     "  { type = \"sender\"; match = \"A@B.example\"; host = \"i.example\"; } ); };\n",
		     3, "a second rule");
	expect_error("domains = { relay = [ \"r.example|10.0.0.1\" ]; };\n"
		     "postfix = { relay_rules = (\n"
		     "  { type = \"recipient\"; match = \"r.example\"; host = \"h.example\"; } ); };\n",
		     3, "has its next hop in domains.relay");
	expect_error("postfix = { relay_rules = (\n"
		     "  { type = \"recipient\"; match = \"not a domain\"; host = \"h.example\"; } ); };\n",
		     2, "match:");
	expect_error("postfix = { postscreen = {\n  service = \"smtp inet\"; }; };\n", 2,
		     "service: a master.cf service name");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_relay_domains),
		cmocka_unit_test(test_policy_hooks),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_postscreen),
		cmocka_unit_test(test_smarthost),
		cmocka_unit_test(test_relay_rules),
		cmocka_unit_test(test_srs_reinject),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
