/*
 * daemon.c - command line, pid file, background, privilege drop.
 *
 * The order matters and is the caller's: load config, open sockets and
 * read keys as root, write the pid file, then drop privileges. Dropping
 * last-but-before-serving is what lets a daemon bind /run/sluice or a low
 * port while never parsing a byte from the network as root.
 *
 * /run is emptied at boot, so /run/sluice is gone on a machine without
 * systemd's RuntimeDirectory= (or tmpfiles): daemon_prepare_dirs() makes
 * it as make install's README says (0750, owner the user we become so
 * that we can remove our files at exit, group postfix so that Postfix
 * can reach the sockets). Only the last component is made, and only as
 * root: a daemon never builds a tree of directories, and when it cannot
 * make one it says the one command that does.
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

/* The directory part of path ("/" for "/x", "." for "x"). */
static void
dir_of(const char *path, char *dir, size_t dirsize)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, dirsize, ".");
	else if (slash == path)
		snprintf(dir, dirsize, "/");
	else
		snprintf(dir, dirsize, "%.*s", (int)(slash - path), path);
}

/* 0 exists, 1 made, -1 error (in msg); what: "pid file" or "socket". */
static int
prepare_dir(const struct sluice_config *cfg, const char *what, const char *path,
	    char *msg, size_t msgsize)
{
	char dir[4096];
	const char *group = cfg->socket_group ? cfg->socket_group : "postfix";
	struct passwd *pw;
	struct stat st;

	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(msg, msgsize, "%s %s: %s is not a directory", what, path, dir);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(msg, msgsize, "%s %s: directory %s: %s", what, path, dir, strerror(errno));
		return -1;
	}
	if (geteuid() != 0) {
		snprintf(msg, msgsize, "%s %s: directory %s does not exist; as root: "
			 "install -d -m 0750 -o %s -g %s %s (a daemon started as root, or by "
			 "its systemd unit, makes it)", what, path, dir, cfg->user,
			 group, dir);
		return -1;
	}
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(msg, msgsize, "%s %s: cannot make directory %s: user '%s' does not "
			 "exist (create it, or set user = ...)", what, path, dir, cfg->user);
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(msg, msgsize, "%s %s: cannot make directory %s: %s%s", what, path, dir,
			 strerror(errno), errno == ENOENT ? " (its parent is missing too)" : "");
		return -1;
	}
	/* 0700 until it has its owner, then 0750: never open to the wrong group. */
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)
	    || chown(dir, pw->pw_uid, cfg->socket_gid) < 0 || chmod(dir, 0750) < 0) {
		snprintf(msg, msgsize, "%s %s: cannot set owner %s, group %s, mode 0750 of "
			 "directory %s: %s", what, path, cfg->user, group, dir, strerror(errno));
		return -1;
	}
	snprintf(msg, msgsize, "made directory %s (owner %s, group %s, mode 0750) for the %s",
		 dir, cfg->user, group, what);
	return 1;
}

int
daemon_prepare_dirs(const struct sluice_config *cfg, const struct endpoint *listen,
		    const char *pid_file, char *msg, size_t msgsize)
{
	char made[512];
	int rc, any = 0;

	msg[0] = made[0] = '\0';
	if (listen->kind == ENDPOINT_UNIX) {
		if ((rc = prepare_dir(cfg, "socket", listen->path, msg, msgsize)) < 0)
			return -1;
		if (rc > 0) {
			snprintf(made, sizeof(made), "%s", msg);
			any = 1;
		}
	}
	if ((rc = prepare_dir(cfg, "pid file", pid_file, msg, msgsize)) < 0)
		return -1;
	if (rc == 0 && any)
		snprintf(msg, msgsize, "%s", made);
	return rc > 0 || any;
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
