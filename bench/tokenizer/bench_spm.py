#!/usr/bin/python3
"""Single-threaded encoding throughput of the sentencepiece library (C++ via python3-sentencepiece).

    /usr/bin/python3 bench/tokenizer/bench_spm.py [--model PATH] [--corpus FILE] [--kind KIND] [--seconds S]

Same inputs as bench_tokenizer.c: the entries of tests/data/tokenizer/corpus.jsonl (of one
kind if asked). Only the encode calls are timed: one SentencePieceProcessor.encode(bytes)
call per entry, returning the ids as a Python list, exactly the per-line work of
`t5pt tokenize`. Sentinels are not split out (sentencepiece knows none), which makes
sentencepiece's job slightly easier, not harder.
"""
import argparse, json, time
import sentencepiece as spm

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='assets/t5/spiece.model')
ap.add_argument('--corpus', default='tests/data/tokenizer/corpus.jsonl')
ap.add_argument('--kind', default=None)
ap.add_argument('--seconds', type=float, default=3.0)
a = ap.parse_args()

sp = spm.SentencePieceProcessor(model_file=a.model)
lines = []
for l in open(a.corpus, encoding='utf-8'):
    e = json.loads(l)
    if a.kind is None or e['kind'] == a.kind:
        lines.append(bytes.fromhex(e['hex']) if 'hex' in e else e['text'].encode('utf-8'))
nbytes = sum(len(b) for b in lines)
enc = sp.encode
for b in lines:            # warm-up
    enc(b)
passes, start = 0, time.perf_counter()
while True:
    for b in lines:
        enc(b)
    passes += 1
    elapsed = time.perf_counter() - start
    if elapsed >= a.seconds:
        break
print('spm   encode  kind=%-20s lines=%d bytes=%d  (sentencepiece %s)' % (a.kind or 'all', len(lines), nbytes, spm.__version__))
print('spm   encode  %10.0f lines/s  %7.2f MB/s  (%d passes, %.2f s, model %s)' % (
    passes * len(lines) / elapsed, passes * nbytes / elapsed / 1e6, passes, elapsed, a.model))
