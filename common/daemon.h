/*
 * daemon.h - what both daemons do the same way around their main loop.
 *
 * Interface:
 *   daemon_parse_args()  -c FILE, -f, -t, -V, -h; prints usage or the
 *                        version and exits for -h, -V and bad usage.
 *   daemon_load_config() loads the config, or prints "FILE:LINE: message"
 *                        on stderr and returns NULL; with -t the daemon
 *                        then opens its checks or modules and reports.
 *   daemon_detach()      into the background unless -f.
 *   daemon_prepare_dirs() makes sure the directory of the unix socket
 *                        (when listen is unix:) and of the pid file
 *                        exist: a missing one is made (one level, mode
 *                        0750, owner the config's user, group
 *                        socket_group) when we are root, else it is a
 *                        one-line error saying the command that makes
 *                        it. Returns 1 with what it made in msg, 0 when
 *                        nothing was needed, -1 with the error in msg.
 *                        Run as root before the sockets are opened.
 *   daemon_write_pidfile(), daemon_drop_privileges() (run as root only:
 *                        setgroups, setgid, setuid to the config's user,
 *                        and a check that root cannot be regained).
 *   daemon_remove_pidfile() at exit, only if the file still holds our pid
 *                        (a new instance may have written its own); -1
 *                        with err when it cannot (the directory must be
 *                        writable by the user the daemon became).
 *   daemon_raise_nofile() raises the soft RLIMIT_NOFILE to want, or to the
 *                        hard limit when that is lower (never the hard
 *                        limit itself); returns the soft limit in effect
 *                        (0 if unknown) and, when it is below want or
 *                        something failed, says so in msg ("" otherwise).
 *
 * Contract: errors come back as -1 with a message in err; nothing here
 * exits except the argument and -t handling, which is what a command-line
 * tool is expected to do.
 */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "config.h"

struct daemon_args {
	const char *config_path;
	bool foreground;
	bool check_only;
};

void daemon_parse_args(int argc, char **argv, const char *progname,
		       struct daemon_args *out);
struct sluice_config *daemon_load_config(const struct daemon_args *args);
int daemon_detach(char *err, size_t errsize);
int daemon_prepare_dirs(const struct sluice_config *cfg, const struct endpoint *listen,
			const char *pid_file, char *msg, size_t msgsize);
int daemon_write_pidfile(const char *path, char *err, size_t errsize);
int daemon_remove_pidfile(const char *path, char *err, size_t errsize);
rlim_t daemon_raise_nofile(rlim_t want, char *msg, size_t msgsize);
int daemon_drop_privileges(const char *user, char *err, size_t errsize);

#endif
