#!/bin/sh
# The paper's ablations on the shipped model and task (`make sweep`; README, "The paper's
# recipe"): t5pt sweep's default grid -- prompt length {1,5,20,100,150} x init
# {random-uniform, sampled-vocab, class-labels}, and the placement study {prepend, at:2,
# append} at 20 rows -- with 3 seeds, 30 steps each (--recipe paper), on the tiny frozen T5
# in examples/tiny-t5 and the review-sentiment task in examples/sentiment.
#
# The runs go to examples/out/sweep/ (not committed; rerunning resumes and skips finished
# runs, so an interrupted sweep continues). The table and the figure the README shows are
# then copied to examples/sweep/summary.md and examples/sweep/figure.svg.
# STEPS=N or SEEDS=a,b,c change the grid (into another directory: a sweep refuses results
# made with other settings).
set -eu
cd "$(dirname "$0")/.."
T5PT=${T5PT:-./build/t5pt}
STEPS=${STEPS:-30}
SEEDS=${SEEDS:-1,2,3}
OUT=${OUT:-examples/out/sweep}
"$T5PT" sweep --model examples/tiny-t5 --tokenizer assets/t5/spiece.model \
    --train examples/sentiment/train.jsonl --valid examples/sentiment/valid.jsonl \
    --labels positive,negative --steps "$STEPS" --eval-every 5 --seeds "$SEEDS" \
    --out "$OUT"
if [ "$STEPS" = 30 ] && [ "$SEEDS" = 1,2,3 ]; then
    cp "$OUT/summary.md" examples/sweep/summary.md
    cp "$OUT/figure.svg" examples/sweep/figure.svg
    echo "copied $OUT/summary.md and $OUT/figure.svg to examples/sweep/"
fi
