build-tsan/common/network.o: common/network.c common/network.h
common/network.h:
