build-tsan/common/redis.o: common/redis.c common/redis.h
common/redis.h:
