# t5pt — GNU Makefile.
#
#   make              library build/libt5pt.a and the command build/t5pt
#   make test         every Check suite (all native SIMD paths for the golden suites)
#   make asan         the test suite under -fsanitize=address,undefined
#   make fuzz-replay  every fuzz harness over its committed corpus (part of make test)
#   make test-emulated  golden + kernel suites under qemu: x86-64 AVX2-only CPU and AArch64 NEON
#   make bench        GEMM / step / tokenizer benchmarks (see BENCHMARKS.md)
#   make golden       regenerate golden/ with the PyTorch reference (needs python3-torch)
#   make demo         train + eval on the shipped default task (the README's first command)
#   make clean
#
# Options: NO_OMP=1 (no OpenMP), BUILD=dir, CC=..., CI=true or WERROR=1 (warnings are errors).

CC      ?= gcc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3

CSTD     = -std=c11
OPT     ?= -O2
WARN     = -Wall -Wextra
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
endif
ifneq ($(findstring aarch64,$(MACHINE)),)
NEON_FLAGS   = -march=armv8-a
endif

CHECK_LIBS ?= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm) -pthread

ALL_CFLAGS = $(CSTD) $(OPT) $(WARN) $(OMPFLAGS) $(CFLAGS) $(CPPFLAGS)

# The library is every layer below the command line (see ARCHITECTURE.md).
LIB_SRC  = $(wildcard src/base/*.c src/io/*.c src/tokenizer/*.c src/model/*.c src/train/*.c) $(wildcard simd/*.c)
CLI_SRC  = $(wildcard src/cli/*.c)
CLI_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
LIB_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_HELPER_SRC = $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_HELPER_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(TEST_HELPER_SRC))
LIB      = $(BUILD)/libt5pt.a
BIN      = $(BUILD)/t5pt

.PHONY: all test test-paths fuzz-replay asan test-emulated test-avx2-emulated test-arm bench golden demo clean
.DELETE_ON_ERROR:
# Objects reached only through pattern rules would otherwise be deleted as intermediates.
.SECONDARY: $(TEST_HELPER_OBJ) $(CLI_OBJ) $(LIB_OBJ)

all: $(LIB) $(BIN)

$(BUILD)/simd/avx2.o:   ISA_FLAGS = $(AVX2_FLAGS)
$(BUILD)/simd/avx512.o: ISA_FLAGS = $(AVX512_FLAGS)
$(BUILD)/simd/neon.o:   ISA_FLAGS = $(NEON_FLAGS)

# Header dependencies are written by the compiler (-MMD -MP) next to each object.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ISA_FLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_HELPER_OBJ) $(LIB)
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
$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c $(FUZZ_HELPER_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(LDFLAGS) $< $(FUZZ_HELPER_OBJ) $(LIB) -o $@ $(LDLIBS)
fuzz-replay: $(FUZZ_REPLAY)
	@fail=0; for r in $(FUZZ_REPLAY); do \
	  echo "== $$r"; ./$$r tests/fuzz/corpus/$${r##*/replay_} || fail=1; \
	done; exit $$fail

# Runs every suite from the repository root; fails when any suite fails.
# Check's default per-test timeout (4 s) is too tight for a loaded 2-core machine or a
# sanitizer build; the suites are timed by benchmarks, not by these limits.
TEST_RUNNER ?=
export CK_DEFAULT_TIMEOUT ?= 600
test: $(TEST_BIN) $(BIN) $(FUZZ_REPLAY)
	@fail=0; echo "== tests/test_layers.sh"; tests/test_layers.sh $(LIB) || fail=1; \
	for t in $(TEST_BIN); do \
	  echo "== $$t"; $(TEST_RUNNER) ./$$t || fail=1; \
	done; \
	$(MAKE) --no-print-directory fuzz-replay || fail=1; \
	$(MAKE) --no-print-directory test-paths || fail=1; \
	exit $$fail

# The golden and kernel suites again on every other SIMD path this CPU has.
GOLDEN_TESTS = $(filter $(BUILD)/tests/test_forward $(BUILD)/tests/test_backward $(BUILD)/tests/test_train $(BUILD)/tests/test_eval,$(TEST_BIN))
test-paths: $(TEST_BIN) $(BIN)
	@fail=0; for p in $$(./$(BIN) info --paths); do \
	  [ "$$p" = "$$(./$(BIN) info --path)" ] && continue; \
	  for t in $(GOLDEN_TESTS); do echo "== T5PT_SIMD=$$p $$t"; T5PT_SIMD=$$p ./$$t || fail=1; done; \
	done; exit $$fail

asan:
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test

test-emulated: test-avx2-emulated test-arm

# An AVX2-only x86-64 CPU (qemu's "max" model has no AVX-512): checks dispatch and
# that no AVX-512 instruction leaks outside simd/avx512.c.
test-avx2-emulated: $(TEST_BIN) $(BIN)
	@fail=0; for t in $(BUILD)/tests/test_kernels $(BUILD)/tests/test_gemm $(GOLDEN_TESTS); do \
	  [ -x $$t ] || continue; echo "== qemu-x86_64 -cpu max $$t"; \
	  T5PT_TEST_SMALL=1 CK_TIMEOUT_MULTIPLIER=20 timeout 1200 qemu-x86_64 -cpu max ./$$t || fail=1; \
	done; exit $$fail

# AArch64 NEON: cross-compiled, statically linked, run under qemu-aarch64.
ARM_CC ?= aarch64-linux-gnu-gcc
test-arm:
	$(MAKE) --no-print-directory BUILD=build-arm64 CC=$(ARM_CC) LDFLAGS=-static \
	  CHECK_LIBS="-lcheck -lsubunit -lrt -lm -pthread" \
	  build-arm64/tests/test_kernels build-arm64/tests/test_gemm $(patsubst $(BUILD)/%,build-arm64/%,$(GOLDEN_TESTS))
	@fail=0; for t in build-arm64/tests/test_kernels build-arm64/tests/test_gemm $(patsubst $(BUILD)/%,build-arm64/%,$(GOLDEN_TESTS)); do \
	  [ -x $$t ] || continue; echo "== qemu-aarch64 $$t"; \
	  T5PT_TEST_SMALL=1 CK_TIMEOUT_MULTIPLIER=20 timeout 1800 qemu-aarch64 ./$$t || fail=1; \
	done; exit $$fail

bench: $(BIN)
	./bench/run.sh

golden:
	$(PYTHON) golden/export.py
	$(PYTHON) golden/tokenizer/export_tokenizer.py

demo: $(BIN)
	./examples/demo.sh

clean:
	rm -rf build build-asan build-arm64 build-fuzz
