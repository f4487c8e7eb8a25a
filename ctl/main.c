/*
 * sluice-ctl - the admin's tool: explain a decision offline, check the
 * Redis lists, show or forget greylisting state, print the Postfix lines
 * that follow from sluice.conf.
 *
 *   sluice-ctl [-c FILE] [--json] COMMAND [ARGS...]
 *
 * The commands live one per file (ctl/NAME.c) and are registered in the
 * table below, the way OpenSMTPD registers its table backends: adding a
 * command is one file and one row. The config is loaded once here with
 * the daemons' own loader, so sluice-ctl refuses exactly the files the
 * daemons refuse, with the same FILE:LINE message.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "version.h"

static int ctl_help(const struct ctl_opts *, int, char **);

static const struct ctl_command commands[] = {
	{ "help", ctl_help, "", "this list" },
	{ "postconf", ctl_postconf, "[--main|--master]",
	  "the main.cf and master.cf lines that follow from sluice.conf, one postconf command each" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(int status)
{
	FILE *out = status ? stderr : stdout;

	fprintf(out, "usage: sluice-ctl [-c FILE] [--json] COMMAND [ARGS...]\n"
		     "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %s %s\n      %s\n", commands[i].name,
			commands[i].usage, commands[i].summary);
	exit(status);
}

static int
ctl_help(const struct ctl_opts *opts, int argc, char **argv)
{
	(void)opts, (void)argc, (void)argv;
	usage(0);
	return 0;
}

static const struct ctl_command *
find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts opts = { .config_path = SLUICE_DEFAULT_CONFIG };
	const struct ctl_command *cmd;
	char err[1024];
	int ch;

	/* "+": options stop at the command, whose own options follow it. */
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'j':
			opts.json = true;
			break;
		case 'V':
			printf("sluice-ctl %s\n", SLUICE_VERSION);
			return 0;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind >= argc)
		usage(2);
	cmd = find_command(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "sluice-ctl: unknown command '%s' (sluice-ctl -h lists them)\n",
			argv[optind]);
		return 2;
	}
	opts.cfg = config_load(opts.config_path, err, sizeof(err));
	if (opts.cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: reinitialise getopt for the command */
	ch = cmd->run(&opts, argc, argv);
	config_free(opts.cfg);
	return ch;
}
