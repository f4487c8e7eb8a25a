build-tsan/common/endpoint.o: common/endpoint.c common/endpoint.h
common/endpoint.h:
