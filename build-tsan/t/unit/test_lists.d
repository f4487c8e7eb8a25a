build-tsan/t/unit/test_lists.o: t/unit/test_lists.c common/list_cache.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 common/lists.h common/patterns.h common/address.h common/lists.h
common/list_cache.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/lists.h:
common/patterns.h:
common/address.h:
common/lists.h:
