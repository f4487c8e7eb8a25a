/*
 * dkim_sign.h - the DKIM signing module (dkim_sign.c).
 *
 * Interface:
 *   dkim_sign_module     what modules.c registers.
 *   dkim_sign_open_with() the module's open() with options that
 *                        sluice.conf has no keys for yet: signing for a
 *                        subdomain with its parent domain's keys, and an
 *                        x= expiry. The registered open() passes
 *                        DKIM_SIGN_OPTIONS_DEFAULT (both off); tests pass
 *                        others.
 *   dkim_sign_close()    frees what open made.
 */
#ifndef SLUICE_DKIM_SIGN_H
#define SLUICE_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "module.h"

struct dkim_sign_options {
	bool parent_domains;	/* a.b.example.com may use example.com's keys */
	long expire;		/* seconds from t= to x=; 0: no x= */
};

#define DKIM_SIGN_OPTIONS_DEFAULT { false, 0 }

extern const struct milter_module dkim_sign_module;

int dkim_sign_open_with(const struct sluice_config *cfg, const struct dkim_sign_options *opt,
			void **conf, char *err, size_t errsize);
void dkim_sign_close(void *conf);

#endif
