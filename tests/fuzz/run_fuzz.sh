#!/bin/sh
# Fuzz the tokenizer with libFuzzer (clang). Not part of `make test`.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]   fuzz each harness for SECONDS (default 60), then
#                                      re-run the whole corpus as a regression check
#   tests/fuzz/run_fuzz.sh 0           regression only: replay tests/fuzz/corpus/*
#
# Run from the repository root. Harnesses:
#   fuzz_encode  raw text -> encode (spiece.model and tokenizer.json must agree) -> decode
#   fuzz_model   a model file image (protobuf or tokenizer.json) -> load -> encode/decode probes
# New inputs that increase coverage go to /tmp/t5pt-fuzz/<name>/ (not the committed corpus);
# a crash leaves crash-* / leak-* files in the current directory. To keep an input as a
# regression case, copy it into tests/fuzz/corpus/<name>/; to fold new coverage into the
# committed corpus: $OUT/fuzz_<name> -merge=1 tests/fuzz/corpus/<name> $OUT/<name>
set -eu
SECS=${1:-60}
CC=${CC:-clang}
OUT=${OUT:-/tmp/t5pt-fuzz}
mkdir -p "$OUT"
SRC="src/tokenizer/tokenizer.c src/tokenizer/normalizer.c src/tokenizer/spm_model.c src/tokenizer/tokenizer_json.c src/io/json.c src/base/util.c"
FLAGS="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc -I. -D_POSIX_C_SOURCE=200809L"
for h in fuzz_encode fuzz_model; do
    $CC $FLAGS tests/fuzz/$h.c $SRC -lm -o "$OUT/$h"
done
for h in encode model; do
    mkdir -p "$OUT/$h"
    if [ "$SECS" -gt 0 ]; then
        echo "== fuzz_$h for ${SECS}s"
        if [ $h = encode ]; then MAXLEN=8192; else MAXLEN=300000; fi
        "$OUT/fuzz_$h" -max_total_time="$SECS" -max_len=$MAXLEN -timeout=20 -rss_limit_mb=4096 \
            -print_final_stats=1 "$OUT/$h" "tests/fuzz/corpus/$h" 2>&1 | grep -E "^(stat::|#[0-9]+ *DONE|==|SUMMARY)" || true
    fi
    echo "== regression: fuzz_$h over tests/fuzz/corpus/$h"
    "$OUT/fuzz_$h" -runs=0 tests/fuzz/corpus/$h 2>&1 | tail -1
done
