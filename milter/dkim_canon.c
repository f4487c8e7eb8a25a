/*
 * dkim_canon.c - DKIM canonicalization and hashing (see dkim_canon.h for
 * the interface and the input conventions).
 *
 * Why our own code and not libopendkim's: libopendkim canonicalizes
 * inside a handle that also decodes the PEM private key for every
 * message, and that decode costs more than the signature. Doing the
 * canonicalization here lets the signer keep keys decoded once per
 * config. The price is that this file must agree byte for byte with
 * every verifier: t/unit/test_dkim_diff.c compares our body hashes with
 * libopendkim's over a corpus of awkward messages, and has both
 * libopendkim and python3-dkim verify our signatures.
 *
 * The body goes through a byte loop with a 256-entry class table and
 * writes into a buffer that is hashed when full (a 3.5 KiB body in about
 * 6 us here, SHA-256 included); a body cut into chunks anywhere gives
 * the same hash as the whole body (a CR at the end of a chunk is held
 * until the next byte decides what it was).
 */
#include <stdlib.h>
#include <string.h>

#include "dkim_canon.h"

void
dkim_buf_init(struct dkim_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

int
dkim_buf_append(struct dkim_buf *b, const void *p, size_t n)
{
	size_t need;
	char *grown;

	if (n > b->max - b->len)
		return -1;
	need = b->len + n + 1;	/* room for a NUL */
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < need)
			cap *= 2;
		if ((grown = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = grown;
		b->cap = cap;
	}
	if (n && p)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
dkim_buf_reserve(struct dkim_buf *b, size_t n)
{
	size_t len = b->len;

	/* Grow through append (one bound, one growth rule), then undo. */
	if (dkim_buf_append(b, NULL, n) < 0)
		return -1;
	b->len = len;
	b->data[len] = '\0';
	return 0;
}

int
dkim_buf_puts(struct dkim_buf *b, const char *s)
{
	return dkim_buf_append(b, s, strlen(s));
}

void
dkim_buf_free(struct dkim_buf *b)
{
	free(b->data);
	dkim_buf_init(b, b->max);
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* simple: the field as it is, with every bare LF made CRLF. */
static int
header_simple(struct dkim_buf *out, const char *name, const char *value)
{
	const char *p = value, *nl;

	if (dkim_buf_puts(out, name) < 0 || dkim_buf_append(out, ":", 1) < 0)
		return -1;
	while ((nl = strchr(p, '\n')) != NULL) {
		bool has_cr = nl > p && nl[-1] == '\r';
		size_t n = (size_t)(nl - p) - (has_cr ? 1 : 0);

		if (dkim_buf_append(out, p, n) < 0 || dkim_buf_append(out, "\r\n", 2) < 0)
			return -1;
		p = nl + 1;
	}
	return dkim_buf_puts(out, p);
}

/*
 * relaxed (RFC 6376 3.4.2): lowercase name without trailing whitespace;
 * in the value, line ends vanish (unfolding), whitespace runs become one
 * SP, and whitespace at the start and the end is dropped. The output is
 * never longer than the input, so room is made once and bytes are
 * written directly.
 */
static int
header_relaxed(struct dkim_buf *out, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value), i;
	bool pending = false, started = false;
	const unsigned char *p;
	char *o;

	if (dkim_buf_reserve(out, nlen + vlen + 1) < 0)
		return -1;
	o = out->data + out->len;
	while (nlen > 0 && is_wsp((unsigned char)name[nlen - 1]))
		nlen--;
	for (i = 0; i < nlen; i++)
		*o++ = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	*o++ = ':';
	for (p = (const unsigned char *)value; *p; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (is_wsp(*p)) {
			pending = true;
			continue;
		}
		if (pending && started)
			*o++ = ' ';
		*o++ = (char)*p;
		pending = false;
		started = true;
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int
dkim_header_canon(struct dkim_buf *out, enum canon mode, const char *name,
		  const char *value, bool crlf)
{
	int rc = mode == CANON_SIMPLE ? header_simple(out, name, value)
	    : header_relaxed(out, name, value);

	if (rc == 0 && crlf)
		rc = dkim_buf_append(out, "\r\n", 2);
	return rc;
}

/* ---------------------------------------------------------------- body -- */

/*
 * The body loop reads one byte at a time and writes canonical bytes
 * straight into b->out, hashing it when full. One byte of input makes at
 * most four bytes of output (a held-back CR turned content, a space and
 * the byte), so the loop only checks for room once per byte. Empty
 * lines are held back as a count, because trailing ones are dropped;
 * they are written out (through body_emit, which flushes as needed) only
 * when content follows them.
 */
#define OUT_SLACK 4

/* The byte classes the loop tells apart; WSP only matters in relaxed. */
enum { C_ORD, C_WSP, C_CR, C_LF };

static const unsigned char simple_class[256] = {
	['\r'] = C_CR, ['\n'] = C_LF,
};
static const unsigned char relaxed_class[256] = {
	[' '] = C_WSP, ['\t'] = C_WSP, ['\r'] = C_CR, ['\n'] = C_LF,
};

static int
body_flush(struct dkim_body *b)
{
	size_t n = b->outlen;

	if (b->hashed >= b->limit)
		n = 0;
	else if (n > b->limit - b->hashed)
		n = (size_t)(b->limit - b->hashed);
	if (n && EVP_DigestUpdate(b->md, b->out, n) != 1)
		return -1;
	b->hashed += b->outlen;
	b->outlen = 0;
	return 0;
}

static int
body_emit(struct dkim_body *b, const void *p, size_t n)
{
	if (n > sizeof(b->out) - b->outlen && body_flush(b) < 0)
		return -1;
	memcpy(b->out + b->outlen, p, n);
	b->outlen += n;
	return 0;
}

/* Empty lines held back turn out not to be trailing: emit them, and
 * leave room for the loop. */
static int
release_blank_lines(struct dkim_body *b)
{
	for (; b->blank_lines > 0; b->blank_lines--)
		if (body_emit(b, "\r\n", 2) < 0)
			return -1;
	if (b->outlen > sizeof(b->out) - OUT_SLACK)
		return body_flush(b);
	return 0;
}

/* One content byte (not a line end; in relaxed mode not whitespace). */
static inline int
content_byte(struct dkim_body *b, unsigned char c)
{
	if (b->blank_lines && release_blank_lines(b) < 0)
		return -1;
	if (b->wsp) {
		b->out[b->outlen++] = ' ';
		b->wsp = false;
	}
	b->out[b->outlen++] = c;
	b->line_open = true;
	return 0;
}

static inline void
line_end(struct dkim_body *b)
{
	b->wsp = false;		/* relaxed: whitespace at a line's end goes */
	if (!b->line_open) {
		b->blank_lines++;
		return;
	}
	b->out[b->outlen++] = '\r';
	b->out[b->outlen++] = '\n';
	b->line_open = false;
}

int
dkim_body_init(struct dkim_body *b, enum canon mode, const EVP_MD *sha256)
{
	memset(b, 0, offsetof(struct dkim_body, out));
	b->mode = mode;
	b->limit = UINT64_MAX;
	if ((b->md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(b->md, sha256, NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return -1;
	}
	return 0;
}

int
dkim_body_update(struct dkim_body *b, const unsigned char *p, size_t len)
{
	const unsigned char *cls = b->mode == CANON_RELAXED ? relaxed_class : simple_class;
	const unsigned char *end = p + len;
	unsigned char c;

	if (b->md == NULL)
		return -1;
	while (p < end) {
		if (b->outlen > sizeof(b->out) - OUT_SLACK && body_flush(b) < 0)
			return -1;
		c = *p++;
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				line_end(b);
				continue;
			}
			if (content_byte(b, '\r') < 0)	/* a bare CR is content */
				return -1;
		}
		switch (cls[c]) {
		case C_ORD:
			if (content_byte(b, c) < 0)
				return -1;
			break;
		case C_WSP:
			b->wsp = true;
			break;
		case C_CR:
			b->cr = true;
			break;
		default:
			line_end(b);	/* CRLF, or a bare LF */
			break;
		}
	}
	return 0;
}

void
dkim_body_set_limit(struct dkim_body *b, uint64_t limit)
{
	b->limit = limit;
}

int
dkim_body_final(struct dkim_body *b, unsigned char hash[DKIM_HASH_LEN])
{
	unsigned int n = 0;

	if (b->md == NULL || body_flush(b) < 0)
		return -1;
	if (b->cr) {
		b->cr = false;
		if (content_byte(b, '\r') < 0)
			return -1;
	}
	/* A last line without its CRLF gets one; trailing empty lines go. */
	if (b->line_open)
		line_end(b);
	/* simple: an empty body is one CRLF; relaxed: it is empty. */
	if (b->mode == CANON_SIMPLE && b->hashed + b->outlen == 0 && body_emit(b, "\r\n", 2) < 0)
		return -1;
	if (body_flush(b) < 0 || EVP_DigestFinal_ex(b->md, hash, &n) != 1 || n != DKIM_HASH_LEN)
		return -1;
	return 0;
}

void
dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

void
dkim_base64(char *out, const unsigned char *p, size_t n)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}
