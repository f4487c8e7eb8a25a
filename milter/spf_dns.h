/*
 * spf_dns.h - a libspf2 DNS layer on the milter's resolver (dns.h), so
 * that every SPF lookup goes through its cache and counts against the
 * message's time budget: once the budget is spent, each further lookup
 * answers TRY_AGAIN at once and libspf2 ends with temperror.
 *
 * Interface:
 *   spf_dns_new()   a layer on resolver r; spf_dns_set_budget() points it
 *                   at the budget of the message being checked (the layer
 *                   and its checker are used by one thread at a time).
 *   spf_dns_free()
 * Pass the layer to spf_checker_new_dns() (common/spf.h).
 */
#ifndef SLUICE_MILTER_SPF_DNS_H
#define SLUICE_MILTER_SPF_DNS_H

#include "dns.h"

struct SPF_dns_server_struct;

struct SPF_dns_server_struct *spf_dns_new(struct dns_resolver *r);
void spf_dns_set_budget(struct SPF_dns_server_struct *layer, struct dns_budget *budget);
void spf_dns_free(struct SPF_dns_server_struct *layer);

#endif
