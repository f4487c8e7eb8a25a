build-tsan/common/daemon.o: common/daemon.c common/daemon.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 common/version.h
common/daemon.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/version.h:
