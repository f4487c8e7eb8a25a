/*
 * dkim_tags.h - the strict tag-list parser (RFC 6376 section 3.2) the
 * DKIM verifier reads DKIM-Signature fields and key records with.
 * (dkim_sig_identity() in dkim_parse.c is the signer's lenient reader
 * of d= and s=; a verifier must refuse what it cannot read exactly.)
 *
 * Interface:
 *   dkim_tags_parse()  splits "a=b; c = d e ;" into tags. -1 and a
 *                      reason on: a tag-spec without "=", a tag name
 *                      not ALPHA *(ALPHA / DIGIT / "_"), a byte in a
 *                      value outside VALCHAR and whitespace (8-bit, NUL
 *                      cannot occur in a C string, controls), a tag
 *                      given twice, more than DKIM_TAGS_MAX tags, an
 *                      empty tag-spec (";;") other than a trailing ";".
 *   dkim_tags_get()    a tag's value with all whitespace removed (b=,
 *                      bh=, h= and p= may be folded anywhere), NULL
 *                      when absent.
 *   dkim_tags_find()   the same entry, with the offsets of the raw value
 *                      in the parsed text (the verifier blanks b= there).
 * The parsed copy is owned by the tags and freed by dkim_tags_free().
 */
#ifndef SLUICE_DKIM_TAGS_H
#define SLUICE_DKIM_TAGS_H

#include <stddef.h>

#define DKIM_TAGS_MAX 64
#define DKIM_TAG_NAME_MAX 32

struct dkim_tag {
	char name[DKIM_TAG_NAME_MAX];
	char *value;		/* whitespace removed, NUL-terminated */
	size_t raw_start;	/* offsets of the value (after "=") ... */
	size_t raw_end;		/* ... up to the ";" or the end */
};

struct dkim_tags {
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t count;
	char *store;		/* the values */
};

int dkim_tags_parse(struct dkim_tags *tags, const char *text, const char **why);
const char *dkim_tags_get(const struct dkim_tags *tags, const char *name);
const struct dkim_tag *dkim_tags_find(const struct dkim_tags *tags, const char *name);
void dkim_tags_free(struct dkim_tags *tags);

#endif
