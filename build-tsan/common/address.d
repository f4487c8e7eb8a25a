build-tsan/common/address.o: common/address.c common/address.h
common/address.h:
