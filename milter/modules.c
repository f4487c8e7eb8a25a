/*
 * modules.c - the registry of milter modules, in the order they run.
 *
 * Address rules first (a forbidden sender is refused before we spend a
 * DNS query on it), then verification, then the modules that change the
 * message (recipients, then DKIM signing last, so that the signature
 * covers the headers the others added).
 */
#include <stddef.h>

#include "auth.h"
#include "alias.h"
#include "copies.h"
#include "dkim_sign.h"
#include "module.h"
#include "rules.h"

/* Copies run after the module that rewrites the original recipients
 * (aliases, issue 11 part 2) and add only their own recipients. */
const struct milter_module *const milter_modules[] = {
	&rules_module,
	&auth_module,
	&alias_module,
	&copies_module,
	&dkim_sign_module,
	NULL
};
