build-tsan/common/config_policyd.o: common/config_policyd.c \
 common/config_read.h common/config.h common/endpoint.h common/network.h \
 common/redis.h common/patterns.h common/address.h
common/config_read.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/patterns.h:
common/address.h:
