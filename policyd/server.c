/*
 * server.c - the main thread: workers, signals, config generations.
 *
 * Signals are read from a signalfd in this thread only (every thread
 * blocks them), so a reload never runs inside a signal handler and never
 * races a worker. A reload is validated here first: the new config is
 * loaded and every check is opened once and closed again, so an invalid
 * file or key is refused before a worker could see it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "server.h"
#include "spf_pool.h"
#include "worker.h"

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
	if (old)
		shared_config_release(shared, old);
	return 0;
}

static void
reload(struct server_shared *shared, const char *path, struct worker **workers, int count)
{
	char err[1024];
	struct sluice_config *cfg = config_load(path, err, sizeof(err));
	struct check_chain *chain;
	int i;

	if (cfg == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if ((chain = check_chain_open(cfg, err, sizeof(err))) == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		config_free(cfg);
		return;
	}
	check_chain_close(chain);
	if (memcmp(&cfg->policyd.listen, &shared->current->cfg->policyd.listen,
		   sizeof(cfg->policyd.listen)) != 0)
		log_warning("reload: a new listen address takes effect only after a restart");
	if (cfg->policyd.workers != shared->current->cfg->policyd.workers)
		log_warning("reload: a new number of workers takes effect only after a restart");
	if (publish_config(shared, cfg) < 0) {
		log_error("reload failed: out of memory");
		config_free(cfg);
		return;
	}
	for (i = 0; i < count; i++)
		worker_wake(workers[i]);
	log_info("configuration reloaded from %s", path);
}

static int
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
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
		if (n != (ssize_t)sizeof(si) || si.ssi_signo != SIGHUP)
			return;
		reload(shared, path, workers, count);
	}
}

int
server_run(struct sluice_config *cfg, const char *config_path, int listen_fd)
{
	struct server_shared shared = { .listen_fd = listen_fd,
					.lock = PTHREAD_MUTEX_INITIALIZER };
	int count = cfg->policyd.workers, started, i, sig_fd;
	struct worker **workers = calloc((size_t)count, sizeof(*workers));
	char err[512];
	sigset_t set;

	if (workers == NULL || block_signals(&set) != 0
	    || (sig_fd = signalfd(-1, &set, SFD_CLOEXEC)) < 0
	    || (shared.spf = spf_pool_new()) == NULL
	    || publish_config(&shared, cfg) < 0) {
		log_error("start-up: %s", strerror(errno));
		return 1;
	}
	for (started = 0; started < count; started++) {
		if ((workers[started] = worker_start(&shared, started, err, sizeof(err))) == NULL) {
			log_error("start-up: %s", err);
			break;
		}
	}
	if (started == count)
		serve_signals(&shared, config_path, workers, count, sig_fd);
	log_info("stopping: %d connection(s) open, answering requests in flight",
		 atomic_load(&shared.connections));
	atomic_store(&shared.stopping, true);
	for (i = 0; i < started; i++)
		worker_wake(workers[i]);
	for (i = 0; i < started; i++)
		worker_join(workers[i]);
	free(workers);
	spf_pool_free(shared.spf);
	close(sig_fd);
	close(listen_fd);
	shared_config_release(&shared, shared.current);
	log_info("stopped");
	return started == count ? 0 : 1;
}
