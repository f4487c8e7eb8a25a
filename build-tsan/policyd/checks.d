build-tsan/policyd/checks.o: policyd/checks.c policyd/check.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 common/lists.h common/patterns.h common/address.h common/log.h \
 common/redis.h policyd/request.h policyd/triplet.h common/address.h \
 common/spf.h
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
