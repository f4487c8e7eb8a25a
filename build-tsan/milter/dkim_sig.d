build-tsan/milter/dkim_sig.o: milter/dkim_sig.c milter/dkim_sig.h \
 milter/dkim_canon.h common/config.h common/endpoint.h common/network.h \
 common/redis.h milter/dkim_keys.h
milter/dkim_sig.h:
milter/dkim_canon.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
milter/dkim_keys.h:
