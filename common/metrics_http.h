/*
 * metrics_http.h - the /metrics endpoint: a small HTTP/1.0 server on a
 * thread of its own.
 *
 * Interface:
 *   metrics_http_start()  serves GET /metrics (the registry in Prometheus
 *                         text format 0.0.4) on an already listening
 *                         socket (bound by the daemon as root, before the
 *                         privilege drop); NULL with err on failure.
 *   metrics_http_stop()   stops the thread, closes every connection and
 *                         the listening socket.
 *
 * Contract: nothing a scraper does reaches the daemon's decisions: the
 * thread shares only the registry (metrics.h: a scrape sums shards under
 * the registry lock, which counting threads never wait for). Each
 * connection has bounds: METRICS_HTTP_REQUEST_MAX bytes of request head
 * (more: 431 and close), METRICS_HTTP_TIMEOUT_MS for the whole exchange
 * (a silent or slow client is closed), METRICS_HTTP_CLIENTS at once (a new
 * one closes the oldest, so clients that hold their slots cannot lock a
 * real scraper out for longer than it takes to connect again). Anything
 * but GET or HEAD is 405, a path other than /metrics 404, a request line
 * that is not one (binary, no version) 400. Every answer closes the
 * connection (HTTP/1.0). The thread blocks every signal: the daemon's
 * signal handling stays with its main thread.
 */
#ifndef SLUICE_METRICS_HTTP_H
#define SLUICE_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

#define METRICS_HTTP_REQUEST_MAX 4096
#define METRICS_HTTP_TIMEOUT_MS 5000
#define METRICS_HTTP_CLIENTS 16

struct metrics_http;

struct metrics_http *metrics_http_start(int listen_fd, struct metrics *registry,
					char *err, size_t errsize);
void metrics_http_stop(struct metrics_http *http);

/* What the server answers to one request head (exposed for unit tests):
 * the status code; *is_head set for a HEAD request. */
int metrics_http_classify(const char *head, size_t len, int *is_head);

#endif
