build-tsan/milter/dkim_keys.o: milter/dkim_keys.c milter/dkim_keys.h \
 common/config.h common/endpoint.h common/network.h common/redis.h
milter/dkim_keys.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
