build-tsan/common/lists.o: common/lists.c common/lists.h \
 common/patterns.h common/address.h common/network.h common/redis.h \
 common/log.h
common/lists.h:
common/patterns.h:
common/address.h:
common/network.h:
common/redis.h:
common/log.h:
