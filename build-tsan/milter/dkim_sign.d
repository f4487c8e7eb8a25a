build-tsan/milter/dkim_sign.o: milter/dkim_sign.c milter/dkim_canon.h \
 common/config.h common/endpoint.h common/network.h common/redis.h \
 milter/dkim_keys.h milter/dkim_parse.h milter/dkim_sig.h \
 milter/dkim_sign.h milter/module.h common/address.h common/log.h
milter/dkim_canon.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
milter/dkim_keys.h:
milter/dkim_parse.h:
milter/dkim_sig.h:
milter/dkim_sign.h:
milter/module.h:
common/address.h:
common/log.h:
