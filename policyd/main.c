/*
 * main.c - sluice-policyd: Postfix policy delegation server.
 *
 * Start-up order: arguments, config (exit on -t), listening socket and
 * file limit as root (and the metrics endpoint's, policyd.metrics),
 * background, pid file, privilege drop, the metrics thread, then serve.
 * At exit the socket and the pid file are removed if they are still ours
 * (a new instance may have replaced them during a restart).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "daemon.h"
#include "log.h"
#include "metrics_http.h"
#include "metrics_sluice.h"
#include "server.h"
#include "version.h"

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct sluice_config *cfg;
	struct endpoint_bound bound;
	char err[1024], where[400], *pid_file;
	struct metrics_http *http = NULL;
	int fd, rc, metrics_fd = -1;

	daemon_parse_args(argc, argv, "sluice-policyd", &args);
	if ((cfg = daemon_load_config(&args)) == NULL)
		return 1;
	if (args.check_only) {
		struct check_chain *chain = check_chain_open(cfg, err, sizeof(err));

		if (chain == NULL) {
			fprintf(stderr, "%s: %s\n", args.config_path, err);
			return 1;
		}
		check_chain_close(chain);
		config_free(cfg);
		printf("%s: configuration is valid\n", args.config_path);
		return 0;
	}
	log_open("sluice-policyd", args.foreground);
	if (metric_init(METRIC_POLICYD, NULL) < 0) {
		log_error("start-up: metrics: out of memory");
		return 1;
	}
	endpoint_format(&cfg->policyd.listen, where, sizeof(where));
	if ((rc = daemon_prepare_dirs(cfg, &cfg->policyd.listen, cfg->policyd.pid_file, err,
				      sizeof(err))) < 0) {
		log_error("start-up: %s", err);
		config_free(cfg);
		return 1;
	}
	if (rc > 0)
		log_info("%s", err);
	if ((rc = endpoint_check_dir(&cfg->policyd.listen, err, sizeof(err))) < 0) {
		log_error("cannot listen: %s", err);
		return 1;
	}
	if (rc > 0)
		log_warning("%s", err);
	if ((fd = endpoint_listen(&cfg->policyd.listen, 1024, &bound, err, sizeof(err))) < 0) {
		log_error("cannot listen: %s", err);
		return 1;
	}
	if (cfg->policyd.metrics_set
	    && (metrics_fd = endpoint_listen(&cfg->policyd.metrics, 64, NULL, err,
					     sizeof(err))) < 0) {
		log_error("cannot listen for metrics: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	/* server_run() frees cfg (a reload may replace it): keep the path. */
	if ((pid_file = strdup(cfg->policyd.pid_file)) == NULL) {
		log_error("start-up: out of memory");
		return 1;
	}
	if ((!args.foreground && daemon_detach(err, sizeof(err)) < 0)
	    || daemon_write_pidfile(cfg->policyd.pid_file, err, sizeof(err)) < 0
	    || daemon_drop_privileges(cfg->user, err, sizeof(err)) < 0) {
		log_error("start-up: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	if (metrics_fd >= 0
	    && (http = metrics_http_start(metrics_fd, metric_registry(), err, sizeof(err))) == NULL) {
		log_error("start-up: %s", err);
		endpoint_remove(&bound);
		return 1;
	}
	log_info("sluice-policyd %s listening on %s", SLUICE_VERSION, where);
	rc = server_run(cfg, args.config_path, fd);
	metrics_http_stop(http);
	if (endpoint_remove(&bound) < 0)
		log_warning("cannot remove socket %s: %s", bound.path, strerror(errno));
	if (daemon_remove_pidfile(pid_file, err, sizeof(err)) < 0)
		log_warning("%s", err);
	free(pid_file);
	return rc;
}
