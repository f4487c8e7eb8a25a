build-tsan/common/patterns.o: common/patterns.c common/log.h \
 common/patterns.h common/address.h common/network.h
common/log.h:
common/patterns.h:
common/address.h:
common/network.h:
