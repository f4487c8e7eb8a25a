build-tsan/milter/modules.o: milter/modules.c milter/dkim_sign.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 milter/module.h common/address.h common/log.h
milter/dkim_sign.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
milter/module.h:
common/address.h:
common/log.h:
