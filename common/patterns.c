/*
 * patterns.c - match addresses, domains and IPs against admin lists.
 *
 * Exact items (the common case: thousands of addresses in a Redis set)
 * are one sorted array and a binary search; regexes, rare and slow, are
 * tried only when no exact item matched. Lowercasing happens once, when
 * an item is added and when a query is made, never per comparison.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "patterns.h"

static int
grow(void **items, size_t *cap, size_t count, size_t size)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((p = realloc(*items, ncap * size)) == NULL)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

static void
lowercase(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static int
add_regex(struct pattern_list *list, const char *item, size_t len, const char **why)
{
	char re[ADDRESS_MAX * 4 + 3];

	if (len - 2 + 3 > sizeof(re)) {
		*why = "regular expression too long";
		return -1;
	}
	/* Anchored: the expression must match the whole address. */
	re[0] = '^';
	memcpy(re + 1, item + 1, len - 2);
	strcpy(re + len - 1, "$");
	if (grow((void **)&list->regex, &list->regex_cap, list->regex_count, sizeof(regex_t)) < 0) {
		*why = "out of memory";
		return -1;
	}
	if (regcomp(&list->regex[list->regex_count], re, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
		*why = "invalid regular expression";
		return -1;
	}
	list->regex_count++;
	return 0;
}

int
pattern_list_add(struct pattern_list *list, const char *item, const char **why)
{
	size_t len = strlen(item);
	struct net_cidr block;
	const char *dummy;
	char *copy;

	if (why == NULL)
		why = &dummy;
	if (len == 0 || len > ADDRESS_MAX) {
		*why = "empty or longer than an address may be";
		return -1;
	}
	if (len >= 2 && item[0] == '/' && item[len - 1] == '/')
		return add_regex(list, item, len, why);
	if (net_cidr_parse(item, &block) == 0) {
		if (net_list_add(&list->nets, &block) < 0) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	}
	if (grow((void **)&list->exact, &list->exact_cap, list->exact_count, sizeof(char *)) < 0
	    || (copy = malloc(len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	lowercase(copy, item, len + 1);
	list->exact[list->exact_count++] = copy;
	return 0;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
pattern_list_seal(struct pattern_list *list)
{
	if (list->exact_count > 1)
		qsort(list->exact, list->exact_count, sizeof(char *), compare_strings);
}

size_t
pattern_list_size(const struct pattern_list *list)
{
	return list->exact_count + list->regex_count + list->nets.count;
}

void
pattern_list_free(struct pattern_list *list)
{
	size_t i;

	for (i = 0; i < list->exact_count; i++)
		free(list->exact[i]);
	free(list->exact);
	for (i = 0; i < list->regex_count; i++)
		regfree(&list->regex[i]);
	free(list->regex);
	net_list_free(&list->nets);
	memset(list, 0, sizeof(*list));
}

static bool
has_exact(const struct pattern_list *list, const char *lower)
{
	return list->exact_count > 0
	    && bsearch(&lower, list->exact, list->exact_count, sizeof(char *),
		       compare_strings) != NULL;
}

bool
pattern_match_domain(const struct pattern_list *list, const char *domain, bool parents)
{
	char lower[ADDRESS_DOMAIN_MAX + 1];
	const char *p;

	if (domain == NULL || *domain == '\0')
		return false;
	lowercase(lower, domain, sizeof(lower));
	for (p = lower; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
		if (has_exact(list, p))
			return true;
		if (!parents)
			break;
	}
	return false;
}

bool
pattern_match_address(const struct pattern_list *list, const char *address)
{
	char lower[ADDRESS_MAX + 1];
	const char *at;
	size_t i;

	if (address == NULL)
		return false;
	lowercase(lower, address, sizeof(lower));
	if (has_exact(list, lower))
		return true;
	if ((at = strrchr(lower, '@')) != NULL && has_exact(list, at + 1))
		return true;
	for (i = 0; i < list->regex_count; i++)
		if (regexec(&list->regex[i], lower, 0, NULL, 0) == 0)
			return true;
	return false;
}

bool
pattern_match_ip(const struct pattern_list *list, const struct net_addr *addr)
{
	return net_list_contains(&list->nets, addr);
}
