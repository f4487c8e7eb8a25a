/*
 * ctl.h - the commands of sluice-ctl, the admin's tool.
 *
 * Interface: each command is one function, int ctl_NAME(const struct
 * ctl_opts *, int argc, char **argv), in its own file (ctl/NAME.c), and
 * one row of the table in ctl/main.c. main.c parses the options common to
 * every command (-c FILE, --json) and loads the config; argv[0] is the
 * command's name, the rest its own arguments.
 *
 * Contract: a command returns the process exit status: 0 success, 1 when
 * it found what it looks for (lists check: invalid members), 2 usage or
 * runtime errors (with a one-line message on stderr). No command changes
 * state in Redis unless its name says so (greylist forget).
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>

#include "config.h"

struct ctl_opts {
	const char *config_path;
	struct sluice_config *cfg;	/* loaded before the command runs */
	bool json;			/* --json: output for scripts */
};

struct ctl_command {
	const char *name;
	int (*run)(const struct ctl_opts *, int argc, char **argv);
	const char *usage;		/* arguments after the name */
	const char *summary;		/* one line for sluice-ctl -h */
};

/* The commands, one file each. */
int ctl_postconf(const struct ctl_opts *, int argc, char **argv);

#endif
