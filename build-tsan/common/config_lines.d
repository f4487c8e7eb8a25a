build-tsan/common/config_lines.o: common/config_lines.c \
 common/config_read.h common/config.h common/endpoint.h common/network.h \
 common/redis.h
common/config_read.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
