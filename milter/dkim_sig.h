/*
 * dkim_sig.h - making DKIM-Signature header fields (RFC 6376 section 5,
 * RFC 8463 for Ed25519) from a message's collected header fields and its
 * body hash. Pure: no libmilter, no config file, no global state; the
 * milter module (dkim_sign.c), the unit and differential tests and the
 * signing microbenchmark all drive it the same way.
 *
 * Interface:
 *   struct dkim_headers / dkim_headers_add()
 *        the header fields a signature may cover, in message order,
 *        within DKIM_HEADERS_MAX fields and DKIM_HEADER_BYTES_MAX bytes.
 *   dkim_sig_entries()
 *        how many entries that h= list has: more than DKIM_HLIST_MAX is a
 *        limit the signer reports as a skip at end of headers.
 *   dkim_sig_prepare()
 *        chooses the h= list (every field of the sign list as often as
 *        it occurs, plus once more for oversigned names, From always) and
 *        canonicalizes those fields once, however many keys sign.
 *   dkim_sig_make()
 *        one key's signature: the header field value, with its leading
 *        space and folded with "\n\t" (what Postfix wants from a milter;
 *        it writes "\r\n\t" on the wire, and the hash is computed over
 *        that wire form).
 *
 * Header fields are oversigned bottom-up as RFC 6376 5.4.2 reads them: a
 * name listed k times in h= covers its last k instances, and a listing
 * beyond the instances present covers "no such field" - which is what
 * makes adding one more instance later break the signature.
 */
#ifndef SLUICE_DKIM_SIG_H
#define SLUICE_DKIM_SIG_H

#include <time.h>

#include "dkim_canon.h"
#include "dkim_keys.h"

#define DKIM_HEADERS_MAX 1000			/* fields kept per message */
#define DKIM_HEADER_BYTES_MAX (1024 * 1024)	/* their total size */
#define DKIM_HLIST_MAX 256			/* entries of h= */

struct dkim_field {
	char *name;
	char *value;		/* as received: leading space, "\n" folds */
};

struct dkim_headers {
	struct dkim_field *f;
	size_t count, cap;
	size_t bytes;
};

enum dkim_add { DKIM_ADD_OK, DKIM_ADD_TOO_MANY, DKIM_ADD_TOO_BIG, DKIM_ADD_NOMEM };

enum dkim_add dkim_headers_add(struct dkim_headers *h, const char *name, const char *value);
void dkim_headers_free(struct dkim_headers *h);

struct dkim_sign_params {
	enum canon header_canon, body_canon;
	const struct strlist *headers;	/* names to sign; From is added */
	const struct strlist *oversign;	/* names signed once more */
	const EVP_MD *sha256;		/* fetched once per config */
	time_t timestamp;		/* t= */
	long expire;			/* x= is t= + expire; 0: no x= */
};

struct dkim_prepared {
	struct dkim_buf hlist;		/* "from:to:subject", folded */
	struct dkim_buf canon;		/* the covered fields, canonical */
};

size_t dkim_sig_entries(const struct dkim_sign_params *p, const struct dkim_headers *h);
int dkim_sig_prepare(const struct dkim_sign_params *p, const struct dkim_headers *h,
		     struct dkim_prepared *out, char *err, size_t errsize);
void dkim_prepared_free(struct dkim_prepared *pr);

int dkim_sig_make(const struct dkim_sign_params *p, const struct dkim_prepared *pr,
		  const struct dkim_key *key, const unsigned char bh[DKIM_HASH_LEN],
		  struct dkim_buf *value, char *err, size_t errsize);

#endif
