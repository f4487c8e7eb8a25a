/*
 * auth.h - the milter module that checks inbound mail (SPF, DMARC) and
 * writes its one Authentication-Results header (see auth.c).
 */
#ifndef SLUICE_MILTER_AUTH_H
#define SLUICE_MILTER_AUTH_H

#include "module.h"

extern const struct milter_module auth_module;

#endif
