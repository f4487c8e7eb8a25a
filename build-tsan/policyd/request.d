build-tsan/policyd/request.o: policyd/request.c policyd/request.h
policyd/request.h:
