build-tsan/common/spf.o: common/spf.c common/spf.h
common/spf.h:
