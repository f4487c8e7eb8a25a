build-tsan/common/list_cache.o: common/list_cache.c common/list_cache.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 common/lists.h common/patterns.h common/address.h common/log.h
common/list_cache.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/lists.h:
common/patterns.h:
common/address.h:
common/log.h:
