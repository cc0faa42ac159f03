#!/bin/sh
# Tokenizer throughput, t5pt vs sentencepiece, single-threaded, on two input sets:
# the whole conformance corpus (mixed scripts, stress cases) and its English lines.
#   bench/tokenizer/run_bench.sh [BENCH_BINARY]    (from the repository root)
set -eu
BIN=${1:-build/bench/bench_tokenizer}
for kind in all english_docstrings; do
    if [ $kind = all ]; then K=""; else K="--kind $kind"; fi
    "$BIN" $K
    if /usr/bin/python3 -c 'import sentencepiece' 2>/dev/null; then
        /usr/bin/python3 bench/tokenizer/bench_spm.py $K
    else
        echo "spm   (python3-sentencepiece not installed: skipped)"
    fi
done
