# sluice - mail-gateway suite for Postfix.
#
#   make            build sluice-milter, sluice-policyd, sluice-keygen
#   make check      install missing Debian packages, build, run all tests
#   make asan       the same tests with AddressSanitizer and UBSan
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make fuzz-long  the same, one hour each (t/fuzz/README)
#   make demo       a private Postfix with both daemons, one message per feature
#   make man-lint   mandoc -Tlint on man/ and sluice.conf(5) against etc/sluice.conf
#   make install    PREFIX (default /usr/local) and DESTDIR are honoured
#   make deb        the Debian package, built in a copy of the tree

PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# systemd looks here too (/usr/local/lib/systemd/system for the default
# PREFIX); the Debian package passes /lib/systemd/system.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR  ?=
BUILD    ?= build

CC       ?= cc
OPT      ?= -O2 -g
WARN     := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
            -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wno-format-nonliteral -Wvla -Wcast-qual -Wundef
SANITIZE ?=
CPPFLAGS += -D_GNU_SOURCE -Icommon -DSRCDIR=\"$(CURDIR)\"
CFLAGS   += $(OPT) $(WARN) $(SANITIZE) -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDFLAGS  += $(SANITIZE) -Wl,-z,relro,-z,now

PKG_CFLAGS := $(shell pkg-config --cflags hiredis libconfig 2>/dev/null)
CPPFLAGS += $(PKG_CFLAGS)
LIBS_COMMON := -lhiredis -lconfig -lspf2 -lpcre2-8 -lcares
LIBS_LDAP := -lldap
LIBS_MILTER := -lmilter -lunbound -lpsl -lidn2 -lpthread
LIBS_CRYPTO := -lcrypto
LIBS_OPENDKIM := -lopendkim

COMMON_SRC := $(wildcard common/*.c)
POLICYD_SRC := $(wildcard policyd/*.c)
MILTER_SRC := $(wildcard milter/*.c)
CTL_SRC := $(wildcard ctl/*.c)
UNIT_SRC := $(wildcard t/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
POLICYD_OBJ := $(POLICYD_SRC:%.c=$(BUILD)/%.o)
MILTER_OBJ := $(MILTER_SRC:%.c=$(BUILD)/%.o)
CTL_OBJ := $(CTL_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/%)

PROGS := $(BUILD)/sluice-policyd $(BUILD)/sluice-milter $(BUILD)/sluice-keygen $(BUILD)/sluice-ctl

.PHONY: all deps check unit integration asan demo demo-stop install clean man-lint deb
.PHONY: bench-dkim bench-greylist bench-mixed bench-lists-lookup bench-lists
.PHONY: bench-policyd-cpu
.PHONY: bench-access
.PHONY: bench-rcptval
.PHONY: bench-rules
.PHONY: bench-dkim-verify
.PHONY: bench-dnsbl
.PHONY: bench-regex-mdwe
.PHONY: bench-auth bench-roundtrips
.PHONY: bench-alias-lists
.PHONY: bench-metrics
.PHONY: soak soak-valgrind
.PHONY: fuzz fuzz-long fuzz-build fuzz-merge

all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libsluice.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/sluice-policyd: $(POLICYD_OBJ) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_LDAP) $(LIBS_COMMON)

$(BUILD)/sluice-milter: $(MILTER_OBJ) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_MILTER) $(LIBS_CRYPTO) $(LIBS_COMMON)

# sluice-keygen --check reads keys with the milter's own key checks.
$(BUILD)/tools/sluice-keygen.o: CPPFLAGS += -Imilter
$(BUILD)/sluice-keygen: $(BUILD)/tools/sluice-keygen.o $(BUILD)/milter/dkim_keys.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CRYPTO) $(LIBS_COMMON) -lresolv

# Unit tests link the whole common library plus the pure modules of the
# daemons they test (policyd's request parser, milter's DKIM code, ...).
# The DKIM differential test also links libopendkim, the reference.
$(BUILD)/t/unit/%.o: CPPFLAGS += -Ipolicyd -Imilter
UNIT_EXTRA := $(filter-out $(BUILD)/policyd/main.o,$(POLICYD_OBJ)) \
	      $(filter-out $(BUILD)/milter/main.o,$(MILTER_OBJ))

# sluice-ctl explains decisions with the daemons' own checks and modules:
# it links their objects (all but each main.c), as the unit tests do, but
# not milter/reinject.o: explain records a re-injection, never sends one
# (ctl/explain_milter.c defines reinject_send()).
$(BUILD)/ctl/%.o: CPPFLAGS += -Ipolicyd -Imilter
$(BUILD)/sluice-ctl: $(CTL_OBJ) $(filter-out $(BUILD)/milter/reinject.o,$(UNIT_EXTRA)) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_LDAP) $(LIBS_MILTER) $(LIBS_CRYPTO) $(LIBS_COMMON)

# test_postconf checks sluice-ctl's pure generator of Postfix lines.
$(BUILD)/t/test_postconf: $(BUILD)/ctl/postconf_gen.o

$(BUILD)/t/%: $(BUILD)/t/unit/%.o $(UNIT_EXTRA) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS_LDAP) $(LIBS_OPENDKIM) -lopendmarc $(LIBS_MILTER) $(LIBS_CRYPTO) $(LIBS_COMMON)

# bench-dkim: DKIM signing microbenchmark next to `openssl speed`, and
# Postfix's accept rate with no milter, a do-nothing milter, opendkim and
# sluice-milter (bench/bench-dkim.sh; results in bench/RESULTS-dkim.md).
$(BUILD)/bench/%.o: CPPFLAGS += -Imilter
$(BUILD)/bench/dkim-sign-bench: $(BUILD)/bench/dkim-sign-bench.o $(BUILD)/milter/dkim_sig.o \
		$(BUILD)/milter/dkim_canon.o $(BUILD)/milter/dkim_keys.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CRYPTO)
# bench-dkim-verify: CPU per signature of the DKIM verifier next to the
# bare key decode + public-key operation (bench/dkim-verify-bench.c).
$(BUILD)/bench/dkim-verify-bench: $(BUILD)/bench/dkim-verify-bench.o $(BUILD)/milter/dkim_verify.o \
		$(BUILD)/milter/dkim_vsig.o $(BUILD)/milter/dkim_tags.o $(BUILD)/milter/dkim_keysrc.o \
		$(BUILD)/milter/dkim_resinfo.o $(BUILD)/milter/dkim_sig.o $(BUILD)/milter/dkim_canon.o \
		$(BUILD)/milter/dkim_pkey_cache.o \
		$(BUILD)/milter/dkim_keys.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CRYPTO)
bench-dkim-verify: $(BUILD)/bench/dkim-verify-bench
	@$(BUILD)/bench/dkim-verify-bench
$(BUILD)/bench/nullmilter: $(BUILD)/bench/nullmilter.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_MILTER)
bench-dkim: deps all $(BUILD)/bench/dkim-sign-bench $(BUILD)/bench/nullmilter
	@bash bench/bench-dkim.sh $(BUILD)

# bench-auth: inbound verification, sluice-milter (SPF, DKIM, DMARC, A-R)
# against opendkim + opendmarc and the do-nothing milter (bench/bench-auth.sh).
bench-auth: deps all $(BUILD)/bench/nullmilter
	@bash bench/bench-auth.sh $(BUILD)
# bench-roundtrips: milter commands and replies of one inbound message
bench-roundtrips: deps all
	@bash bench/milter-roundtrips.sh $(BUILD)

# bench-alias-lists: issue 11's target, DKIM-signing accept rate with
# 10,000 aliases, forbidden mailboxes and CIDRs loaded vs empty lists.
bench-alias-lists: deps all
	@bash bench/bench-alias-lists.sh $(BUILD)

deps:
	@sh tools/deps.sh

unit: $(UNIT_BIN)
	@sh t/run-unit.sh $(BUILD) $(UNIT_BIN)

integration: $(PROGS)
	@bash t/run-integration.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) fuzz-build
	@bash t/run-all.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    all build-asan-unit
	@$(MAKE) --no-print-directory fuzz-build
	@SLUICE_ASAN=1 bash t/run-all.sh build-asan

build-asan-unit: $(UNIT_BIN)

demo: deps all
	@bash tools/demo.sh start $(BUILD)

demo-stop:
	@bash tools/demo.sh stop $(BUILD)

# The manual pages: lint, settings of sluice.conf(5) against etc/sluice.conf,
# options against the programs' usage (t/integration/t_manpages.sh).
man-lint: all
	@SLUICE_BUILD=$(abspath $(BUILD)) bash t/integration/t_manpages.sh

# Greylisting benchmark: sluice-policyd against postgrey, same load
# (bench/README). ROUNDS= and DURATION= (seconds) shorten or lengthen it.
$(BUILD)/bench/policy-load: $(BUILD)/bench/policy-load.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread
$(BUILD)/bench/policy-floor: $(BUILD)/bench/policy-floor.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

# The cost of one lookup in the list cache, next to a lookup per message
# in Redis (bench/lists-lookup.c); REDIS_SOCKET names a Redis that holds
# the lists (bench/lists-bench.sh loads one).
$(BUILD)/bench/lists-lookup: $(BUILD)/bench/lists-lookup.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COMMON) -lpthread
# bench-rcptval: recipient validation's isolation target (a silent
# internal server costs other requests nothing; bench/rcptval-isolation.sh).
bench-rcptval: deps $(BUILD)/sluice-policyd
	@bash bench/rcptval-isolation.sh $(BUILD)

bench-lists-lookup: $(BUILD)/bench/lists-lookup
	@$(BUILD)/bench/lists-lookup $(REDIS_SOCKET)

# What the access decisions cost per request (bench/access-decide.c).
$(BUILD)/bench/access-decide: $(BUILD)/bench/access-decide.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COMMON) -lpthread
bench-access: $(BUILD)/bench/access-decide
	@$(BUILD)/bench/access-decide

# bench-metrics: CPU per counter add, histogram observation and policyd's
# decision hook, and per scrape (bench/metrics-bench.c).
$(BUILD)/bench/metrics-bench: $(BUILD)/bench/metrics-bench.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COMMON) -lpthread
bench-metrics: $(BUILD)/bench/metrics-bench
	@$(BUILD)/bench/metrics-bench $(ROUNDS)

bench-greylist: deps $(BUILD)/sluice-policyd $(BUILD)/bench/policy-load
	@bash bench/greylist-vs-postgrey.sh $(BUILD); rc=$$?; \
	bash bench/mixed-workload.sh $(BUILD) || rc=$$?; exit $$rc

# Greylisting alone vs the mixed workload (bench/mixed.d), and the memory
# of a burst of distinct rate-limit subjects (bench/README).
bench-mixed: deps $(BUILD)/sluice-policyd $(BUILD)/bench/policy-load $(BUILD)/bench/policy-floor
	@bash bench/mixed-workload.sh $(BUILD)

# Lists at scale: the policy load with the Redis lists empty and with
# 100,000-entry lists, Redis idle CPU, propagation of a change to two
# daemons, 1,000,000 CIDRs loaded under load (bench/README).
$(BUILD)/bench/policy-probe: $(BUILD)/bench/policy-probe.o
	$(CC) $(LDFLAGS) -o $@ $^

bench-rules: deps all
	@bash bench/rules-bench.sh $(BUILD)

bench-lists: deps $(BUILD)/sluice-policyd $(BUILD)/bench/policy-load $(BUILD)/bench/policy-probe
	@bash bench/lists-bench.sh $(BUILD)

# bench-policyd-cpu: sluice-policyd's CPU per greylisting decision, this
# tree against commit OLD (default 1fbcdbe, built in build-old/), rounds
# interleaved in one run (bench/policyd-cpu.sh).
OLD ?= 1fbcdbe
bench-policyd-cpu: deps $(BUILD)/sluice-policyd $(BUILD)/bench/policy-load $(BUILD)/bench/policy-floor
	@rm -rf build-old && git worktree prune && git worktree add -f --detach build-old/src $(OLD) >/dev/null
	@$(MAKE) -s -C build-old/src BUILD=build build/sluice-policyd >/dev/null
	@bash bench/policyd-cpu.sh build-old/src/build $(BUILD); \
	 rc=$$?; git worktree remove --force build-old/src; rm -rf build-old; exit $$rc

# bench-regex-mdwe: the lists' regexes with PCRE2's JIT and under the
# units' MemoryDenyWriteExecute=yes (interpreter), bench/regex-mdwe.c.
$(BUILD)/bench/regex-mdwe: $(BUILD)/bench/regex-mdwe.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COMMON) -lpthread
bench-regex-mdwe: $(BUILD)/bench/regex-mdwe
	@$(BUILD)/bench/regex-mdwe

# bench-dnsbl: latency of cached requests while a DNSBL zone never answers
bench-dnsbl: deps $(BUILD)/sluice-policyd
	@bash bench/dnsbl-isolation.sh $(BUILD)

# The soak of issue 13 (t/soak.sh): SOAK_MINUTES (30) at half the maximum
# rate with every feature on; RSS, descriptors and Redis keys must hold.
# soak-valgrind: a shorter run with both daemons under valgrind.
soak: deps all
	@bash t/soak.sh $(BUILD)
soak-valgrind: deps all
	@SOAK_VALGRIND=1 SOAK_MINUTES=$${SOAK_MINUTES:-6} SOAK_SAMPLE=$${SOAK_SAMPLE:-15} bash t/soak.sh $(BUILD)
# Fuzzing (t/fuzz/README): one libFuzzer target per parser that sees the
# network or an admin's text, t/fuzz/fuzz_NAME.c, built with clang and
# ASan + UBSan into build-fuzz/, apart from the normal build. The parsers'
# sources are compiled again there with the same sanitizers and
# -fsanitize=fuzzer-no-link (coverage), archived, and each target links
# what it needs out of the archives. `make check` runs every target over
# its corpus once (t/run-fuzz.sh); `make fuzz` fuzzes each for
# FUZZ_SECONDS, new inputs into build-fuzz/new/NAME (scratch, never
# committed); `make fuzz-merge` adds the ones that add coverage to
# t/fuzz/corpus/NAME (-merge=1: a minimised set).
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CPPFLAGS := -D_GNU_SOURCE -Icommon -Ipolicyd -Imilter -It/fuzz -DSRCDIR=\"$(CURDIR)\" $(PKG_CFLAGS)
FUZZ_SRC := $(wildcard t/fuzz/fuzz_*.c)
FUZZ_TARGETS := $(FUZZ_SRC:t/fuzz/fuzz_%.c=%)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# The parsers and what they call: all of common/, and the pure modules
# of the daemons the targets drive (no libmilter, no event loop).
FUZZ_LIB_SRC := $(COMMON_SRC) policyd/request.c policyd/triplet.c \
	policyd/rcpt_smtp.c policyd/rcpt_ldap.c policyd/rcpt_backend.c policyd/job_pool.c \
	milter/dns.c milter/dns_cache.c \
	milter/dkim_canon.c milter/dkim_parse.c milter/dkim_tags.c milter/dkim_vsig.c \
	milter/dkim_verify.c milter/dkim_resinfo.c milter/dkim_keysrc.c milter/dkim_sig.c \
	milter/dkim_keys.c milter/dkim_pkey_cache.c milter/authres.c milter/dmarc.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIBS := $(LIBS_LDAP) $(LIBS_COMMON) $(LIBS_CRYPTO) -lunbound -lpsl -lidn2 -lpthread

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libsluice-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/t/fuzz/fuzz_%.o $(FUZZ_BUILD)/libsluice-fuzz.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
fuzz-build: $(FUZZ_BIN)

fuzz: deps fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) bash t/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=3600

fuzz-merge: fuzz-build
	@bash t/fuzz/merge.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(SYSCONFDIR)/sluice
	test -e $(DESTDIR)$(SYSCONFDIR)/sluice/sluice.conf || \
	    install -m 0644 etc/sluice.conf $(DESTDIR)$(SYSCONFDIR)/sluice/sluice.conf
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in contrib/systemd/*.service; do \
	    sed 's|/usr/sbin/|$(SBINDIR)/|' $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; \
	done

# deb: dpkg-buildpackage -us -uc -b in a copy of this tree (its clean step
# is make clean, which must not take build/ from the tests), so that the
# package is built from exactly the files here; DEB_BUILD_OPTIONS is
# passed on (nocheck skips the unit tests). Prints the .deb's path.
DEB_DIR := $(BUILD)/deb
deb:
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	@tar --exclude='./build*' --exclude=./.git -cf - . | tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b -J2
	@cd $(DEB_DIR) && ls "$$PWD"/sluice_*.deb

clean:
	rm -rf build build-asan build-fuzz

-include $(COMMON_OBJ:.o=.d) $(POLICYD_OBJ:.o=.d) $(MILTER_OBJ:.o=.d) $(CTL_OBJ:.o=.d) $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/unit/%.d) \
	$(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/obj/%.d)
