/*
 * pattern_regex.h - the /regex/ items of a pattern list, for patterns.c
 * only (pattern_regex.c; users include patterns.h).
 * Interface:
 *   pattern_regex_check()  refuses what pattern_regex_add() would refuse
 *                          for one "/re/" item of len bytes: its syntax or
 *                          its compiled size; NULL when it is fine.
 *   pattern_regex_add()    compiles "/re/" (or copies the compiled form
 *                          that the sealed list old holds for the same
 *                          text) and appends it to list->regex with its
 *                          literal tail; -1 and *why when refused.
 *   pattern_regex_seal()   sorts list->regex by text, for the next
 *                          refresh's pattern_regex_add(..., old, ...).
 *   pattern_regex_match()  a regex of list matches the lowercase address
 *                          of len bytes (limits: patterns.h).
 *   pattern_regex_bytes(), pattern_regex_free(): the regexes' share of
 *                          pattern_list_bytes() and pattern_list_free().
 *   pattern_grow()         (patterns.c) doubles an array that is full.
 */
#ifndef SLUICE_PATTERN_REGEX_H
#define SLUICE_PATTERN_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "patterns.h"

const char *pattern_regex_check(const char *item, size_t len);
int pattern_regex_add(struct pattern_list *list, const char *item, size_t len,
		      struct pattern_list *old, const char **why);
void pattern_regex_seal(struct pattern_list *list);
bool pattern_regex_match(const struct pattern_list *list, const char *lower, size_t len);
size_t pattern_regex_bytes(const struct pattern_list *list);
void pattern_regex_free(struct pattern_list *list);

int pattern_grow(void **items, size_t *cap, size_t count, size_t size);

#endif
