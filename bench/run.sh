#!/bin/bash
# bench/run.sh — what `make bench` runs (from the repository root).
#
# 1. the machine and the measured fp32 peak of each SIMD path (`t5pt bench peak`)
# 2. the T5-small GEMM shapes (M = 1824 tokens = batch 8 x (100 prompt + 128 input) ...,
#    N,K in {512, 2048}; both linear forms) for avx512 and avx2 with 1 and 2 threads,
#    scalar on one small shape, and OpenBLAS on the same shapes side by side when it is
#    installed (OPENBLAS_CORETYPE=SkylakeX for that command only)
# 3. whole training steps of t5-small (random weights; batch 8, 100 prompt + 128 input
#    tokens, 16 target tokens) with 1 and 2 threads
#    (+ the scalar path once, and the same step in PyTorch via bench/torch_step.py)
# 4. threads with one competing busy process: the default (adaptive) count against one
#    thread and against every core fixed
# 5. the tokenizer benchmark, if bench/tokenizer/ is there
# The markdown tables go to stdout and to $OUT (default build/bench/results.md), ready to
# paste into BENCHMARKS.md. Options (environment): BENCH_QUICK=1 for a short run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/t5pt
OUT=${OUT:-$BUILD/bench/results.md}
mkdir -p "$BUILD/bench"
make --no-print-directory "$BIN" >/dev/null || { echo "bench: build failed" >&2; exit 1; }

CONFIG=bench/t5-small.config.json
[ -f tests/data/configs/t5-small.config.json ] && CONFIG=tests/data/configs/t5-small.config.json
STEPS=${BENCH_STEPS:-5}
[ "${BENCH_QUICK:-0}" = 1 ] && STEPS=2

# OpenBLAS side-by-side binary (not part of t5pt; only for this comparison)
OB=""
OB_INC=$(ls -d /usr/include/*/openblas-pthread /usr/include/openblas 2>/dev/null | head -1)
OB_LIB=$(ls -d /usr/lib/*/openblas-pthread 2>/dev/null | head -1)
if [ -n "$OB_INC" ] && [ -n "$OB_LIB" ] && [ -f "$OB_LIB/libopenblas.so" ]; then
    if ${CC:-cc} -O2 -std=c11 -I"$OB_INC" bench/openblas_gemm.c -o "$BUILD/bench/openblas_gemm" \
        -L"$OB_LIB" -Wl,-rpath,"$OB_LIB" -lopenblas 2>/dev/null; then
        OB=$BUILD/bench/openblas_gemm
    fi
fi

paths=$($BIN info --paths 2>/dev/null || echo scalar)
has() { case " $paths " in *" $1 "*) return 0;; esac; return 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }   # value of key=value in a result line

{
echo "## Machine"
echo
echo '```'
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1) ($(nproc) cores)"
$BIN info | sed 's/^/t5pt /'
echo "compiler: $(${CC:-cc} --version | head -1)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average at the start; other jobs skew timings)"
[ -n "$OB" ] && echo "openblas: $(ls "$OB_LIB"/libopenblas*-r*.so 2>/dev/null | head -1 | sed 's/.*-r\(.*\)\.so/\1/') (OPENBLAS_CORETYPE=SkylakeX)"
echo '```'
echo
echo "### Measured peak (register micro-kernel, operands in L1: \`t5pt bench peak\`)"
echo
echo "| path | micro-kernel | 1 thread GFLOP/s | 2 threads GFLOP/s |"
echo "|---|---|---:|---:|"
for p in avx512 avx2 neon scalar; do
    has $p || continue
    l1=$($BIN bench peak --simd $p --threads 1)
    l2=$($BIN bench peak --simd $p --threads 2)
    echo "| $p | $(echo "$l1" | field micro) | $(echo "$l1" | field gflops) | $(echo "$l2" | field gflops) |"
done
echo
echo "## GEMM (\`t5pt bench gemm\`), T5-small shapes, GFLOP/s (median)"
echo
echo "fwd: y[M,N] = x[M,K] W^T; bwd: dx[M,K] = dy[M,N] W, with W[N,K] packed once (t5pt) /"
echo "cblas_sgemm on the plain row-major arrays (OpenBLAS). M = 1824."
echo
echo "| shape (N x K) | form | threads | avx512 | avx2 | OpenBLAS | avx512 / OpenBLAS |"
echo "|---|---|---:|---:|---:|---:|---:|"
for nk in "512 2048" "2048 512"; do
    set -- $nk
    for T in 1 2; do
        declare -A g=()
        for p in avx512 avx2; do
            has $p || continue
            while read -r line; do
                f=$(echo "$line" | field form)
                g[$p,$f]=$(echo "$line" | field gflops)
            done < <($BIN bench gemm --m 1824 --n $1 --k $2 --threads $T --simd $p)
        done
        if [ -n "$OB" ]; then
            while read -r line; do
                f=$(echo "$line" | field form)
                g[ob,$f]=$(echo "$line" | field gflops)
            done < <(OPENBLAS_CORETYPE=SkylakeX "$OB" --m 1824 --n $1 --k $2 --threads $T)
        fi
        for f in fwd bwd; do
            a=${g[avx512,$f]:--}; b=${g[avx2,$f]:--}; o=${g[ob,$f]:--}
            ratio=-
            [ "$a" != - ] && [ "$o" != - ] && ratio=$(awk -v a="$a" -v o="$o" 'BEGIN{printf "%.2f", a/o}')
            echo "| $1 x $2 | $f | $T | $a | $b | $o | $ratio |"
        done
        unset g
    done
