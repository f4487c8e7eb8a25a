build-tsan/policyd/triplet.o: policyd/triplet.c common/network.h \
 policyd/triplet.h common/address.h
common/network.h:
policyd/triplet.h:
common/address.h:
