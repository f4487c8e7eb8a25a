build-tsan/common/config.o: common/config.c common/config.h \
 common/endpoint.h common/network.h common/redis.h common/config_read.h
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/config_read.h:
