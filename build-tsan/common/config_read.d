build-tsan/common/config_read.o: common/config_read.c common/address.h \
 common/config_read.h common/config.h common/endpoint.h common/network.h \
 common/redis.h common/patterns.h
common/address.h:
common/config_read.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/patterns.h:
