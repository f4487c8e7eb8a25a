/*
 * fuzz_relay_hop.c - domains.relay entries, "domain|host:port"
 * (common/relay_hop.c): the next hop recipient validation probes.
 * Properties: relay_entry_check() agrees with relay_entry_parse(); a
 * parsed hop has a port in 1..65535 (when it names a host) and a host that fits; a domain
 * buffer too small is an error, never an overflow.
 */
#include "fuzz.h"
#include "relay_hop.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char domain[256], tiny[4];
	struct relay_hop hop;
	const char *why = NULL;
	char *entry;
	int rc;

	if (size > 2048)
		return 0;
	entry = fuzz_str(data, size);
	rc = relay_entry_parse(entry, domain, sizeof(domain), &hop, &why);
	FUZZ_ASSERT((rc == 0) == (relay_entry_check(entry) == NULL));
	if (rc == 0) {
		FUZZ_ASSERT(domain[0] != '\0' && strlen(domain) < sizeof(domain));
		FUZZ_ASSERT(strlen(hop.host) <= RELAY_HOST_MAX);
		if (hop.host[0] != '\0')	/* no hop: host "" (relay_hop.h) */
			FUZZ_ASSERT(hop.port >= 1 && hop.port <= 65535);
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	(void)relay_entry_parse(entry, tiny, sizeof(tiny), &hop, &why);
	free(entry);
	return 0;
}
