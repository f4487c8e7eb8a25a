/*
 * dkim_canon.h - DKIM canonicalization (RFC 6376 section 3.4) and the
 * SHA-256 hashing that goes with it. Pure: no libmilter, no config, no
 * global state; the unit tests and the differential tests against
 * libopendkim drive these functions directly.
 *
 * Interface:
 *   struct dkim_buf        a byte buffer that grows up to a fixed bound
 *                          (every input of the signer is bounded).
 *   dkim_header_canon()    appends the canonical form of one header field
 *                          to a dkim_buf.
 *   dkim_body_*()          canonicalize and hash a body streamed in
 *                          chunks of any size, cut anywhere (even between
 *                          the CR and the LF of a line end).
 *
 * Input conventions (what Postfix gives a milter, checked with
 * bench/nullmilter -d and by t/integration/t_dkim.sh): a header value
 * arrives with its leading space (SMFIP_HDR_LEADSPC) and continuation
 * lines joined by a bare "\n"; the body arrives with "\r\n" line ends.
 * Both functions accept either line end: a bare LF counts as CRLF, which
 * is what the message looks like on the wire when Postfix sends it on.
 * A CR not followed by LF is an ordinary byte.
 */
#ifndef SLUICE_DKIM_CANON_H
#define SLUICE_DKIM_CANON_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"		/* enum canon */

#define DKIM_HASH_LEN 32	/* SHA-256 */

struct dkim_buf {
	char *data;		/* NUL-terminated when len < cap */
	size_t len, cap;
	size_t max;		/* len never exceeds this */
};

/* An empty buffer that will hold at most max bytes. */
void dkim_buf_init(struct dkim_buf *b, size_t max);
/* 0, or -1 when the bound would be passed or memory is short (b unchanged). */
int dkim_buf_append(struct dkim_buf *b, const void *p, size_t n);
int dkim_buf_puts(struct dkim_buf *b, const char *s);
/* Makes room for n more bytes (within the bound) without adding any. */
int dkim_buf_reserve(struct dkim_buf *b, size_t n);
void dkim_buf_free(struct dkim_buf *b);

/*
 * Appends "name:value" in canonical form, followed by CRLF when crlf is
 * true (the DKIM-Signature header itself is hashed without one).
 * simple: the field as it is, line ends made CRLF.
 * relaxed: name lowercased, continuation lines unfolded, every run of
 * whitespace made one SP, whitespace around the colon and at the end
 * removed.
 */
int dkim_header_canon(struct dkim_buf *out, enum canon mode, const char *name,
		      const char *value, bool crlf);

struct dkim_body {
	enum canon mode;
	EVP_MD_CTX *md;
	size_t blank_lines;	/* empty lines held back: they may be trailing */
	bool wsp;		/* relaxed: whitespace held back in this line */
	bool cr;		/* a CR held back: the next byte decides */
	bool line_open;		/* the current line has output */
	uint64_t hashed;	/* canonical bytes made so far */
	uint64_t limit;		/* only the first limit of them are hashed */
	size_t outlen;
	unsigned char out[8192];	/* canonical bytes not yet hashed */
};

/* sha256 comes from EVP_MD_fetch once per config (no fetch per message). */
int dkim_body_init(struct dkim_body *b, enum canon mode, const EVP_MD *sha256);
int dkim_body_update(struct dkim_body *b, const unsigned char *p, size_t len);
/* Hash only the first limit canonical bytes (the verifier's l=); the
 * count of all of them stays in b->hashed. Default: no limit. */
void dkim_body_set_limit(struct dkim_body *b, uint64_t limit);
/* Ends the body (trailing empty lines dropped) and writes its hash. */
int dkim_body_final(struct dkim_body *b, unsigned char hash[DKIM_HASH_LEN]);
void dkim_body_free(struct dkim_body *b);

/* Base64 of n bytes into out (size >= 4 * ((n + 2) / 3) + 1). */
void dkim_base64(char *out, const unsigned char *p, size_t n);

#endif
