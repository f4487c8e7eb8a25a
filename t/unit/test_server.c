/* test_server.c - how many connections a file limit leaves room for
 * (server_connections_fit, policyd/server.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "server.h"

#define OTHER(workers) ((workers) * SERVER_FDS_PER_WORKER + SERVER_FDS_RESERVED)

static void
test_fit(void **state)
{
	(void)state;
	/* Enough: what was asked for. */
	assert_int_equal(server_connections_fit(1048576, 4, 4096), 4096);
	assert_int_equal(server_connections_fit(4096 + OTHER(4), 4, 4096), 4096);
	/* One descriptor short: one connection fewer. */
	assert_int_equal(server_connections_fit(4096 + OTHER(4) - 1, 4, 4096), 4095);
	/* The common default soft limit of 1024. */
	assert_int_equal(server_connections_fit(1024, 4, 4096), 1024 - OTHER(4));
	/* 192 with 4 workers: what t_policyd_limits.sh expects. */
	assert_int_equal(server_connections_fit(192, 4, 4096), 64);
	/* More workers need more of the limit. */
	assert_int_equal(server_connections_fit(1024, 64, 4096), 1024 - OTHER(64));
	/* Nothing left: still one, never zero or negative. */
	assert_int_equal(server_connections_fit(OTHER(4), 4, 4096), 1);
	assert_int_equal(server_connections_fit(16, 4, 4096), 1);
	assert_int_equal(server_connections_fit(0, 4, 4096), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit),
	};

	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
