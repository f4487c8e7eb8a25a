/*
 * dkim_verify.h - DKIM verification (RFC 6376, RFC 8463 for Ed25519) of
 * every DKIM-Signature of a message, up to a bound. Pure library: no
 * libmilter, no config file, no global state. The authentication module
 * (milter/auth*.c) feeds it what libmilter gives a milter and formats the
 * results into Authentication-Results; the unit, corpus and differential
 * tests drive it the same way.
 *
 * Use, one verifier per message (one thread at a time):
 *
 *   v = dkim_verify_new(&limits, &keysrc);       NULL: out of memory
 *   dkim_verify_header(v, name, value);          each header field, in order
 *   dkim_verify_eoh(v);                          end of headers
 *   dkim_verify_body(v, chunk, len);             the body, chunks of any size
 *   n = dkim_verify_finish(v, &res, &unchecked); keys looked up, results out
 *   ... dkim_result_resinfo(&res[i], buf, size) ...
 *   dkim_verify_free(v);                         results are freed with v
 *
 * Input conventions are the signer's (dkim_canon.h): a header value as
 * libmilter gives it with SMFIP_HDR_LEADSPC (leading space kept, folds
 * as "\n" or "\r\n"), body with CRLF or LF line ends.
 *
 * Contract:
 *  - Never crashes on any input and never exceeds its bounds: header
 *    fields beyond DKIM_HEADERS_MAX / DKIM_HEADER_BYTES_MAX (dkim_sig.h)
 *    are not kept, and then every signature of the message is a
 *    permerror "header limit" (we cannot tell which fields it needed),
 *    a DKIM-Signature longer than limits.max_sig_bytes is a permerror,
 *    signatures beyond limits.max_signatures are counted in *unchecked
 *    and not verified (no DNS, no hashing).
 *  - Functions return 0 or -1. -1 means out of memory only: the caller
 *    should tempfail the message. Bad mail is never -1, it is a result.
 *  - Bodies are hashed once per distinct (body canon, l=) among the
 *    signatures, however many signatures share it.
 *  - Keys are fetched only in dkim_verify_finish(), through the key
 *    source, once per distinct (s, d) among the signatures; the key
 *    source owns the time budget (it returns TEMPERROR when spent).
 *    dkim_verify_qnames() lists them after eoh, so a DNS layer can send
 *    the queries in parallel and answer finish's calls from its cache.
 *
 * Result per signature (RFC 8601 2.7.1 words):
 *   pass       verified.
 *   fail       verified and wrong: body hash, signature, expired x=
 *              (RFC 6376 6.1.1 lets a verifier treat it as fail; we do,
 *              like libopendkim), key revoked (p= empty).
 *   neutral    (unused by this library; kept for the A-R vocabulary).
 *   temperror  the key lookup failed temporarily (timeout, SERVFAIL).
 *   permerror  the signature or its key record cannot be used: syntax,
 *              missing or duplicate tags, unknown v=/a=/c=/q=, i= not in
 *              d=, h= without from, t= in the future (beyond skew), x= <
 *              t=, no key record (NXDOMAIN/NODATA), key syntax, k= or h=
 *              of the key not matching a=, t=s with an i= in a subdomain,
 *              s= of the key without "email" or "*", RSA key below
 *              limits.rsa_min_bits or above limits.rsa_max_bits,
 *              ed25519 key not 32 bytes, oversized signature.
 *   policy     rsa-sha1 (unless limits.sha1_fail: then fail); we do not
 *              verify SHA-1 at all (RFC 8301).
 * A key with t=y (testing) gives its real result with testing = true:
 * RFC 6376 says verifiers must not treat such messages differently from
 * unsigned ones; the A-R module may add a comment.
 */
#ifndef SLUICE_DKIM_VERIFY_H
#define SLUICE_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum dkim_res {
	DKIM_RES_PASS,
	DKIM_RES_FAIL,
	DKIM_RES_NEUTRAL,
	DKIM_RES_TEMPERROR,
	DKIM_RES_PERMERROR,
	DKIM_RES_POLICY,
};

/* "pass", "fail", ... as in RFC 8601 dkim= results. */
const char *dkim_res_name(enum dkim_res r);

/* What a key source says about one TXT query. */
enum dkim_dns {
	DKIM_DNS_OK,
	DKIM_DNS_NXDOMAIN,
	DKIM_DNS_NODATA,	/* the name exists, no TXT record */
	DKIM_DNS_TEMPERROR,	/* timeout, SERVFAIL, budget spent, answer too big */
};

