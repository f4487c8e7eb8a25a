/*
 * fuzz_endpoint.c - listening endpoints as main.cf writes them
 * ("unix:/path", "inet:host:port", "inet:[::1]:port"; common/endpoint.c)
 * and their other notations (libmilter's, the log's).
 * Properties: a parsed endpoint formats back to text that parses to the
 * same endpoint; libmilter's notation fits or is refused; "inet:PORT"
 * without a host is refused (never listen on the world by accident).
 */
#include "endpoint.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct endpoint ep, back;
	char text[512], milter[512], tiny[6];
	const char *why = NULL;
	char *in;

	if (size > 1024)
		return 0;
	in = fuzz_str(data, size);
	if (endpoint_parse(in, &ep, &why) == 0) {
		if (ep.kind == ENDPOINT_INET)
			FUZZ_ASSERT(ep.host[0] != '\0' && ep.port[0] != '\0');
		else
			FUZZ_ASSERT(ep.path[0] != '\0');
		if (endpoint_format(&ep, text, sizeof(text)) == 0) {
			FUZZ_ASSERT(endpoint_parse(text, &back, &why) == 0);
			FUZZ_ASSERT(back.kind == ep.kind);
			FUZZ_ASSERT(strcmp(back.path, ep.path) == 0 && strcmp(back.host, ep.host) == 0
				    && strcmp(back.port, ep.port) == 0);
		}
		if (endpoint_to_milter(&ep, milter, sizeof(milter)) == 0)
			FUZZ_ASSERT(strlen(milter) < sizeof(milter));
		(void)endpoint_to_milter(&ep, tiny, sizeof(tiny));
		(void)endpoint_format(&ep, tiny, sizeof(tiny));
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	free(in);
	return 0;
}
