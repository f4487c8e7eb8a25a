/*
 * lists_part.h - the inside of a lists snapshot, for lists.c (the
 * snapshot, its lookups) and lists_read.c (how one is read from Redis)
 * only. Nothing else includes it.
 */
#ifndef SLUICE_LISTS_PART_H
#define SLUICE_LISTS_PART_H

#include <stdbool.h>
#include <stdatomic.h>

#include "lists.h"
#include "strmap.h"

#define ALIAS_SUFFIX "alias:"

/* One list: a set (pattern list) or a map (hashes, aliases). */
struct list_part {
	atomic_int refs;
	struct pattern_list set;
	struct strmap map;
};

struct lists {
	atomic_int refs;
	char prefix[72];
	char key[LIST_COUNT][128];
	char map_key[MAP_COUNT][128];
	char alias_prefix[96];		/* "sluice:alias:" */
	struct list_part *sets[LIST_COUNT];	/* NULL: empty */
	struct list_part *maps[MAP_COUNT];
	struct list_part *aliases;
	bool loaded;			/* made by a full read that succeeded */
};

#define EACH_PART(l, p, body) do { int i_; \
	for (i_ = 0; i_ < LIST_COUNT; i_++) { struct list_part **p = &(l)->sets[i_]; body; } \
	for (i_ = 0; i_ < MAP_COUNT; i_++) { struct list_part **p = &(l)->maps[i_]; body; } \
	{ struct list_part **p = &(l)->aliases; body; } } while (0)

struct list_part *part_new(void);
void part_release(struct list_part *part);
/* A new snapshot sharing every part of old. */
struct lists *lists_derive(const struct lists *old);

#endif
