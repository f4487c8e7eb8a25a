/*
 * server.c - the main thread: workers, signals, config generations.
 *
 * Signals are read from a signalfd in this thread only (every thread
 * blocks them), so a reload never runs inside a signal handler and never
 * races a worker. A reload is validated here first: the new config is
 * loaded and every check is opened once and closed again, so an invalid
 * file or key is refused before a worker could see it. SIGUSR1 logs
 * one summary line of the metrics (metrics_sluice.h), from here too.
 *
 * Each connection is a descriptor, so the start and every reload fit
 * max_connections to the file limit: the soft limit is raised to what
 * the config needs where the hard limit allows, and if that is not
 * enough, the connections that fit become the limit (logged once per
 * value), so that workers refuse or make room at max_connections
 * instead of failing accept() with EMFILE.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "check.h"
#include "daemon.h"
#include "list_cache.h"
#include "log.h"
#include "metrics_sluice.h"
#include "notify.h"
#include "server.h"
#include "job_pool.h"
#include "spf_pool.h"
#include "worker.h"

#define LISTS_FIRST_READ_WAIT_MS 2000
/* Blocking jobs of the checks (SMTP probes, LDAP): threads and queue.
 * Each backend caps its own share (policyd.recipients.concurrency). */
#define JOB_POOL_THREADS 32
#define JOB_POOL_QUEUE 4096

struct config_gen *
shared_config_acquire(struct server_shared *shared)
{
	struct config_gen *gen;

	pthread_mutex_lock(&shared->lock);
	gen = shared->current;
	gen->refs++;
	pthread_mutex_unlock(&shared->lock);
	return gen;
}

void
shared_config_release(struct server_shared *shared, struct config_gen *gen)
{
	bool last;

	pthread_mutex_lock(&shared->lock);
	last = --gen->refs == 0;
	pthread_mutex_unlock(&shared->lock);
	if (last) {
		config_free(gen->cfg);
		free(gen);
	}
}

int
server_connections_fit(unsigned long fd_limit, int workers, int wanted)
{
	unsigned long other = (unsigned long)workers * SERVER_FDS_PER_WORKER + SERVER_FDS_RESERVED;

	if (fd_limit <= other)
		return 1;
	return fd_limit - other < (unsigned long)wanted ? (int)(fd_limit - other) : wanted;
}

/*
 * Raises the soft RLIMIT_NOFILE to what cfg needs with this many workers
 * (never lowers it), and lowers cfg's max_connections to what the limit
 * leaves room for. Runs in the main thread only, before cfg is published.
 */
static void
fit_file_limit(struct sluice_config *cfg, int workers)
{
	static int logged_wanted, logged_fit;	/* the last cap said */
	int wanted = cfg->policyd.max_connections, fit;
	rlim_t need = (rlim_t)wanted + (rlim_t)workers * SERVER_FDS_PER_WORKER
		      + SERVER_FDS_RESERVED;
	char why[256];
	rlim_t have = daemon_raise_nofile(need, why, sizeof(why));

	if (have == 0) {
		log_warning("%s", why);
		return;
	}
	fit = have >= need ? wanted
	      : server_connections_fit((unsigned long)have, workers, wanted);
	if (fit < wanted && (wanted != logged_wanted || fit != logged_fit))
		log_warning("file limit %lu is below the %lu descriptors that"
			    " max_connections %d needs: serving at most %d connection(s)"
			    " (raise the hard limit, e.g. LimitNOFILE=)",
			    (unsigned long)have, (unsigned long)need, wanted, fit);
	logged_wanted = wanted;
	logged_fit = fit;
	cfg->policyd.max_connections = fit;
}

/* Makes cfg the current generation (the server keeps one reference). */
static int
publish_config(struct server_shared *shared, struct sluice_config *cfg)
{
	struct config_gen *gen = calloc(1, sizeof(*gen)), *old;

	if (gen == NULL)
		return -1;
	gen->cfg = cfg;
	gen->refs = 1;
	pthread_mutex_lock(&shared->lock);
	old = shared->current;
	gen->generation = old ? old->generation + 1 : 1;
	shared->current = gen;
	atomic_store(&shared->generation, gen->generation);
	pthread_mutex_unlock(&shared->lock);
	metric_config_loaded(gen->generation);
	if (old)
		shared_config_release(shared, old);
	return 0;
}

