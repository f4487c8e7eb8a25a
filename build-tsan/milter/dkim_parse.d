build-tsan/milter/dkim_parse.o: milter/dkim_parse.c milter/dkim_parse.h
milter/dkim_parse.h:
