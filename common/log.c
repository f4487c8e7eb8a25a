/*
 * log.c - syslog and stderr output, and the key=value line builder.
 *
 * Why a builder and not one printf per decision: a decision line collects
 * fields from several checks (each adds its own verdict), and every value
 * that came from a client must be sanitized on the way in. Doing that in
 * one place is what keeps log injection out of every caller.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool log_to_stderr;	/* set once at start-up, read-only after */
static const char *log_ident = "sluice";

/*
 * Whether a syslog daemon listens on /dev/log, looked at again once a
 * minute. Without one, glibc's syslog() tries (socket, connect, close) on
 * every line, which costs a busy policy daemon a third of its time; with
 * -f the lines still reach stderr. Owned by this module; atomics because
 * every thread logs.
 */
static atomic_bool syslog_present;
static _Atomic long syslog_checked_at = -3600;

static bool
syslog_available(void)
{
	long now = (long)time(NULL);

	if (log_due(&syslog_checked_at, now, 60))
		atomic_store(&syslog_present, access("/dev/log", W_OK) == 0);
	return atomic_load(&syslog_present);
}

void
log_open(const char *ident, bool also_stderr)
{
	log_ident = ident;
	log_to_stderr = also_stderr;
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_msg(int priority, const char *fmt, ...)
{
	char text[LOGLINE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (syslog_available())
		syslog(priority, "%s", text);
	if (log_to_stderr)
		fprintf(stderr, "%s[%ld]: %s\n", log_ident, (long)getpid(), text);
}

bool
log_due(_Atomic long *last, long now, long interval)
{
	long seen = atomic_load(last);

	/* Only the thread whose exchange succeeds logs. */
	return now - seen >= interval && atomic_compare_exchange_strong(last, &seen, now);
}

void
log_sanitize(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	if (size == 0)
		return;
	for (; src && *src && i + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;

		dst[i++] = (c < 0x21 || c == 0x7f || c == '=') ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void
logline_append(struct logline *line, const char *text)
{
	size_t n = strlen(text);
	size_t room = sizeof(line->buf) - 1 - line->len;

	if (line->truncated)
		return;
	if (n > room) {
		/* Keep what fits and mark the cut, so a reader sees it. */
		memcpy(line->buf + line->len, text, room);
		line->len += room;
		if (line->len >= 3)
			memcpy(line->buf + line->len - 3, "...", 3);
		line->truncated = true;
	} else {
		memcpy(line->buf + line->len, text, n);
		line->len += n;
	}
	line->buf[line->len] = '\0';
}

void
logline_start(struct logline *line, const char *queue_id)
{
	char id[64];

	line->len = 0;
	line->truncated = false;
	line->buf[0] = '\0';
	log_sanitize(id, sizeof(id), queue_id && *queue_id ? queue_id : "NOQUEUE");
	logline_append(line, id);
	logline_append(line, ":");
}

static void
logline_field(struct logline *line, const char *key, const char *open,
	      const char *value, const char *close)
{
	char clean[LOGLINE_MAX];

	log_sanitize(clean, sizeof(clean), value ? value : "");
	logline_append(line, " ");
	logline_append(line, key);
	logline_append(line, "=");
	logline_append(line, open);
	logline_append(line, clean);
	logline_append(line, close);
}

void
logline_add(struct logline *line, const char *key, const char *value)
{
	logline_field(line, key, "", value, "");
}

void
logline_add_addr(struct logline *line, const char *key, const char *addr)
{
	logline_field(line, key, "<", addr, ">");
}

void
logline_addf(struct logline *line, const char *key, const char *fmt, ...)
{
	char value[LOGLINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	logline_append(line, " ");
	logline_append(line, key);
	logline_append(line, "=");
	logline_append(line, value);
}

void
logline_add_client(struct logline *line, const char *name, const char *addr)
{
	char clean_name[512], clean_addr[128];

	log_sanitize(clean_name, sizeof(clean_name), name && *name ? name : "unknown");
	log_sanitize(clean_addr, sizeof(clean_addr), addr && *addr ? addr : "unknown");
	logline_append(line, " client=");
	logline_append(line, clean_name);
	logline_append(line, "[");
	logline_append(line, clean_addr);
	logline_append(line, "]");
}

void
logline_concat(struct logline *line, const struct logline *more)
{
	logline_append(line, more->buf);
}

void
log_line(int priority, const struct logline *line)
{
	log_msg(priority, "%s", line->buf);
}
