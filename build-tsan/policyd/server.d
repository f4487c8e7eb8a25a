build-tsan/policyd/server.o: policyd/server.c policyd/check.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 common/lists.h common/patterns.h common/address.h common/log.h \
 common/redis.h policyd/request.h policyd/triplet.h common/address.h \
 common/spf.h common/daemon.h common/config.h common/list_cache.h \
 common/lists.h policyd/server.h policyd/spf_pool.h policyd/worker.h
policyd/check.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/lists.h:
common/patterns.h:
common/address.h:
common/log.h:
common/redis.h:
policyd/request.h:
policyd/triplet.h:
common/address.h:
common/spf.h:
common/daemon.h:
common/config.h:
common/list_cache.h:
common/lists.h:
policyd/server.h:
policyd/spf_pool.h:
policyd/worker.h:
