build-tsan/milter/dkim_canon.o: milter/dkim_canon.c milter/dkim_canon.h \
 common/config.h common/endpoint.h common/network.h common/redis.h
milter/dkim_canon.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