static int
reload(struct server_shared *shared, const char *path, struct worker **workers, int count)
{
	char err[1024];
	struct sluice_config *cfg = config_load(path, err, sizeof(err));
	struct check_chain *chain;
	int i;

	if (cfg == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		metric_config_reload_failed();
		return -1;
	}
	if ((chain = check_chain_open(cfg, err, sizeof(err))) == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		metric_config_reload_failed();
		config_free(cfg);
		return -1;
	}
	check_chain_close(chain);
	fit_file_limit(cfg, count);
	if (memcmp(&cfg->policyd.listen, &shared->current->cfg->policyd.listen,
		   sizeof(cfg->policyd.listen)) != 0)
		log_warning("reload: a new listen address takes effect only after a restart");
	if (cfg->policyd.metrics_set != shared->current->cfg->policyd.metrics_set
	    || memcmp(&cfg->policyd.metrics, &shared->current->cfg->policyd.metrics,
		      sizeof(cfg->policyd.metrics)) != 0)
		log_warning("reload: a new metrics endpoint takes effect only after a restart");
	if (cfg->policyd.workers != shared->current->cfg->policyd.workers)
		log_warning("reload: a new number of workers takes effect only after a restart");
	if (publish_config(shared, cfg) < 0) {
		log_error("reload failed: out of memory");
		config_free(cfg);
		return -1;
	}
	list_cache_configure(shared->lists, cfg);
	for (i = 0; i < count; i++)
		worker_wake(workers[i]);
	log_info("configuration reloaded from %s", path);
	return 0;
}

static int
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR1);	/* the metrics summary line */
	signal(SIGPIPE, SIG_IGN);
	/* Blocked before the workers start, so they inherit the mask. */
	return pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void
serve_signals(struct server_shared *shared, const char *path, struct worker **workers,
	      int count, int sig_fd)
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
		notify_ready(reload(shared, path, workers, count) == 0 ? "configuration reloaded"
			     : "reload failed: running the previous configuration");
	}
}

int
server_run(struct sluice_config *cfg, const char *config_path, int listen_fd)
{
	struct server_shared shared = { .listen_fd = listen_fd,
					.workers = cfg->policyd.workers,
					.lock = PTHREAD_MUTEX_INITIALIZER };
	int count = cfg->policyd.workers, started, i, sig_fd;
	struct worker **workers = calloc((size_t)count, sizeof(*workers));
	int (*handoff)[2] = calloc((size_t)count, sizeof(*handoff));
	atomic_int *worker_conns = calloc((size_t)count, sizeof(*worker_conns));
	char err[512];
	sigset_t set;

	fit_file_limit(cfg, count);
	/* Created here and closed after every worker is joined: workers
	 * write into each other's (see worker.c), so none may go early. */
	for (i = 0; handoff && i < count; i++)
		if (pipe2(handoff[i], O_NONBLOCK | O_CLOEXEC) < 0)
			break;
	shared.handoff_fds = (const int (*)[2])handoff;
	shared.worker_conns = worker_conns;
	if (workers == NULL || handoff == NULL || worker_conns == NULL || i < count
	    || block_signals(&set) != 0
	    || (sig_fd = signalfd(-1, &set, SFD_CLOEXEC)) < 0
	    || (shared.spf = spf_pool_new()) == NULL
	    || (shared.jobs = job_pool_new(JOB_POOL_THREADS, JOB_POOL_QUEUE, NULL, NULL)) == NULL
	    || publish_config(&shared, cfg) < 0) {
		log_error("start-up: %s", strerror(errno));
		return 1;
	}
	/* One list cache for all workers; its first full read is waited for
	 * (a little), so the first decisions already see the lists. */
	if ((shared.lists = list_cache_start(cfg, LISTS_FIRST_READ_WAIT_MS, err,
					     sizeof(err))) == NULL) {
		log_error("start-up: %s", err);
		return 1;
	}
	for (started = 0; started < count; started++) {
		if ((workers[started] = worker_start(&shared, started, err, sizeof(err))) == NULL) {
			log_error("start-up: %s", err);
			break;
		}
	}
	if (started == count) {
		notify_ready("serving");
		serve_signals(&shared, config_path, workers, count, sig_fd);
	}
	notify_stopping();
	log_info("stopping: %d connection(s) open, answering requests in flight",
		 atomic_load(&shared.connections));
	atomic_store(&shared.stopping, true);
	for (i = 0; i < started; i++)
		worker_wake(workers[i]);
	for (i = 0; i < started; i++)
		worker_join(workers[i]);
	free(workers);
	for (i = 0; i < count; i++) {
		close(handoff[i][0]);
		close(handoff[i][1]);
	}
	free(handoff);
	free(worker_conns);
	spf_pool_free(shared.spf);
	job_pool_free(shared.jobs);
	list_cache_stop(shared.lists);
	close(sig_fd);
	close(listen_fd);
	shared_config_release(&shared, shared.current);
	log_info("stopped");
	return started == count ? 0 : 1;
}
