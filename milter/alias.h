#ifndef SLUICE_MILTER_ALIAS_H
#define SLUICE_MILTER_ALIAS_H
#include "module.h"
extern const struct milter_module alias_module;
#endif
