/*
 * daemon.c - command line, pid file, background, privilege drop.
 *
 * The order matters and is the caller's: load config, open sockets and
 * read keys as root, write the pid file, then drop privileges. Dropping
 * last-but-before-serving is what lets a daemon bind /run/sluice or a low
 * port while never parsing a byte from the network as root.
 *
 * The pid file is removed at exit only while it still names us: during a
 * restart the new instance writes its pid before the old one is gone, and
 * the old one must not take the new one's file with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "version.h"

static void
usage(const char *progname, int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s [-c config] [-f] [-t] [-V] [-h]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -f       stay in the foreground and also log to stderr\n"
		"  -t       check the configuration and exit (0 valid, 1 not)\n"
		"  -V       print the version and exit\n"
		"  -h       print this help and exit\n",
		progname, SLUICE_DEFAULT_CONFIG);
	exit(status);
}

void
daemon_parse_args(int argc, char **argv, const char *progname, struct daemon_args *out)
{
	int ch;

	out->config_path = SLUICE_DEFAULT_CONFIG;
	out->foreground = false;
	out->check_only = false;
	while ((ch = getopt(argc, argv, "c:ftVh")) != -1) {
		switch (ch) {
		case 'c':
			out->config_path = optarg;
			break;
		case 'f':
			out->foreground = true;
			break;
		case 't':
			out->check_only = true;
			break;
		case 'V':
			printf("%s %s\n", progname, SLUICE_VERSION);
			exit(0);
		case 'h':
			usage(progname, 0);
			break;
		default:
			usage(progname, 2);
		}
	}
	if (optind != argc)
		usage(progname, 2);
}

struct sluice_config *
daemon_load_config(const struct daemon_args *args)
{
	char err[1024];
	struct sluice_config *cfg = config_load(args->config_path, err, sizeof(err));

	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	return cfg;
}

int
daemon_detach(char *err, size_t errsize)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		snprintf(err, errsize, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0) {
		snprintf(err, errsize, "setsid: %s", strerror(errno));
		return -1;
	}
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return chdir("/") < 0 ? -1 : 0;
}

int
daemon_write_pidfile(const char *path, char *err, size_t errsize)
{
	char buf[32];
	int fd, len;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errsize, "pid file %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		snprintf(err, errsize, "pid file %s: write failed", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
daemon_remove_pidfile(const char *path, char *err, size_t errsize)
{
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "pid file %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (strtol(buf, NULL, 10) != (long)getpid())
		return 0;	/* a newer instance's file now */
	if (unlink(path) < 0 && errno != ENOENT) {
		/* The directory must be writable by the user we became. */
		snprintf(err, errsize, "cannot remove pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

rlim_t
daemon_raise_nofile(rlim_t want, char *msg, size_t msgsize)
{
	struct rlimit rl;

	msg[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(msg, msgsize, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return 0;
	}
	if (rl.rlim_cur >= want)
		return rl.rlim_cur;
	/* The hard limit is the admin's (a unit's LimitNOFILE, ulimit -Hn):
	 * raise the soft limit up to it, never the hard limit itself. */
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(msg, msgsize, "setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return 0;
	}
	if (rl.rlim_cur < want)
		snprintf(msg, msgsize, "open file limit is %lu (hard limit), below the %lu "
			 "this configuration needs", (unsigned long)rl.rlim_cur, (unsigned long)want);
	return rl.rlim_cur;
}

int
daemon_drop_privileges(const char *user, char *err, size_t errsize)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;	/* started unprivileged: nothing to drop */
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsize, "user '%s' does not exist (create it, or set user = ...)", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsize, "user '%s' is root: refusing to run as root", user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		snprintf(err, errsize, "cannot become user '%s': %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		snprintf(err, errsize, "privilege drop failed: root can be regained");
		return -1;
	}
	return 0;
}
