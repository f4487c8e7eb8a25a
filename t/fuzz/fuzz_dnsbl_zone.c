/*
 * fuzz_dnsbl_zone.c - DNSBL/DNSWL zone entries as the admin writes them
 * in policyd.dnsbl.zones ("zone[=filter][*weight]", common/dnsbl_zone.c),
 * the reply filter they carry, and the query name for a client.
 * Input: line 1 the entry; line 2 a client address; the bytes of line 3,
 * four at a time, are A replies.
 * Properties: a parsed entry's name and filter fit and the weight is
 * within +-DNSBL_WEIGHT_MAX; an entry without filter lists on any reply;
 * listing is the OR of the filter over the replies; a query name fits
 * and ends with the zone.
 */
#include "dnsbl_zone.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[3] = { NULL, NULL, NULL };
	struct dnsbl_zone z;
	uint32_t replies[16];
	char qname[DNSBL_QUERY_NAME_MAX + 1], tiny[8];
	const char *why = NULL;
	size_t n, i, nl;
	int count = 0, any = 0;

	if (size > 4096)
		return 0;
	n = fuzz_lines(data, size, line, 3);
	for (i = n; i < 3; i++)
		line[i] = fuzz_str(data, 0);
	nl = strlen(line[2]);
	for (i = 0; i + 4 <= nl && count < 16; i += 4)
		replies[count++] = (uint32_t)(unsigned char)line[2][i] << 24
				   | (uint32_t)(unsigned char)line[2][i + 1] << 16
				   | (uint32_t)(unsigned char)line[2][i + 2] << 8
				   | (unsigned char)line[2][i + 3];
	if (dnsbl_zone_parse(line[0], &z, &why) == 0) {
		FUZZ_ASSERT(strlen(z.name) <= DNSBL_ZONE_NAME_MAX && z.name[0] != '\0');
		FUZZ_ASSERT(strlen(z.filter) <= DNSBL_FILTER_MAX);
		FUZZ_ASSERT(z.weight >= -DNSBL_WEIGHT_MAX && z.weight <= DNSBL_WEIGHT_MAX);
		for (i = 0; i < (size_t)count; i++)
			any |= dnsbl_filter_match(z.filter, replies[i]);
		FUZZ_ASSERT(dnsbl_zone_listed(&z, replies, count) == (bool)any);
		if (z.filter[0] == '\0')
			FUZZ_ASSERT(dnsbl_zone_listed(&z, replies, count) == (count > 0));
		if (dnsbl_query_name(line[1], z.name, qname, sizeof(qname)) == 0) {
			size_t lq = strlen(qname), lz = strlen(z.name);

			FUZZ_ASSERT(lq < sizeof(qname) && lq > lz);
			FUZZ_ASSERT(strcmp(qname + lq - lz, z.name) == 0);
		}
		(void)dnsbl_query_name(line[1], z.name, tiny, sizeof(tiny));
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	(void)dnsbl_query_name(line[1], line[0], qname, sizeof(qname));
	fuzz_lines_free(line, 3);
	return 0;
}
