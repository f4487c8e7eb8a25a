/*
 * main.c - sluice-milter: start-up, signals, graceful stop.
 *
 * Signals. SIGHUP reloads, SIGTERM and SIGINT stop, SIGUSR1 logs the
 * metrics summary line; nothing else. main() blocks all four before any
 * thread exists, so every thread (ours and
 * libmilter's) inherits the mask, and the main thread alone reads them
 * from a signalfd. Standard signals do not queue: however many SIGHUPs
 * arrive while a reload runs, one is pending afterwards and makes one
 * more reload. Nothing runs in a signal handler.
 *
 * libmilter's own signal thread sigwait()s for the same three signals
 * and stops the milter on any of them; a thread that waits in sigwait()
 * competes for every process-directed signal, and a signal sent to that
 * thread alone (tgkill) is its own. So it must not wait for them: this
 * file defines sigwait(), which libmilter's call binds to (the dynamic
 * linker looks in the executable first), and which leaves out the
 * signals we take. libmilter's signal thread is the only sigwait() caller
 * in this process; it then sleeps for good.
 *
 * accept(). libmilter's listener retries a failed accept() at once when
 * the error is EMFILE, ENFILE, ENOMEM or ENOBUFS, so a full descriptor
 * table spins a core. Our accept() (bound the same way) keeps the last
 * FD_RESERVE descriptors for reloads and logging: a connection beyond
 * that is closed at once (Postfix then applies milter_default_action),
 * an accept() that failed for lack of resources sleeps 100 ms before
 * libmilter tries again, and either is logged once a minute. At start
 * the soft file limit is raised to NOFILE_WANT where the hard limit
 * allows.
 *
 * Stop. On SIGTERM the socket is removed (only if it is still ours: a
 * new instance may already have put its own at the path), connections
 * still queued are refused, open connections get STOP_GRACE_SECONDS to
 * finish, the pid file is removed (if it still names us) and we exit.
 * smfi_stop() is not called: it waits for a lock libmilter's listener
 * holds across a 5 s poll(), and it would unlink whatever socket is at
 * libmilter's path (see milter_open).
 */
#include <errno.h>
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics_http.h"
#include "metrics_sluice.h"
#include "milter.h"
#include "notify.h"
#include "version.h"

#define STOP_GRACE_SECONDS 30
#define NOFILE_WANT 4096	/* a connection per Postfix process, with room */
#define FD_RESERVE 32		/* descriptors kept for reloads, keys, logging */

static atomic_int fd_budget = 1 << 30;	/* a connection's fd must be below */
static atomic_bool stopping;
static atomic_bool milter_failed;
static _Atomic long refused_warned_at, accept_warned_at;

/* libmilter's signal thread: see the comment at the top. */
int
sigwait(const sigset_t *restrict set, int *restrict sig)
{
	sigset_t rest = *set;
	siginfo_t si;
	int s;

	sigdelset(&rest, SIGHUP);
	sigdelset(&rest, SIGTERM);
	sigdelset(&rest, SIGINT);
	sigdelset(&rest, SIGUSR1);
	if (sigisemptyset(&rest))
		for (;;)
			pause();
	while ((s = sigwaitinfo(&rest, &si)) < 0 && errno == EINTR)
		;
	if (s < 0)
		return errno;
	*sig = s;
	return 0;
}

/* libmilter's listener: see the comment at the top. */
int
accept(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len)
{
	int c = accept4(fd, addr, len, SOCK_CLOEXEC);
	int saved = errno;

	if (c >= 0) {
		if (!atomic_load(&stopping) && c < atomic_load(&fd_budget))
			return c;
		close(c);
		if (!atomic_load(&stopping) && log_due(&refused_warned_at, time(NULL), 60))
			log_warning("out of file descriptors: refusing milter connections beyond %d "
				    "(raise the open file limit: ulimit -n, LimitNOFILE)",
				    atomic_load(&fd_budget) - 1);
		errno = ECONNABORTED;	/* libmilter goes on at once */
		return -1;
	}
	if (saved == EMFILE || saved == ENFILE || saved == ENOMEM || saved == ENOBUFS) {
		struct timespec pause_ts = { 0, 100 * 1000 * 1000 };

		if (log_due(&accept_warned_at, time(NULL), 60))
			log_warning("accept: %s: waiting before the next connection", strerror(saved));
		nanosleep(&pause_ts, NULL);
	}
	errno = saved;
	return -1;
}

static void *
milter_thread(void *arg)
{
	(void)arg;
	if (smfi_main() == MI_FAILURE) {
		log_error("libmilter stopped with an error");
		atomic_store(&milter_failed, true);
	}
	/* Wake the main thread (every thread blocks SIGTERM; its signalfd
	 * takes it). */
	kill(getpid(), SIGTERM);
	return NULL;
}

