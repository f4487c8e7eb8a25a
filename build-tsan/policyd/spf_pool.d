build-tsan/policyd/spf_pool.o: policyd/spf_pool.c common/log.h \
 policyd/spf_pool.h common/address.h common/spf.h
common/log.h:
policyd/spf_pool.h:
common/address.h:
common/spf.h:
