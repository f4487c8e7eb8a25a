/*
 * log.c - syslog and stderr output, and the key=value line builder.
 *
 * Why a builder and not one printf per decision: a decision line collects
 * fields from several checks (each adds its own verdict), and every value
 * that came from a client must be sanitized on the way in. Doing that in
 * one place is what keeps log injection out of every caller.
 */
#include <pthread.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool log_to_stderr;	/* set once at start-up, read-only after */
static const char *log_ident = "sluice";
/* Our pid for the stderr lines: getpid() is a system call, and a busy
 * policy daemon logs a line per request. Set at log_open() and in the
 * child of a fork (daemon_detach() forks after log_open()). */
static pid_t log_pid;
/* "ident[pid]: ", the head of every stderr line, made when log_pid is. */
static char log_head[128];
static size_t log_head_len;

static void
log_pid_refresh(void)
{
	int n;

	log_pid = getpid();
	n = snprintf(log_head, sizeof(log_head), "%s[%ld]: ", log_ident, (long)log_pid);
	log_head_len = n > 0 && (size_t)n < sizeof(log_head) ? (size_t)n : 0;
}

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

static void
log_register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, log_pid_refresh);
}

/*
 * Whether stderr is the journal (systemd sets JOURNAL_STREAM=DEV:INODE of
 * the stream it gave us). Under systemd, -f keeps the daemon in the
 * foreground for Type=notify, and syslog() already reaches the journal
 * through /dev/log: copying each line to stderr as well would put every
 * line in the journal twice. Errors before log_open() (a bad config)
 * still go to stderr and so to the journal.
 */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_open(const char *ident, bool also_stderr)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

	log_ident = ident;
	log_to_stderr = also_stderr && !stderr_is_journal();
	log_pid_refresh();
	pthread_once(&atfork_once, log_register_atfork);
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/*
 * Per-thread batching of the stderr copy (log_batch_*): an event loop
 * decides many requests per wakeup, and one write(2) per line was one
 * system call per decision. The buffer belongs to its thread (nothing
 * shared, no lock); NULL when the thread does not batch, as every
 * thread but policyd's workers.
 */
#define LOG_BATCH_SIZE 65536
static __thread char *batch_buf;
static __thread size_t batch_len;

static void
write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* nowhere to log to: nothing better to do */
		buf += n;
		len -= (size_t)n;
	}
}

void
log_batch_begin(void)
{
	if (batch_buf == NULL && log_to_stderr)
		batch_buf = malloc(LOG_BATCH_SIZE);	/* NULL: unbatched, as before */
	batch_len = 0;
}

void
log_batch_flush(void)
{
	if (batch_buf == NULL || batch_len == 0)
		return;
	/* Whole lines only, so a reader of a file or pipe never sees half
	 * of one; concurrent batches of other threads stay line-whole as
	 * long as each write is (a file's offset is locked per write). */
	write_all(batch_buf, batch_len);
	batch_len = 0;
}

void
log_batch_end(void)
{
	log_batch_flush();
	free(batch_buf);
	batch_buf = NULL;
}

/* The text of one line to syslog and, in the foreground, to stderr. */
static void
log_text(int priority, const char *text, size_t len)
{
	char line[LOGLINE_MAX + 256];
	size_t head = log_head_len;

	if (syslog_available())
		syslog(priority, "%s", text);
	if (!log_to_stderr)
		return;
	memcpy(line, log_head, head);
	if (len > sizeof(line) - head - 1)
		len = sizeof(line) - head - 1;	/* cut, but still one line */
	memcpy(line + head, text, len);
	line[head + len] = '\n';
	len += head + 1;
	if (batch_buf != NULL) {
		if (batch_len + len > LOG_BATCH_SIZE)
			log_batch_flush();
		memcpy(batch_buf + batch_len, line, len);
		batch_len += len;
		return;
	}
	/* One write(2) per line, not stdio: stderr is unbuffered, and every
	 * fprintf() on it takes the stream's lock, which the threads of a
	 * busy daemon then queue for. A write of one line is not interleaved
	 * with another thread's (a file's offset is locked for the write; a
	 * pipe keeps writes up to PIPE_BUF whole). */
	(void)!write(STDERR_FILENO, line, len);
}

void
log_msg(int priority, const char *fmt, ...)
{
	char text[LOGLINE_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_text(priority, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

bool
log_due(_Atomic long *last, long now, long interval)
{
	long seen = atomic_load(last);

	/* Only the thread whose exchange succeeds logs. */
	return now - seen >= interval && atomic_compare_exchange_strong(last, &seen, now);
}

/*
 * Length of the valid UTF-8 sequence at p (2 to 4 bytes) and its code
 * point, or 0: a stray continuation byte, a truncated sequence, an
 * overlong form, a surrogate or a value past U+10FFFF (RFC 3629).
 */
static size_t
utf8_decode(const unsigned char *p, unsigned long *cp)
{
	size_t n, i;
	unsigned long v, min;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, v = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, v = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, v = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/*
 * Code points that are valid but would let a value pass for something
 * else in a log viewer: C1 controls (U+009B is CSI to a terminal), spaces
 * other than ASCII's (a field would seem to end), line and paragraph
 * separators, invisible format and bidirectional controls (text shown in
 * another order than written), and noncharacters.
 */
static bool
utf8_is_hidden(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || cp == 0x061c || cp == 0x1680
	    || cp == 0x180e || (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f)
	    || (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff
	    || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp >= 0xfff9 && cp <= 0xfffb)
	    || (cp & 0xfffe) == 0xfffe || (cp >= 0xe0000 && cp <= 0xe007f);
}

void
log_sanitize(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)src;
	size_t i = 0;

	if (size == 0)
		return;
	while (p && *p) {
		unsigned long cp;
		size_t n, k;

		if (*p < 0x80) {
			/* ASCII: controls, space and '=' (field syntax) become
			 * '?'; a backslash is escaped so that "\x9b" in a log
			 * always means a byte we escaped. */
			if (*p == '\\') {
				if (i + 4 >= size)
					break;
				memcpy(dst + i, "\\x5c", 4);
				i += 4;
			} else {
				if (i + 1 >= size)
					break;
				dst[i++] = (*p < 0x21 || *p == 0x7f || *p == '=') ? '?' : (char)*p;
			}
			p++;
			continue;
		}
		n = utf8_decode(p, &cp);
		if (n > 0 && !utf8_is_hidden(cp)) {
			/* Readable text in any script passes as it is. */
			if (i + n >= size)
				break;
			memcpy(dst + i, p, n);
			i += n;
			p += n;
			continue;
		}
		/* Invalid or hidden: every byte of it as \xNN, never cut. */
		if (n == 0)
			n = 1;
		if (i + 4 * n >= size)
			break;
		for (k = 0; k < n; k++, p++) {
			dst[i++] = '\\';
			dst[i++] = 'x';
			dst[i++] = hex[*p >> 4];
			dst[i++] = hex[*p & 15];
		}
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
	log_text(priority, line->buf, line->len);
}
