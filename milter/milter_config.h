/*
 * milter_config.h - the milter's current config and list cache, shared
 * by libmilter's threads (private to milter.c and milter_config.c; the
 * daemon's side of it is in milter.h: milter_config_swap() and co.).
 *
 *   config_session_open()     a new connection's reference to the
 *                             current config (NULL: stopping, none left);
 *   config_session_refresh()  between messages: *ref becomes the current
 *                             config if a reload made a newer one (true
 *                             then), the old reference dropped;
 *   config_session_close()    the connection's end: its reference goes.
 *   milter_lists_snapshot()   a snapshot of the Redis lists, to be given
 *                             back with lists_release(); NULL without a
 *                             list cache.
 */
#ifndef SLUICE_MILTER_CONFIG_H
#define SLUICE_MILTER_CONFIG_H

#include <stdbool.h>

#include "lists.h"
#include "module.h"

struct config_ref {
	struct sluice_config *cfg;
	void *module_conf[MILTER_MODULES_MAX];
	int refs;
	unsigned long generation;
};

struct config_ref *config_session_open(void);
bool config_session_refresh(struct config_ref **ref);
void config_session_close(struct config_ref *ref);
const struct lists *milter_lists_snapshot(void);

#endif
