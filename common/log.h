/*
 * log.h - one key=value line per decision, to syslog (facility mail) and,
 * in foreground mode, to stderr as well.
 *
 * Interface:
 *   log_open()     ident ("sluice-policyd") and whether to copy to stderr
 *                  (not when stderr is the journal: see log.c).
 *   log_msg()      printf-style, with a syslog priority.
 *   struct logline and logline_*(): build one decision line piece by
 *                  piece ("4F1A2B3C: greylist=defer client=...") in a fixed
 *                  buffer, then log_line() writes it.
 *   log_batch_begin(), log_batch_flush(), log_batch_end(): the calling
 *                  thread's stderr lines are kept in a buffer of its own
 *                  and written by the next flush, in one write(2) (an
 *                  event loop flushes once per wakeup, before it sends
 *                  the answers those lines record, so no answered
 *                  decision's line is lost if the process dies; lines of
 *                  a full buffer are written at once). Syslog lines are
 *                  not delayed. Other threads are not affected.
 *
 * Contract: values that come from the network are sanitized (ASCII
 * control characters, spaces and '=' inside a value become '?'; a
 * backslash becomes \x5c; valid UTF-8 of printable characters stays
 * readable; every other byte >= 0x80 - invalid or overlong UTF-8, C1
 * controls such as U+009B, other spaces, invisible and bidirectional
 * format characters - becomes \xNN per byte), so a hostile HELO name or
 * address cannot forge fields or lines, nor hide text on a terminal. A line that does not
 * fit is truncated with "..." rather than dropped. Thread-safe: syslog()
 * and one fprintf() per line are atomic enough for line-oriented logs.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

void log_open(const char *ident, bool also_stderr);
void log_msg(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_ERR, __VA_ARGS__)

/* Rate limit for warnings shared by threads: true (and *last updated)
 * when at least interval seconds passed since the last true. */
bool log_due(_Atomic long *last, long now, long interval);

#define LOGLINE_MAX 2048

struct logline {
	char buf[LOGLINE_MAX];
	size_t len;
	bool truncated;
};

/* Starts a line with "QUEUEID:" or "NOQUEUE:" (Postfix's own word). */
void logline_start(struct logline *line, const char *queue_id);
/* key=value with the value sanitized; NULL or "" value gives key= */
void logline_add(struct logline *line, const char *key, const char *value);
/* key=<value>, as Postfix writes envelope addresses */
void logline_add_addr(struct logline *line, const char *key, const char *addr);
/* key=value with a printf-formatted value (trusted text, not sanitized) */
void logline_addf(struct logline *line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* client=name[addr] */
void logline_add_client(struct logline *line, const char *name, const char *addr);
/* Appends another line's fields (built with the calls above). */
void logline_concat(struct logline *line, const struct logline *more);
void log_line(int priority, const struct logline *line);
void log_batch_begin(void);
void log_batch_flush(void);
void log_batch_end(void);

/* Copies src into dst with the same sanitizing as logline_add. */
void log_sanitize(char *dst, size_t size, const char *src);

#endif