static int
reload(const char *path)
{
	char err[1024];
	struct sluice_config *cfg = config_load(path, err, sizeof(err));

	if (cfg == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		metric_config_reload_failed();
		return -1;
	}
	if (milter_config_swap(cfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		metric_config_reload_failed();
		return -1;
	}
	log_info("configuration reloaded from %s", path);
	return 0;
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
serve_signals(int sig_fd, const char *config_path)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(sig_fd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == (ssize_t)sizeof(si) && si.ssi_signo == SIGUSR1) {
			char line[LOGLINE_MAX];

			metric_summary(line, sizeof(line));
			log_info("%s", line);
			continue;
		}
		if (n != (ssize_t)sizeof(si) || si.ssi_signo != SIGHUP)
			return;
		notify_reloading();
		notify_ready(reload(config_path) == 0 ? "configuration reloaded"
			     : "reload failed: running the previous configuration");
	}
}

/* Before the socket: connections need descriptors (see the top). */
static void
set_fd_budget(void)
{
	char msg[256];
	rlim_t got = daemon_raise_nofile(NOFILE_WANT, msg, sizeof(msg));

	if (got > 2 * FD_RESERVE)
		atomic_store(&fd_budget, got > (rlim_t)(1 << 30) ? 1 << 30 : (int)(got - FD_RESERVE));
	else if (got > 0)
		atomic_store(&fd_budget, (int)got / 2);
	if (msg[0])
		log_warning("%s: milter connections beyond descriptor %d will be refused", msg,
			    atomic_load(&fd_budget) - 1);
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct sluice_config *cfg;
	struct endpoint_bound bound;
	pthread_t thread;
	char err[1024], where[400], *pid_file;
	struct metrics_http *http = NULL;
	sigset_t sigs;
	int sig_fd, rc, metrics_fd = -1;

	/* Before any thread exists, so that every thread inherits it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

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
	if (milter_metrics_init() < 0) {
		log_error("start-up: metrics: out of memory");
		return 1;
	}
	endpoint_format(&cfg->milter.listen, where, sizeof(where));
	if ((pid_file = strdup(cfg->milter.pid_file)) == NULL) {
		log_error("start-up: out of memory");
		return 1;
	}
	if ((rc = daemon_prepare_dirs(cfg, &cfg->milter.listen, pid_file, err, sizeof(err))) < 0) {
		log_error("start-up: %s", err);
		milter_config_release();
		free(pid_file);
		return 1;
	}
	if (rc > 0)
		log_info("%s", err);
	if ((rc = endpoint_check_dir(&cfg->milter.listen, err, sizeof(err))) < 0) {
		log_error("start-up: %s", err);
		return 1;
	}
	if (rc > 0)
		log_warning("%s", err);
	set_fd_budget();
	if (milter_open(cfg, &bound, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (cfg->milter.metrics_set
	    && (metrics_fd = endpoint_listen(&cfg->milter.metrics, 64, NULL, err,
					     sizeof(err))) < 0) {
		log_error("cannot listen for metrics: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	if ((!args.foreground && daemon_detach(err, sizeof(err)) < 0)
	    || daemon_write_pidfile(pid_file, err, sizeof(err)) < 0
	    || daemon_drop_privileges(cfg->user, err, sizeof(err)) < 0) {
		log_error("start-up: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	if (milter_lists_start(cfg, err, sizeof(err)) < 0
	    || (metrics_fd >= 0
		&& (http = metrics_http_start(metrics_fd, metric_registry(), err,
					      sizeof(err))) == NULL)) {
		log_error("start-up: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	if ((sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0
	    || pthread_create(&thread, NULL, milter_thread, NULL) != 0) {
		log_error("start-up: cannot start: %s", strerror(errno));
		endpoint_remove(&bound);
		return 1;
	}
	pthread_detach(thread);
	log_info("sluice-milter %s listening on %s", SLUICE_VERSION, where);
	notify_ready(where);
	serve_signals(sig_fd, args.config_path);

	notify_stopping();
	log_info("stopping: no new connections");
	atomic_store(&stopping, true);
	if (endpoint_remove(&bound) < 0)
		log_warning("cannot remove socket %s: %s", bound.path, strerror(errno));
	wait_for_sessions();
	metrics_http_stop(http);
	milter_lists_stop();
	milter_config_release();
	if (daemon_remove_pidfile(pid_file, err, sizeof(err)) < 0)
		log_warning("%s", err);
	free(pid_file);
	close(sig_fd);
	log_info("stopped");
	/* libmilter's threads wait in poll() or sleep; exit ends them. */
	return atomic_load(&milter_failed) ? 1 : 0;
}
