/*
 * dkim_tags.c - strict DKIM tag-list parsing (see dkim_tags.h).
 *
 * One pass over the text: each tag-spec runs to the next ";". Values
 * are copied, whitespace dropped, into one allocation the size of the
 * text, so a tag list of any length costs one malloc and is bounded by
 * the caller's bound on the text.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_tags.h"

static bool
is_fws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_valchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';';
}

/* Parses text[start, end) as one tag-spec into tags. */
static int
parse_spec(struct dkim_tags *tags, const char *text, size_t start, size_t end,
	   char **store, const char **why)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = start, n0, n1, k;
	struct dkim_tag *t;

	while (i < end && is_fws(p[i]))
		i++;
	n0 = i;
	if (i < end && !is_alpha(p[i])) {
		*why = "bad tag name";
		return -1;
	}
	while (i < end && (is_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
		i++;
	n1 = i;
	while (i < end && is_fws(p[i]))
		i++;
	if (n1 == n0 || i >= end || p[i] != '=') {
		*why = n1 == n0 ? "empty tag" : "tag without \"=\"";
		return -1;
	}
	if (n1 - n0 >= DKIM_TAG_NAME_MAX) {
		*why = "tag name too long";
		return -1;
	}
	if (tags->count >= DKIM_TAGS_MAX) {
		*why = "too many tags";
		return -1;
	}
	t = &tags->t[tags->count];
	memcpy(t->name, text + n0, n1 - n0);
	t->name[n1 - n0] = '\0';
	for (k = 0; k < tags->count; k++)
		if (strcmp(tags->t[k].name, t->name) == 0) {
			*why = "duplicate tag";
			return -1;
		}
	t->raw_start = ++i;
	t->raw_end = end;
	t->value = *store;
	for (; i < end; i++) {
		if (is_fws(p[i]))
			continue;
		if (!is_valchar(p[i])) {
			*why = "bad character in tag value";
			return -1;
		}
		*(*store)++ = (char)p[i];
	}
	*(*store)++ = '\0';
	tags->count++;
	return 0;
}

int
dkim_tags_parse(struct dkim_tags *tags, const char *text, const char **why)
{
	size_t len = strlen(text), start = 0, end;
	const char *semi;
	char *store;

	tags->count = 0;
	/* Every value is at most the text, plus a NUL per tag. */
	if ((tags->store = store = malloc(len + DKIM_TAGS_MAX + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	while (start <= len) {
		semi = memchr(text + start, ';', len - start);
		end = semi ? (size_t)(semi - text) : len;
		if (semi == NULL) {
			/* After the last ";" only whitespace may remain. */
			size_t i = start;

			while (i < len && is_fws((unsigned char)text[i]))
				i++;
			if (i == len && tags->count > 0)
				break;
		}
		if (parse_spec(tags, text, start, end, &store, why) < 0) {
			dkim_tags_free(tags);
			return -1;
		}
		start = end + 1;
	}
	return 0;
}

const struct dkim_tag *
dkim_tags_find(const struct dkim_tags *tags, const char *name)
{
	size_t i;

	for (i = 0; i < tags->count; i++)
		if (strcmp(tags->t[i].name, name) == 0)
			return &tags->t[i];
	return NULL;
}

const char *
dkim_tags_get(const struct dkim_tags *tags, const char *name)
{
	const struct dkim_tag *t = dkim_tags_find(tags, name);

	return t ? t->value : NULL;
}

void
dkim_tags_free(struct dkim_tags *tags)
{
	free(tags->store);
	tags->store = NULL;
	tags->count = 0;
}
