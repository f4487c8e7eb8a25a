build-tsan/milter/milter.o: milter/milter.c common/endpoint.h \
 common/log.h milter/milter.h common/config.h common/endpoint.h \
 common/network.h common/redis.h milter/module.h common/address.h
common/endpoint.h:
common/log.h:
milter/milter.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
milter/module.h:
common/address.h:
