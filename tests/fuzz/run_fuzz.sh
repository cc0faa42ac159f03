#!/bin/sh
# Fuzz the parsers with libFuzzer (clang, ASan + UBSan). Not part of `make test`, which
# replays the committed corpora instead (make fuzz-replay).
#
#   tests/fuzz/run_fuzz.sh SECONDS [HARNESS...]   fuzz each harness for SECONDS, one after
#                                                 the other (default: all of them)
#   tests/fuzz/run_fuzz.sh 0 [HARNESS...]         replay only: the committed corpus through the
#                                                 libFuzzer build
#
# Run from the repository root. Harnesses (tests/fuzz/fuzz_<name>.c, see each file's header):
#   json safetensors config model_dir data prompt peft checkpoint   the parsers
#   encode model                                                    the tokenizer
# The library is built with clang into build-fuzz/ (make, -fsanitize=fuzzer-no-link). Each
# run starts from the committed corpus tests/fuzz/corpus/<name>/ plus, when present, the
# seeds of make_parser_seeds.py ($SEEDS/<name>, default /tmp/t5pt-seeds); new inputs go
# to $OUT/<name>/ (default /tmp/t5pt-fuzz), crashes to $OUT/crash-<name>-*. The last lines
# of libFuzzer's log (executions, cov, ft) go to $OUT/<name>.log.
# To fold the new coverage into the committed corpus (what tests/fuzz/README.md records):
#   $OUT/fuzz_<name> -set_cover_merge=1 NEW tests/fuzz/corpus/<name> $OUT/<name> $SEEDS/<name>
# then replace the corpus by NEW, keeping the named reproducers (for model_dir, whose inputs
# are large, pick NEW under a byte budget with tests/fuzz/trim_corpus.py). Copy each crash
# reproducer, once fixed, to tests/fuzz/corpus/<name>/ under a name that says what it found.
set -eu
SECS=${1:?usage: run_fuzz.sh SECONDS [HARNESS...]}
shift
HARNESSES=${*:-json safetensors config model_dir data prompt peft checkpoint encode model}
OUT=${OUT:-/tmp/t5pt-fuzz}
SEEDS=${SEEDS:-/tmp/t5pt-seeds}
mkdir -p "$OUT"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
make --no-print-directory -j2 BUILD=build-fuzz CC=clang NO_OMP=1 OPT="-O1 -g" \
    CFLAGS="-fsanitize=fuzzer-no-link $SAN" build-fuzz/libt5pt.a >/dev/null
FLAGS="-std=c11 -g -O1 -fsanitize=fuzzer $SAN -Iinclude -Isrc -I. -D_POSIX_C_SOURCE=200809L"

# the longest input each harness takes (multi-file inputs are bigger)
max_len() {
    case $1 in
    model_dir) echo 65536 ;; model) echo 300000 ;; checkpoint|peft) echo 16384 ;; encode) echo 8192 ;; *) echo 4096 ;;
    esac
}

for h in $HARNESSES; do
    clang $FLAGS tests/fuzz/fuzz_$h.c tests/fuzz/fuzz_util.c build-fuzz/libt5pt.a -lm -o "$OUT/fuzz_$h"
    mkdir -p "$OUT/$h" tests/fuzz/corpus/$h
    dirs="$OUT/$h tests/fuzz/corpus/$h"
    [ -d "$SEEDS/$h" ] && dirs="$dirs $SEEDS/$h"
    dict=""
    [ -f tests/fuzz/dict/$h.dict ] && dict="-dict=tests/fuzz/dict/$h.dict"
    if [ "$SECS" -gt 0 ]; then
        echo "== fuzz_$h for ${SECS}s"
        # TMPDIR on tmpfs: the file-based harnesses write their inputs there
        TMPDIR=${FUZZ_TMPDIR:-/dev/shm} "$OUT/fuzz_$h" -max_total_time="$SECS" -max_len="$(max_len $h)" -timeout=20 \
            -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$OUT/crash-$h-" $dict $dirs \
            >"$OUT/$h.full.log" 2>&1 || true
        grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^==[0-9]+==|^SUMMARY|^fuzz" "$OUT/$h.full.log" | tail -20 >"$OUT/$h.log"
        cat "$OUT/$h.log"
    else
        echo "== replay fuzz_$h over tests/fuzz/corpus/$h"
        "$OUT/fuzz_$h" -runs=0 tests/fuzz/corpus/$h 2>&1 | tail -1
    fi
done