/*
 * A source of TXT records. txt() writes the TXT records found at qname
 * (e.g. "sel._domainkey.example.com", no trailing dot) into buf: each
 * record's character-strings concatenated, NUL-terminated, records back
 * to back; it returns the number of records written (>= 1 with *status
 * DKIM_DNS_OK), or 0 with *status saying why none. It may block, within
 * its own time budget. Several records at one name: the verifier uses
 * the first that parses as a DKIM key (RFC 6376 3.6.2.2).
 */
struct dkim_key_source {
	int (*txt)(void *arg, const char *qname, char *buf, size_t size,
		   enum dkim_dns *status);
	void *arg;
};

#define DKIM_TXT_MAX 8192	/* the buf size the verifier passes */

struct dkim_pkey_cache;

struct dkim_verify_limits {
	size_t max_signatures;	/* verified per message (default 8) */
	size_t max_sig_bytes;	/* one DKIM-Signature value (default 16384) */
	int rsa_min_bits;	/* default 1024 */
	int rsa_max_bits;	/* default 8192 */
	long clock_skew;	/* t= may be this far ahead, seconds (300) */
	bool sha1_fail;		/* rsa-sha1 is fail, not policy (false) */
	time_t now;		/* 0: time(NULL) at dkim_verify_eoh() */
	const struct evp_md_st *sha256;	/* EVP_MD fetched once; NULL: EVP_sha256() */
	struct dkim_pkey_cache *pkeys;	/* decoded keys shared across messages
					 * (dkim_pkey_cache.h); NULL: none */
};

void dkim_verify_limits_default(struct dkim_verify_limits *l);

#define DKIM_RES_REASON_MAX 96
#define DKIM_RES_D_MAX 256
#define DKIM_RES_S_MAX 256
#define DKIM_RES_I_MAX 512

struct dkim_sigresult {
	enum dkim_res result;
	char reason[DKIM_RES_REASON_MAX];	/* "body hash mismatch", "" on pass */
	char d[DKIM_RES_D_MAX];		/* lowercase; "" when absent */
	char s[DKIM_RES_S_MAX];
	char a[32];			/* "rsa-sha256", ... as written; "" absent */
	char b[9];			/* first 8 characters of b= */
	char i[DKIM_RES_I_MAX];		/* i= as written, or "@" d= when absent */
	bool testing;			/* key had t=y */
	int key_bits;			/* RSA modulus bits, 256 for ed25519, 0 */
};

struct dkim_verify;

struct dkim_verify *dkim_verify_new(const struct dkim_verify_limits *limits,
				    const struct dkim_key_source *keys);
int dkim_verify_header(struct dkim_verify *v, const char *name, const char *value);
int dkim_verify_eoh(struct dkim_verify *v);
int dkim_verify_body(struct dkim_verify *v, const unsigned char *p, size_t len);

/*
 * After eoh: the distinct key names ("s._domainkey.d") the signatures
 * will need, at most max of them written to out (pointers valid until
 * dkim_verify_free). Returns how many there are.
 */
size_t dkim_verify_qnames(const struct dkim_verify *v, const char **out, size_t max);

/*
 * Looks the keys up and verifies. *res points to an array (owned by v)
 * of the returned count, one per checked signature in message order;
 * *unchecked gets the number of signatures beyond max_signatures. Call
 * once; calling it without eoh implies eoh.
 */
size_t dkim_verify_finish(struct dkim_verify *v, const struct dkim_sigresult **res,
			  size_t *unchecked);
void dkim_verify_free(struct dkim_verify *v);

/*
 * One result as an RFC 8601 resinfo: `dkim=pass header.d=example.com
 * header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh`, with a
 * "(reason)" comment when the result is not pass. Values that are not
 * RFC 8601 tokens (pvalue) are quoted or left out. Returns the length,
 * or -1 when size is too small (buf then holds "").
 */
int dkim_result_resinfo(const struct dkim_sigresult *r, char *buf, size_t size);

/* Key sources (dkim_keysrc.c). */

/* A table, for tests: entries end at qname == NULL; a name not in it is
 * NXDOMAIN; txt == NULL gives the entry's status. */
struct dkim_key_table {
	const char *qname;
	const char *txt;
	enum dkim_dns status;
};
struct dkim_key_source dkim_key_source_table(const struct dkim_key_table *t);

#endif
