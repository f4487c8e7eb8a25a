build-tsan/policyd/check_greylist.o: policyd/check_greylist.c \
 policyd/check.h common/config.h common/endpoint.h common/network.h \
 common/redis.h common/lists.h common/patterns.h common/address.h \
 common/log.h common/redis.h policyd/request.h policyd/triplet.h \
 common/address.h common/spf.h common/config_read.h common/config.h \
 common/patterns.h
policyd/check.h:
common/config.h:
common/endpoint.h:
common/network.h:
common/redis.h:
common/lists.h:
common/patterns.h:
common/address.h:
common/log.h:
common/redis.h:
policyd/request.h:
policyd/triplet.h:
common/address.h:
common/spf.h:
common/config_read.h:
common/config.h:
common/patterns.h:
