# ipcrig: the one entry point. `make` builds, `make check` runs every test
# suite, `make run` runs the main job, `make bench` the benchmarks.
# Variants: SANITIZE=address,undefined or SANITIZE=thread (own build dir).

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
V        ?= 0

comma := ,
BUILD ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

Q  = $(if $(filter 1,$(V)),,@)
say = $(if $(filter 1,$(V)),,@printf '  %-7s %s\n' $(1) $(2);)

SAN_FLAGS = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CFLAGS   ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wno-missing-field-initializers -fPIC -pthread -MMD -MP $(SAN_FLAGS) \
             -Iipc/include -I$(BUILD)/gen $(CFLAGS)
LDFLAGS_ALL = -pthread $(SAN_FLAGS) $(LDFLAGS)
# Recursive on purpose: pkg-config runs after `deps` has installed the packages.
LIBS_IPC  = $(shell pkg-config --libs libevent_pthreads libprotobuf-c libseccomp) -lrt
LIBS_CHECK = $(shell pkg-config --libs check)

# ---- sources (discovered: adding a file needs no edit here) ----
PROTOS      := $(wildcard ipc/proto/*.proto)
PROTO_C     := $(patsubst ipc/proto/%.proto,$(BUILD)/gen/ipc/proto/%.pb-c.c,$(PROTOS))
PROTO_H     := $(PROTO_C:.c=.h)
IPC_SRCS    := $(wildcard ipc/*.c)
IPC_OBJS    := $(patsubst %.c,$(BUILD)/%.o,$(IPC_SRCS)) $(PROTO_C:.c=.o)
LIBIPC      := $(BUILD)/libipc.a

# Every directory under harness/ is one program named after it.
PROG_DIRS   := $(patsubst %/,%,$(sort $(dir $(wildcard harness/*/*.c))))
PROGS       := $(foreach d,$(PROG_DIRS),$(BUILD)/bin/$(notdir $(d)))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TESTLIB_SRCS:= $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
TESTLIB_OBJS:= $(patsubst %.c,$(BUILD)/%.o,$(TESTLIB_SRCS))
BENCH_SRCS  := $(wildcard bench/*.c)
BENCHES     := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
DEPS_STAMP  := $(BUILD)/.deps-ok
# Objects of program $(1); a function so `%` is not taken for a pattern stem.
prog_objs    = $(patsubst %.c,$(BUILD)/%.o,$(wildcard harness/$(1)/*.c))

.PHONY: all deps check unit e2e run bench clean install format
.DEFAULT_GOAL := all

all: $(LIBIPC) $(PROGS) $(UNIT_TESTS)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): ci/install-deps.sh
	$(Q)bash ci/install-deps.sh
	$(Q)mkdir -p $(@D) && touch $@

$(BUILD)/gen/ipc/proto/%.pb-c.c $(BUILD)/gen/ipc/proto/%.pb-c.h: ipc/proto/%.proto | $(DEPS_STAMP)
	$(call say,PROTOC,$<)mkdir -p $(BUILD)/gen && protoc-c --c_out=$(BUILD)/gen $<

$(BUILD)/%.o: %.c | $(DEPS_STAMP) $(PROTO_H)
	$(call say,CC,$<)mkdir -p $(@D) && $(CC) $(CFLAGS_ALL) -c $< -o $@

# protoc-c output is not ours to make -Wextra clean.
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c | $(DEPS_STAMP)
	$(call say,CC,$<)mkdir -p $(@D) && $(CC) $(filter-out -Werror -Wextra,$(CFLAGS_ALL)) -c $< -o $@

$(LIBIPC): $(IPC_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/bin/%: $$(call prog_objs,$$*) $(LIBIPC)
	$(call say,LD,$@)mkdir -p $(@D) && $(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_IPC) -lm

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TESTLIB_OBJS) $(LIBIPC)
	$(call say,LD,$@)mkdir -p $(@D) && $(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_IPC) $(LIBS_CHECK) -lm

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBIPC)
	$(call say,LD,$@)mkdir -p $(@D) && $(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_IPC) -lzmq -lnng -lm

# ---- tests ----
check: all
	$(Q)BUILD=$(BUILD) bash tests/run-all.sh

unit: all
	$(Q)BUILD=$(BUILD) bash tests/run-all.sh unit

e2e: all
	$(Q)BUILD=$(BUILD) bash tests/run-all.sh e2e

# ---- the main job ----
run: all
	$(Q)BUILD=$(BUILD) bash ci/run-main.sh

bench: $(DEPS_STAMP)
	$(Q)bash ci/install-deps.sh --bench
	$(Q)$(MAKE) --no-print-directory $(BENCHES)
	$(Q)for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/ipc/protocols \
	    $(DESTDIR)$(PREFIX)/include/ipc/proto $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIBIPC) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 ipc/include/ipc/*.h $(DESTDIR)$(PREFIX)/include/ipc/
	install -m 644 ipc/include/ipc/protocols/*.h $(DESTDIR)$(PREFIX)/include/ipc/protocols/
	install -m 644 $(PROTO_H) $(DESTDIR)$(PREFIX)/include/ipc/proto/
	sed -e 's|@PREFIX@|$(PREFIX)|g' ipc/libipc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libipc.pc
	$(if $(PROGS),install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
