#!/bin/sh
# docs/make_docs.sh — `make docs`: regenerates every number and figure of
# docs/gradient-flow.md on the shipped model (examples/tiny-t5) and task
# (examples/sentiment), so the document stays true to the code.
#
# Writes docs/figures/*.svg and *.json, and replaces the text between each
# "<!-- make docs: NAME -->" and "<!-- /make docs -->" pair of docs/gradient-flow.md with
# the output of the command NAME below.
set -eu
cd "$(dirname "$0")/.."
T5PT=${T5PT:-./build/t5pt}
MODEL=examples/tiny-t5
TOK=assets/t5/spiece.model
DATA=examples/sentiment
FIG=docs/figures
DOC=docs/gradient-flow.md
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/t5pt-docs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$FIG"

# the batch every trace looks at: the first 8 validation examples
TRACE="$T5PT trace --model $MODEL --tokenizer $TOK --data $DATA/valid.jsonl --examples 8"

echo "== trace before tuning (the initial prompt: 20 sampled vocabulary rows, seed 1)"
$TRACE --prompt-len 20 --seed 1 --json $FIG/trace-before.json --svg $FIG/trace-before.svg >"$WORK/trace-before.txt"

echo "== the same with the readable backward (no shortcuts)"
T5PT_READABLE_BACKWARD=1 $TRACE --prompt-len 20 --seed 1 >"$WORK/readable.txt"
{
    grep -E "^loss|decoder 0 self-attention|d loss / d P" "$WORK/trace-before.txt" | sed 's/^/optimised: /'
    grep -E "^loss|decoder 0 self-attention|d loss / d P" "$WORK/readable.txt" | sed 's/^/readable:  /'
} >"$WORK/readable-diff.txt"

echo "== tuning (as make demo: the same initial prompt)"
$T5PT train --model $MODEL --tokenizer $TOK --train $DATA/train.jsonl --valid $DATA/valid.jsonl \
    --labels positive,negative --prompt-len 20 --init sampled-vocab --lr 0.1 --steps 60 --eval-every 10 --batch 32 \
    --seed 1 --out "$WORK/prompt" --metrics "$WORK/metrics.jsonl" --plot $FIG/training.svg >"$WORK/train-raw.txt"
grep -E "validation|^done" "$WORK/train-raw.txt" | sed "s|$WORK/prompt|PROMPT_DIR|g" >"$WORK/train.txt"

echo "== trace after tuning"
$TRACE --prompt "$WORK/prompt" --json $FIG/trace-after.json --svg $FIG/trace-after.svg |
    sed "s|$WORK/prompt|PROMPT_DIR|g" >"$WORK/trace-after.txt"

echo "== nearest vocabulary pieces of the tuned prompt"
$T5PT neighbors --model $MODEL --tokenizer $TOK --prompt "$WORK/prompt" --k 4 --json $FIG/neighbors.json |
    sed "s|$WORK/prompt|PROMPT_DIR|g" >"$WORK/neighbors.txt"
sed -i "s|$WORK/prompt|PROMPT_DIR|g" $FIG/neighbors.json
# the rows near "sentiment", the prefix the model was pre-trained with for this task
{ grep '"sentiment"' "$WORK/neighbors.txt" || echo '(no row has "sentiment" among its nearest pieces in this run)'; } \
    >"$WORK/sentiment-rows.txt"

echo "== $DOC"
awk -v dir="$WORK" '
    /^<!-- make docs: [a-z-]+ -->$/ {
        print
        name = $4
        print "```text"
        file = dir "/" name ".txt"
        while ((getline line < file) > 0) print line
        close(file)
        print "```"
        skip = 1
        next
    }
    /^<!-- \/make docs -->$/ { skip = 0 }
    !skip { print }
' $DOC >"$WORK/doc.md"
mv "$WORK/doc.md" $DOC
echo "done: $DOC and $FIG/"
