/*
 * main.c - sluice-milter: start-up, signals, graceful stop.
 *
 * Why smfi_main() runs in a thread of its own: libmilter's signal thread
 * treats SIGHUP as "stop", but the spec wants SIGHUP to reload. libmilter
 * blocks SIGHUP, SIGTERM and SIGINT in the thread that calls smfi_main()
 * and in every thread it starts, then sigwait()s for them. Our main
 * thread keeps those signals unblocked with handlers of its own, and the
 * kernel delivers a process-directed signal to the main thread when that
 * thread does not block it; so reload and stop are ours. On SIGTERM we
 * call smfi_stop(), which stops accepting, and wait (bounded) for open
 * connections to finish before exiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "milter.h"
#include "version.h"

#define STOP_GRACE_SECONDS 30

static int signal_pipe[2] = { -1, -1 };	/* written by handlers only */

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	(void)!write(signal_pipe[1], &c, 1);
	errno = saved;
}

static void *
milter_thread(void *arg)
{
	(void)arg;
	if (smfi_main() == MI_FAILURE)
		log_error("libmilter stopped with an error");
	/* Wake the main thread if libmilter stopped on its own. */
	on_signal(SIGTERM);
	return NULL;
}

static int
install_handlers(void)
{
	struct sigaction sa;

	if (pipe2(signal_pipe, O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	signal(SIGPIPE, SIG_IGN);
	return sigaction(SIGHUP, &sa, NULL) | sigaction(SIGTERM, &sa, NULL)
	    | sigaction(SIGINT, &sa, NULL);
}

static void
reload(const char *path)
{
	char err[1024];
	struct sluice_config *cfg = config_load(path, err, sizeof(err));

	if (cfg == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (milter_config_swap(cfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		return;
	}
	log_info("configuration reloaded from %s", path);
}

static void
wait_for_sessions(void)
{
	time_t deadline = time(NULL) + STOP_GRACE_SECONDS;
	int n;

	while ((n = milter_sessions()) > 0 && time(NULL) < deadline)
		usleep(50 * 1000);
	if (n > 0)
		log_warning("stopping with %d connection(s) still open", n);
}

static void
serve_signals(const char *config_path)
{
	unsigned char sig;

	for (;;) {
		ssize_t n = read(signal_pipe[0], &sig, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || sig != SIGHUP)
			return;
		reload(config_path);
	}
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct sluice_config *cfg;
	pthread_t thread;
	char err[1024], where[400];
	sigset_t block, old;

	daemon_parse_args(argc, argv, "sluice-milter", &args);
	if ((cfg = daemon_load_config(&args)) == NULL)
		return 1;
	/* Modules (keys) are opened before -t reports, so -t checks them too. */
	if (milter_config_swap(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (args.check_only) {
		printf("%s: configuration is valid\n", args.config_path);
		milter_config_release();
		return 0;
	}
	/* cfg is the core's now; it stays valid until serve_signals() reloads. */
	log_open("sluice-milter", args.foreground);
	endpoint_format(&cfg->milter.listen, where, sizeof(where));
	if (milter_open(cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if ((!args.foreground && daemon_detach(err, sizeof(err)) < 0)
	    || daemon_write_pidfile(cfg->milter.pid_file, err, sizeof(err)) < 0
	    || daemon_drop_privileges(cfg->user, err, sizeof(err)) < 0
	    || install_handlers() < 0) {
		log_error("start-up: %s", err);
		return 1;
	}
	/* The milter thread and all threads it starts block our signals. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&thread, NULL, milter_thread, NULL) != 0) {
		log_error("cannot start the milter thread");
		return 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("sluice-milter %s listening on %s", SLUICE_VERSION, where);
	serve_signals(args.config_path);
	log_info("stopping: no new connections");
	smfi_stop();
	wait_for_sessions();
	/* libmilter's listener notices the stop only when its poll() times
	 * out (5 s); with no connection left there is nothing to wait for. */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_timedjoin_np(thread, NULL, &ts);
	}
	milter_config_release();
	log_info("stopped");
	return 0;
}