done
echo
line=$($BIN bench gemm --m 256 --n 512 --k 512 --threads 1 --simd scalar --form fwd)
echo "scalar (readable reference path), M=256 N=512 K=512 fwd, 1 thread: $(echo "$line" | field gflops) GFLOP/s"
echo
echo "## Training step (\`t5pt bench step\`), t5-small, random weights"
echo
echo "batch 8, 100 prompt + 128 input tokens, 16 target tokens; forward + backward into the"
echo "prompt + Adafactor; median of $STEPS steps after 1 warm-up step. GFLOP/s counts the matrix"
echo "products only (t5pt bench --help)."
echo
echo "Share of peak: each step's GFLOP/s over the fp32 micro-kernel's rate measured just before"
echo "and after it (median over the steps; t5pt bench step --help)."
echo
echo "| path | threads | s/step | GFLOP/step | GFLOP/s | share of peak | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
step_row() { # path threads steps
    local line
    line=$($BIN bench step --config "$CONFIG" --threads $2 --simd $1 --steps $3 2>&1 | grep '^step') ||
        { echo "| $1 | $2 | (failed) | | | | |"; return; }
    echo "| $1 | $2 | $(echo "$line" | field s_per_step) | $(echo "$line" | field gflop_per_step) |" \
         "$(echo "$line" | field gflops) | $(echo "$line" | field share_of_peak) | $(echo "$line" | field peak_rss_mb) |"
}
for p in avx512 avx2 neon; do
    has $p || continue
    for T in 1 2; do step_row $p $T $STEPS; done
    [ "${BENCH_QUICK:-0}" = 1 ] && break
done
[ "${BENCH_QUICK:-0}" = 1 ] || step_row scalar 1 2
# the same step in PyTorch (golden/reference.py, activation gradients only), if installed
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    for T in 1 2; do
        line=$(OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_step.py --config "$CONFIG" --threads $T \
               --steps $STEPS 2>&1 | grep '^torch_step') &&
            echo "| PyTorch $(echo "$line" | field torch) (OpenBLAS SkylakeX) | $T | $(echo "$line" | field s_per_step) | | | | |"
    done
fi
# threads with one competing busy process (issue 14 item 2): the default thread count
# (every core less the busy ones) against exactly one thread, interleaved
if [ "$(nproc)" -ge 2 ] && [ "${BENCH_QUICK:-0}" != 1 ]; then
    echo
    echo "## Threads with one busy process (\`yes > /dev/null\` running), t5-small, batch 2"
    echo
    echo "| run | round 1 s/step | round 2 s/step | threads used |"
    echo "|---|---:|---:|---:|"
    yes > /dev/null &
    YES=$!
    runs=(default "--threads 1" "--threads $(nproc)")
    declare -a times used
    for r in 1 2; do            # rounds outside: the runs of a round see the same load
        for i in 0 1 2; do
            args=""
            [ "${runs[$i]}" = default ] || args=${runs[$i]}
            # shellcheck disable=SC2086
            line=$($BIN bench step --config "$CONFIG" --batch 2 --steps 3 $args 2>&1 | grep '^step')
            times[$i]="${times[$i]:-} $(echo "$line" | field s_per_step) |"
            used[$i]="$(echo "$line" | field threads_min)-$(echo "$line" | field threads)"
        done
    done
    for i in 0 1 2; do echo "| ${runs[$i]} |${times[$i]} ${used[$i]} |"; done
    kill $YES 2>/dev/null; wait $YES 2>/dev/null
fi
if [ -f bench/tokenizer/bench_tokenizer.c ]; then
    echo
    echo "## Tokenizer (bench/tokenizer)"
    echo
    TB=$BUILD/bench/bench_tokenizer
    OMPF=$(echo 'int main(void){return 0;}' | ${CC:-cc} -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
    if ${CC:-cc} -O2 -std=c11 $OMPF -Iinclude -Isrc -I. -D_POSIX_C_SOURCE=200809L bench/tokenizer/bench_tokenizer.c \
        "$BUILD/libt5pt.a" -o "$TB" -lm 2>/dev/null; then
        echo '```'
        if [ -x bench/tokenizer/run_bench.sh ]; then bench/tokenizer/run_bench.sh "$TB" 2>&1; else "$TB" 2>&1; fi
        echo '```'
    else
        echo "(bench_tokenizer did not build)"
    fi
fi
} | tee "$OUT"
echo "bench: tables written to $OUT" >&2
