/*
 * alias_resolve.c - aliases, domain mapping and catch-all resolved to the
 * final recipients (interface and contract in alias_resolve.h).
 *
 * Why a depth-first walk with an explicit path: a loop is a target that is
 * already an ancestor on the path, which is exact (a diamond, where two
 * aliases share a target, is no loop and is simply de-duplicated), and the
 * path is at most ALIAS_DEPTH_MAX deep, so the stack is bounded.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alias_resolve.h"

struct walk {
	const struct alias_source *src;
	struct alias_result *res;
	char path[ALIAS_DEPTH_MAX + 1][ADDRESS_MAX + 1];
};

static void
lower_copy(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i < ADDRESS_MAX; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
	dst[i] = '\0';
}

static int
result_add(struct alias_result *res, const char *addr)
{
	size_t i;

	for (i = 0; i < res->count; i++)
		if (strcmp(res->addr[i], addr) == 0)
			return 0;	/* duplicates removed */
	if (res->count >= ALIAS_RESULT_MAX) {
		res->truncated = true;
		return 0;
	}
	if (res->count == res->cap) {
		size_t cap = res->cap ? res->cap * 2 : 8;
		void *p = realloc(res->addr, cap * sizeof(*res->addr));

		if (p == NULL)
			return -1;
		res->addr = p;
		res->cap = cap;
	}
	memcpy(res->addr[res->count++], addr, ADDRESS_MAX + 1);
	return 0;
}

/* addr (lowercase "local@domain") after domain mapping, into out: up to
 * ALIAS_MAP_HOPS mappings (a -> b -> c), as policyd's recipient validation
 * judges them, so that a loop of mappings ends. */
static void
map_domain(struct walk *w, const char *addr, char *out)
{
	char cur[ADDRESS_MAX + 1];
	int hop;

	memcpy(cur, addr, ADDRESS_MAX + 1);
	for (hop = 0; hop < ALIAS_MAP_HOPS; hop++) {
		const char *at = strrchr(cur, '@');
		const char *dest = at ? w->src->domainmap(w->src->arg, at + 1) : NULL;

		if (dest == NULL || dest[0] == '\0' || strcasecmp(dest, at + 1) == 0 ||
		    (size_t)(at - cur) + 1 + strlen(dest) > ADDRESS_MAX)
			break;
		lower_copy(cur + (at - cur) + 1, dest);
		w->res->mapped = true;
	}
	memcpy(out, cur, ADDRESS_MAX + 1);
}

/* The alias targets of addr, plain or wildcard; NULL if addr is no alias. */
static const char *
find_alias(struct walk *w, const char *addr, size_t *count)
{
	const char *at = strrchr(addr, '@');
	const char *t = w->src->alias(w->src->arg, addr, count);
	char key[ADDRESS_MAX + 3];

	if (t || at == NULL || !w->src->is_local_domain(w->src->arg, at + 1))
		return t;
	memcpy(key, addr, (size_t)(at - addr) + 1);
	strcpy(key + (at - addr) + 1, "*");
	return w->src->alias(w->src->arg, key, count);
}

/* A target as written ("J.Smith", "x@Ext.example") made a full lowercase
 * address, the shorthand taking alias's domain; -1 if it cannot be one. */
static int
target_address(const char *target, const char *alias, char *out)
{
	const char *at = strrchr(alias, '@');
	struct address a;
	char buf[ADDRESS_MAX + 1];

	if (strchr(target, '@') == NULL) {
		if (at == NULL || strlen(target) + strlen(at) > ADDRESS_MAX)
			return -1;
		strcpy(buf, target);
		strcat(buf, at);
		target = buf;
	}
	if (address_parse(target, &a, NULL) < 0 || a.is_null || a.domain[0] == '\0')
		return -1;
	address_lower(&a, out, ADDRESS_MAX + 1);
	return 0;
}

static int
walk(struct walk *w, const char *addr, unsigned depth)
{
	const char *t;
	size_t count = 0, i;
	unsigned d;

	if ((t = find_alias(w, addr, &count)) == NULL) {
		if (depth == 0) {
			const char *at = strrchr(addr, '@');
			const char *ca = at ? w->src->catchall(w->src->arg, at + 1) : NULL;
			char target[ADDRESS_MAX + 1];

			if (ca && !w->src->is_mailbox(w->src->arg, addr) &&
			    target_address(ca, addr, target) == 0) {
				w->res->catchall = true;
				return result_add(w->res, target);
			}
		}
		return result_add(w->res, addr);
	}
	if (depth >= ALIAS_DEPTH_MAX) {
		w->res->too_deep = true;
		return result_add(w->res, addr);
	}
	memcpy(w->path[depth], addr, ADDRESS_MAX + 1);
	for (i = 0; i < count && t; i++, t = w->src->next(t)) {
		char target[ADDRESS_MAX + 1];
		bool on_path = false;

		if (target_address(t, addr, target) < 0)
			continue;	/* the list cache skips invalid members already */
		map_domain(w, target, target);
		if (strcmp(target, addr) == 0) {	/* keep a copy */
			if (result_add(w->res, target) < 0)
				return -1;
			continue;
		}
		for (d = 0; d < depth; d++)
			if (strcmp(w->path[d], target) == 0)
				on_path = true;
		if (on_path) {
			w->res->loop = true;
			continue;
		}
		if (walk(w, target, depth + 1) < 0)
			return -1;
	}
	return 0;
}

int
alias_resolve(const struct alias_source *src, const char *rcpt, struct alias_result *out)
{
	struct walk *w;
	struct address a;
	char addr[ADDRESS_MAX + 1];
	int r;

	memset(out, 0, sizeof(*out));
	if (address_parse(rcpt, &a, NULL) < 0 || a.is_null || a.domain[0] == '\0')
		return -1;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->src = src;
	w->res = out;
	address_lower(&a, addr, sizeof(addr));
	memcpy(out->original, addr, sizeof(addr));
	map_domain(w, addr, addr);
	r = walk(w, addr, 0);
	if (r == 0 && out->count == 0)
		r = result_add(out, addr);	/* never lose the recipient */
	free(w);
	if (r < 0) {
		alias_result_free(out);
		return -1;
	}
	out->changed = out->count != 1 || strcasecmp(out->addr[0], a.full) != 0;
	return 0;
}

void
alias_result_free(struct alias_result *res)
{
	free(res->addr);
	res->addr = NULL;
	res->count = res->cap = 0;
}
