/*
 * config_fixture.h - a config from a string, for the unit tests that
 * load one (test_config.c, test_postconf.c, test_ratelimit.c):
 * load_text() writes it to a temporary file (conf_path) and loads it
 * with config_load(); expect_ok() fails the test on an error,
 * expect_error() unless the load fails on `line` with a message that
 * contains `part` ("FILE:LINE: ...", the file being conf_path). Both
 * remove the file. Static: each test program has one.
 */
#ifndef SLUICE_T_CONFIG_FIXTURE_H
#define SLUICE_T_CONFIG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char conf_path[64];

static inline struct sluice_config *
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
static inline void
expect_error(const char *text, int line, const char *part)
{
	char err[1024], prefix[128];
	struct sluice_config *cfg = load_text(text, err, sizeof(err));

	unlink(conf_path);
	if (cfg != NULL) {
		config_free(cfg);
		fail_msg("loaded, expected error containing '%s'", part);
	}
	snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, part) == NULL)
		fail_msg("error '%s' is not '%s...%s'", err, prefix, part);
}

static inline struct sluice_config *
expect_ok(const char *text)
{
	char err[1024];
	struct sluice_config *cfg = load_text(text, err, sizeof(err));

	unlink(conf_path);
	if (cfg == NULL)
		fail_msg("unexpected error: %s", err);
	return cfg;
}

#endif
