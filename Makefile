# t5pt — GNU Makefile.
#
#   make              library (build/libt5pt.a, build/libt5pt.so) and the command build/t5pt
#   make test         every Check suite (all native SIMD paths for the golden suites)
#   make asan         the test suite under -fsanitize=address,undefined (build-asan/)
#   make fuzz-replay  every fuzz harness over its committed corpus (part of make test)
#   make test-clang   the test suite built with clang (build-clang/)
#   make test-avx512-emulated  kernel, GEMM and golden suites on the AVX-512 path built through SIMDe
#                     (build-avx512-emu/; needs libsimde-dev)
#   make test-emulated  under qemu: an AVX2-only x86-64 CPU and AArch64 NEON (cross-built in
#                     build-arm64/); needs qemu-user, gcc-aarch64-linux-gnu and check:arm64
#   make test-arm-bf16  the bf16 GEMM and bf16 precision suites under qemu-aarch64 with (-cpu max) and without (cortex-a57)
#                     ARM BF16 (part of test-emulated)
#   make install      the command, libt5pt.a, libt5pt.so, t5pt.h, t5pt.pc and the T5 tokenizer
#                     (PREFIX=/usr/local, DESTDIR for staging); make uninstall removes them
#   make bench        GEMM / step / tokenizer benchmarks (see BENCHMARKS.md)
#   make golden       regenerate golden/ with the PyTorch reference (needs python3-torch)
#   make demo         train + eval on the shipped default task (the README's first command)
#   make docs         regenerate the numbers and figures of docs/gradient-flow.md (docs/make_docs.sh)
#   make sweep        the paper's ablations on the shipped model and task (examples/sweep.sh):
#                     writes examples/sweep/summary.md and figure.svg (README shows them)
#   make clean
#
# Options: NO_OMP=1 (no OpenMP), BUILD=dir, CC=..., CI=true or WERROR=1 (warnings are errors).
# A build directory remembers the flags it was built with (BUILD/.flags): changing CC,
# CFLAGS, NO_OMP, ... rebuilds everything instead of silently keeping the old objects.

# make's built-in default for CC is "cc"; ours is gcc (a CC from the command line or the
# environment wins).
ifeq ($(origin CC),default)
CC       = gcc
endif
BUILD   ?= build
PYTHON  ?= /usr/bin/python3

CSTD     = -std=c11
OPT     ?= -O2
WARN     = -Wall -Wextra -Wshadow
ifneq ($(filter true 1,$(CI) $(WERROR)),)
WARN    += -Werror
endif
CFLAGS  ?=
CPPFLAGS += -Iinclude -Isrc -I. -D_POSIX_C_SOURCE=200809L
DEPFLAGS = -MMD -MP
LDFLAGS ?=
LDLIBS  += -lm

# OpenMP: used when the compiler accepts -fopenmp, unless NO_OMP=1.
ifeq ($(NO_OMP),)
OMP_OK := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes)
ifeq ($(OMP_OK),yes)
OMPFLAGS = -fopenmp
endif
endif

# Per-ISA flags: only the file of that ISA is compiled with them.
MACHINE := $(shell $(CC) -dumpmachine)
ifneq ($(findstring x86_64,$(MACHINE)),)
AVX2_FLAGS   = -mavx2 -mfma -mf16c
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
AVX512BF16_EXTRA = -mavx512bf16
endif
ifneq ($(findstring aarch64,$(MACHINE)),)
NEON_FLAGS   = -march=armv8-a
# the ARM BF16 kernel only (simd/bf16_armbf16.c), called when the CPU reports HWCAP2_BF16
ARMBF16_FLAGS = -march=armv8.2-a+bf16
endif
# AVX512_SIMDE=1 (test only, `make test-avx512-emulated`): the AVX-512 kernels are built
# with the AVX2 flags against SIMDe (simd/avx512_simde.h), so an AVX2 CPU runs them.
# (-Wno-psabi: 512-bit vectors passed between static functions compiled without -mavx512f
# have no stable ABI, which is of no concern inside one object.)
ifneq ($(AVX512_SIMDE),)
AVX512_FLAGS = $(AVX2_FLAGS) -Wno-psabi
AVX512BF16_EXTRA =
CPPFLAGS    += -DT5PT_AVX512_SIMDE
endif

CHECK_LIBS ?= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm) -pthread

ALL_CFLAGS = $(CSTD) $(OPT) $(WARN) $(OMPFLAGS) $(CFLAGS) $(CPPFLAGS)

# The version is written once, in include/t5pt.h; the shared library's names follow it:
# libt5pt.so -> libt5pt.so.MAJOR (the soname) -> libt5pt.so.MAJOR.MINOR.PATCH.
version_part = $(shell sed -n 's/^\#define T5PT_VERSION_$(1) \([0-9][0-9]*\).*/\1/p' include/t5pt.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION       := $(VERSION_MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SONAME         = libt5pt.so.$(VERSION_MAJOR)

# Install locations (GNU names). DATADIR/t5pt receives assets/ (the T5 tokenizer); the
# command looks there when a model directory has no tokenizer of its own.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
T5PT_DATADIR = $(DATADIR)/t5pt

# The library is every layer below the command line (see ARCHITECTURE.md).
LIB_SRC  = $(wildcard src/base/*.c src/io/*.c src/tokenizer/*.c src/model/*.c src/train/*.c) $(wildcard simd/*.c)
CLI_SRC  = $(wildcard src/cli/*.c)
CLI_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
LIB_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
PIC_OBJ  = $(patsubst %.c,$(BUILD)/pic/%.o,$(LIB_SRC))
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_HELPER_SRC = $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_HELPER_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(TEST_HELPER_SRC))
LIB      = $(BUILD)/libt5pt.a
SHLIB    = $(BUILD)/libt5pt.so.$(VERSION)
BIN      = $(BUILD)/t5pt
FLAGS_STAMP   = $(BUILD)/.flags
DIRS_STAMP    = $(BUILD)/.install-dirs

.PHONY: all shared test test-paths fuzz-replay asan test-clang test-emulated test-avx2-emulated test-avx512-emulated test-arm test-arm-bf16 \
        install uninstall bench golden demo docs sweep clean FORCE
.DELETE_ON_ERROR:
# Objects reached only through pattern rules would otherwise be deleted as intermediates.
.SECONDARY: $(TEST_HELPER_OBJ) $(CLI_OBJ) $(LIB_OBJ) $(PIC_OBJ)

all: $(LIB) $(SHLIB) $(BIN)
shared: $(SHLIB)

# Everything that decides what the compiler produces. The stamp is rewritten only when
# this text changes, so its time stamp rebuilds every object exactly then.
FLAGS_TEXT = $(CC) $(ALL_CFLAGS) $(DEPFLAGS) | $(AVX2_FLAGS) | $(AVX512_FLAGS) $(AVX512BF16_EXTRA) | $(NEON_FLAGS) $(ARMBF16_FLAGS) | $(LDFLAGS) $(LDLIBS) | $(CHECK_LIBS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(FLAGS_TEXT)' | cmp -s - $@ || echo '$(FLAGS_TEXT)' > $@
# The install directories reach one object only (the tokenizer fallback of the command
# looks in T5PT_DATADIR) and t5pt.pc, so `make install PREFIX=...` after `make` rebuilds
# just those. `private`: the define must not leak into the prerequisites' recipes.
DIRS_TEXT = $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(T5PT_DATADIR)
$(DIRS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(DIRS_TEXT)' | cmp -s - $@ || echo '$(DIRS_TEXT)' > $@
$(BUILD)/src/cli/common.o: $(DIRS_STAMP)
$(BUILD)/src/cli/common.o: private CPPFLAGS += -DT5PT_DATADIR='"$(T5PT_DATADIR)"'

$(BUILD)/simd/avx2.o   $(BUILD)/pic/simd/avx2.o:   ISA_FLAGS = $(AVX2_FLAGS)
$(BUILD)/simd/avx512.o $(BUILD)/pic/simd/avx512.o: ISA_FLAGS = $(AVX512_FLAGS)
$(BUILD)/simd/neon.o   $(BUILD)/pic/simd/neon.o:   ISA_FLAGS = $(NEON_FLAGS)
$(BUILD)/simd/bf16_avx2.o    $(BUILD)/pic/simd/bf16_avx2.o:    ISA_FLAGS = $(AVX2_FLAGS)
$(BUILD)/simd/bf16_avx512.o  $(BUILD)/pic/simd/bf16_avx512.o:  ISA_FLAGS = $(AVX512_FLAGS) $(AVX512BF16_EXTRA)
$(BUILD)/simd/bf16_neon.o    $(BUILD)/pic/simd/bf16_neon.o:    ISA_FLAGS = $(NEON_FLAGS)
$(BUILD)/simd/bf16_armbf16.o $(BUILD)/pic/simd/bf16_armbf16.o: ISA_FLAGS = $(ARMBF16_FLAGS)

# Header dependencies are written by the compiler (-MMD -MP) next to each object.
$(BUILD)/pic/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ISA_FLAGS) -fPIC -c $< -o $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ISA_FLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The shared library exports only the t5pt_ names (libt5pt.map); the static library and
# the command use the objects built without -fPIC.
$(SHLIB): $(PIC_OBJ) libt5pt.map
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=libt5pt.map \
	  $(PIC_OBJ) -o $@ $(LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libt5pt.so

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_HELPER_OBJ) $(LIB) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(LDFLAGS) $< $(TEST_HELPER_OBJ) $(LIB) -o $@ $(CHECK_LIBS) $(LDLIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzz regression: each libFuzzer harness tests/fuzz/fuzz_<name>.c, linked with a plain
# main() (tests/fuzz/replay.c) instead of libFuzzer, replays tests/fuzz/corpus/<name>/
# (minimized corpus + crash reproducers). Fuzzing itself: tests/fuzz/run_fuzz.sh.
FUZZ_HARNESS    = $(filter-out tests/fuzz/fuzz_util.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY     = $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_HARNESS))
FUZZ_HELPER_OBJ = $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/fuzz_util.o
.SECONDARY: $(FUZZ_HELPER_OBJ)
$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c $(FUZZ_HELPER_OBJ) $(LIB) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(LDFLAGS) $< $(FUZZ_HELPER_OBJ) $(LIB) -o $@ $(LDLIBS)
fuzz-replay: $(FUZZ_REPLAY)
	@fail=0; for r in $(FUZZ_REPLAY); do \
	  echo "== $$r"; ./$$r tests/fuzz/corpus/$${r##*/replay_} || fail=1; \
	done; exit $$fail

# ------------------------------------------------------------------------------ tests
# Every suite runs from the repository root; a run fails when any suite fails.
# Check's default per-test timeout (4 s) is too tight for a loaded 2-core machine or a
# sanitizer build; the suites are timed by benchmarks, not by these limits.
# OMP_WAIT_POLICY=passive: idle OpenMP threads sleep instead of spinning. On a machine
# shared with other jobs, spinning threads steal the core the working thread needs (the
# learning test took 5x to 7x longer with libgomp's default policy, see README.md). The
# t5pt command keeps libgomp's default, which is faster on a quiet machine (simd/threads.c).
# CK_TIMEOUT_MULTIPLIER scales the per-test limits too (some suites set their own): a
# limit exists to end a hung test, and must never fail a slow one.
TEST_RUNNER ?=
export CK_DEFAULT_TIMEOUT ?= 600
test test-paths fuzz-replay test-avx2-emulated test-arm: export OMP_WAIT_POLICY ?= passive
test test-paths: export CK_TIMEOUT_MULTIPLIER ?= 10

test: $(TEST_BIN) $(BIN) $(SHLIB) $(FUZZ_REPLAY)
	@fail=0; echo "== tests/test_layers.sh"; tests/test_layers.sh $(LIB) $(SHLIB) || fail=1; \
	for t in $(TEST_BIN); do \
	  echo "== $$t"; $(TEST_RUNNER) ./$$t || fail=1; \
	done; \
	$(MAKE) --no-print-directory fuzz-replay || fail=1; \
	$(MAKE) --no-print-directory test-paths || fail=1; \
	exit $$fail

# The golden and kernel suites again on every other SIMD path this CPU has.
GOLDEN_NAMES = test_forward test_backward test_eval test_train test_teach
GOLDEN_TESTS = $(patsubst %,$(BUILD)/tests/%,$(GOLDEN_NAMES))
test-paths: $(TEST_BIN) $(BIN)
	@fail=0; for p in $$(./$(BIN) info --paths); do \
	  [ "$$p" = "$$(./$(BIN) info --path)" ] && continue; \
	  for t in $(GOLDEN_TESTS); do echo "== T5PT_SIMD=$$p $$t"; T5PT_SIMD=$$p ./$$t || fail=1; done; \
	done; exit $$fail

# Sanitizers slow the learning tests down ~10x: T5PT_TEST_SMALL=1 runs them at the smallest
# size that still learns; every golden case and every other test runs in full.
asan:
	T5PT_TEST_SMALL=1 $(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test

test-clang:
	$(MAKE) --no-print-directory CC=clang BUILD=build-clang test

test-emulated: test-avx2-emulated test-arm test-arm-bf16

# Under emulation every suite whose result can depend on the CPU runs: the kernels, GEMM,
# every golden case (forward, backward, trajectories, cached decoding), the training loop and
# the parsers (AArch64 char is unsigned). T5PT_TEST_SMALL=1 shrinks only the learning runs,
# the big GEMM shapes and the long tokenizer tables. test_cli runs native builds only.
EMU_NAMES = test_kernels test_gemm test_gemm_bf16 test_bf16 $(GOLDEN_NAMES) test_optim test_prompt test_model_load \
            test_safetensors test_json test_data test_tokenizer
EMU_ENV   = T5PT_TEST_SMALL=1 CK_TIMEOUT_MULTIPLIER=20

# An AVX2-only x86-64 CPU (qemu's "max" model has no AVX-512): checks dispatch and
# that no AVX-512 instruction leaks outside simd/avx512.c, over the kernels and every
# golden case. The training loop is left out: test-paths already trains on the avx2 path
# natively, and under this emulation one of its resume tests alone took over 3 minutes.
AVX2_EMU_NAMES = test_kernels test_gemm test_gemm_bf16 test_bf16 test_forward test_backward test_eval
test-avx2-emulated: $(TEST_BIN) $(BIN)
	@fail=0; for t in $(patsubst %,$(BUILD)/tests/%,$(AVX2_EMU_NAMES)); do \
	  echo "== qemu-x86_64 -cpu max $$t"; \
	  $(EMU_ENV) timeout 1200 qemu-x86_64 -cpu max ./$$t || fail=1; \
	done; exit $$fail

# AVX-512 on a CPU without it: the library and the suites built with AVX512_SIMDE=1 (the
# AVX-512 kernels through SIMDe), then the kernel, GEMM and golden suites on that path.
AVX512_EMU_BUILD = build-avx512-emu
AVX512_EMU_TESTS = $(addprefix $(AVX512_EMU_BUILD)/tests/,test_kernels test_gemm test_gemm_bf16 test_bf16 test_forward test_backward test_eval test_train)
test-avx512-emulated:
	$(MAKE) --no-print-directory BUILD=$(AVX512_EMU_BUILD) AVX512_SIMDE=1 $(AVX512_EMU_TESTS)
	@fail=0; for t in $(AVX512_EMU_TESTS); do \
	  echo "== T5PT_SIMD=avx512 (SIMDe) $$t"; T5PT_SIMD=avx512 ./$$t || fail=1; \
	done; exit $$fail

# AArch64 NEON: cross-compiled, statically linked, run under qemu-aarch64. The bf16
# learning run of test_train (tag bf16-learning) is left out here: qemu emulates each BF16
# instruction in software (5.4 minutes for that one test); test-arm-bf16 checks the ARM
# BF16 numerics against golden/bf16, and `make test` runs the bf16 learning natively.
ARM_CC ?= aarch64-linux-gnu-gcc
ARM_TESTS = $(patsubst %,build-arm64/tests/%,$(EMU_NAMES))
test-arm:
	$(MAKE) --no-print-directory BUILD=build-arm64 CC=$(ARM_CC) LDFLAGS=-static \
	  CHECK_LIBS="-lcheck -lsubunit -lrt -lm -pthread" $(ARM_TESTS)
	@fail=0; for t in $(ARM_TESTS); do \
	  echo "== qemu-aarch64 $$t"; \
	  $(EMU_ENV) CK_EXCLUDE_TAGS=bf16-learning timeout 1200 qemu-aarch64 ./$$t || fail=1; \
	done; exit $$fail

# The bf16 GEMM and the bf16 precision (test_bf16: golden/bf16) on both kinds of ARM CPU:
# qemu's "max" has BF16 (the bfdot kernel runs next to the NEON emulation), cortex-a57 has
# not (only the emulation is offered).
ARM_BF16_TESTS = build-arm64/tests/test_gemm_bf16 build-arm64/tests/test_bf16
test-arm-bf16: export OMP_WAIT_POLICY ?= passive
test-arm-bf16:
	$(MAKE) --no-print-directory BUILD=build-arm64 CC=$(ARM_CC) LDFLAGS=-static \
	  CHECK_LIBS="-lcheck -lsubunit -lrt -lm -pthread" $(ARM_BF16_TESTS)
	@fail=0; for cpu in max cortex-a57; do for t in $(ARM_BF16_TESTS); do \
	  echo "== qemu-aarch64 -cpu $$cpu $$t"; \
	  $(EMU_ENV) timeout 1200 qemu-aarch64 -cpu $$cpu ./$$t || fail=1; \
	done; done; exit $$fail

# ------------------------------------------------------------------------------ install
# DESTDIR stages the tree (packaging); PREFIX is where it will live and is what the
# command and t5pt.pc record.
$(BUILD)/t5pt.pc: t5pt.pc.in include/t5pt.h $(FLAGS_STAMP) $(DIRS_STAMP)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@DATADIR@|$(T5PT_DATADIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(OMPFLAGS) $(LDLIBS))|' $< > $@

install: $(LIB) $(SHLIB) $(BIN) $(BUILD)/t5pt.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(T5PT_DATADIR)/t5
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/t5pt
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libt5pt.a
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libt5pt.so.$(VERSION)
	ln -sf libt5pt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libt5pt.so
	install -m 644 include/t5pt.h $(DESTDIR)$(INCLUDEDIR)/t5pt.h
	install -m 644 $(BUILD)/t5pt.pc $(DESTDIR)$(PKGCONFIGDIR)/t5pt.pc
	install -m 644 assets/t5/spiece.model assets/t5/tokenizer.json assets/t5/SOURCES.md \
	  $(DESTDIR)$(T5PT_DATADIR)/t5/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/t5pt $(DESTDIR)$(LIBDIR)/libt5pt.a $(DESTDIR)$(LIBDIR)/libt5pt.so \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libt5pt.so.$(VERSION) \
	  $(DESTDIR)$(INCLUDEDIR)/t5pt.h $(DESTDIR)$(PKGCONFIGDIR)/t5pt.pc
	rm -rf $(DESTDIR)$(T5PT_DATADIR)

# ------------------------------------------------------------------------------ other
bench: $(BIN)
	./bench/run.sh

golden:
	$(PYTHON) golden/export.py
	$(PYTHON) golden/tokenizer/export_tokenizer.py

demo: $(BIN)
	./examples/demo.sh

docs: $(BIN)
	T5PT=./$(BIN) ./docs/make_docs.sh
sweep: $(BIN)
	OMP_WAIT_POLICY=passive ./examples/sweep.sh

clean:
	rm -rf build build-asan build-clang build-arm64 $(AVX512_EMU_BUILD) build-fuzz
