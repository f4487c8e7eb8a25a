/*
 * rcpt_backend.h - what recipient validation asks (an internal SMTP
 * server, a directory), and the bounds every such server gets.
 *
 * Interface:
 *   backend_get()        the process's record of one server ("smtp:host:port",
 *                        "ldap:URI"), made on first use, kept until exit
 *                        (there are as many as the config names).
 *   backend_enter()      a slot to talk to it: waits, until deadline, while
 *                        `concurrency` calls are in progress; -1 at once while
 *                        the server is marked down, -1 when the wait runs out.
 *   backend_take_idle()  a connection left open by an earlier call (younger
 *                        than idle_ms; older ones are closed here), or NULL.
 *   backend_leave()      gives the slot back, with the connection to keep
 *                        (NULL: none); dead = true marks the server down for
 *                        BACKEND_DOWN_MS, during which calls fail at once.
 *
 * Contract: the calls are made from job-pool threads (job_pool.h), never
 * from an event loop; one lock per server, never held across I/O. So a
 * dead server holds at most `concurrency` threads for one timeout, and
 * then costs nothing for BACKEND_DOWN_MS: only its own recipients are
 * tempfailed, every other server keeps its threads.
 */
#ifndef SLUICE_POLICY_RCPT_BACKEND_H
#define SLUICE_POLICY_RCPT_BACKEND_H

#include <stdbool.h>
#include <time.h>

#define BACKEND_DOWN_MS 10000
#define BACKEND_IDLE_MAX 16	/* connections kept open per server */

enum rcpt_answer { RCPT_VALID, RCPT_UNKNOWN, RCPT_TEMPFAIL };

struct backend;

struct backend *backend_get(const char *key, void (*close_handle)(void *handle));
int backend_enter(struct backend *b, int concurrency, const struct timespec *deadline,
		  const char **why);
void *backend_take_idle(struct backend *b, long idle_ms);
void backend_leave(struct backend *b, void *handle, bool dead);

#endif
