#!/usr/bin/python3
"""Differential test: the C tokenizer against the sentencepiece library on random inputs.

    /usr/bin/python3 tests/fuzz/diff_spm.py [N] [SEED]     (from the repository root)

Builds tests/fuzz/tok_driver.c into /tmp, then for each model -- the real T5 files
(assets/t5/spiece.model and tokenizer.json) and the tiny models in tests/data/tokenizer/models
(identity normalizer, user-defined rules, no dummy prefix / no whitespace removal) --
encodes N random inputs and decodes N random id sequences with both and compares. Inputs
are random code points, random bytes (invalid UTF-8), and splices / mutations of the
conformance corpus. Prints the counts and the first mismatches; exit status 1 on any.
"""
import os, random, re, subprocess, sys
import sentencepiece as spm

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
SENT = re.compile(rb'<extra_id_(0|[1-9][0-9]?)>')
DRV = '/tmp/t5pt_tok_driver'


def build():
    srcs = ['tests/fuzz/tok_driver.c'] + ['src/%s.c' % s for s in
                                         ['tokenizer', 'normalizer', 'spm_model', 'tokenizer_json', 'json', 'util']]
    subprocess.check_call(['gcc', '-std=c11', '-O2', '-Iinclude', '-Isrc', '-o', DRV] + srcs + ['-lm'])


def encode_ref(sp, b):
    n = sp.get_piece_size()
    ids, pos = [], 0
    for m in SENT.finditer(b):
        ids += sp.encode(b[pos:m.start()])
        ids.append(n + 99 - int(m.group(1)))
        pos = m.end()
    return ids + sp.encode(b[pos:])


def decode_ref(sp, ids):
    n = sp.get_piece_size()
    out, seg = [], []
    for i in ids:
        if n <= i < n + 100:
            out.append(sp.decode(seg)); out.append('<extra_id_%d>' % (n + 99 - i)); seg = []
        else:
            seg.append(i)
    out.append(sp.decode(seg))
    return ''.join(out).encode()


def inputs(rng, corpus, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.25:
            s = ''.join(chr(rng.choice([rng.randint(0, 0x7f), rng.randint(0x80, 0x7ff), rng.randint(0x800, 0xd7ff),
                                        rng.randint(0xe000, 0xffff), rng.randint(0x10000, 0x10ffff)]))
                        for _ in range(rng.randint(0, 12)))
            out.append(s.encode())
        elif r < 0.4:
            out.append(bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 16))))
        elif r < 0.7:
            a, b = rng.choice(corpus), rng.choice(corpus)
            out.append(a[:rng.randint(0, len(a))] + b[rng.randint(0, len(b)):])
        else:
            b = bytearray(rng.choice(corpus))
            for _ in range(rng.randint(1, 4)):
                op = rng.random()
                pos = rng.randint(0, len(b))
                if op < 0.4:
                    b[pos:pos] = rng.choice([b' ', b'  ', b'\t', b'\xe2\x96\x81', b'<extra_id_7>', b'\xc3',
                                             b'\xef\xbc\xa1', b'\xcc\x81', b'\xe3\x80\x80', b'\x00'])
                elif op < 0.7 and b:
                    del b[pos:pos + rng.randint(1, 3)]
                elif b:
                    b[min(pos, len(b) - 1)] = rng.randint(0, 255)
            out.append(bytes(b))
    return out


def run(model, mode, lines):
    p = subprocess.run([DRV, model, mode], input='\n'.join(lines) + '\n', capture_output=True, text=True, check=True)
    return p.stdout.splitlines()


def main():
    build()
    rng = random.Random(SEED)
    corpus = [bytes.fromhex(l.split('\t')[0]) for l in open('tests/data/tokenizer/expected.tsv')]
    models = [('assets/t5/spiece.model', 'assets/t5/spiece.model'), ('assets/t5/tokenizer.json', 'assets/t5/spiece.model')]
    d = 'tests/data/tokenizer/models'
    for f in sorted(os.listdir(d)):
        if f.endswith('.model'):
            models.append((os.path.join(d, f), os.path.join(d, f)))
    bad = 0
    for model, ref in models:
        sp = spm.SentencePieceProcessor(model_file=ref)
        ins = inputs(rng, corpus, N)
        got = run(model, 'encode', [b.hex() for b in ins])
        exp = [' '.join(map(str, encode_ref(sp, b))) for b in ins]
        mism = [(b, e, g) for b, e, g in zip(ins, exp, got) if e != g]
        V = sp.get_piece_size() + 100
        idseqs = [[rng.randint(0, V - 1) for _ in range(rng.randint(0, 12))] for _ in range(N // 4)]
        dgot = run(model, 'decode', [' '.join(map(str, s)) for s in idseqs])
        dexp = [decode_ref(sp, s).hex() for s in idseqs]
        dmism = [(s, e, g) for s, e, g in zip(idseqs, dexp, dgot) if e != g]
        print('%-45s encode %d/%d  decode %d/%d' % (model, len(ins) - len(mism), len(ins), len(idseqs) - len(dmism), len(idseqs)))
        for b, e, g in mism[:3]:
            print('   input %r\n   expected %s\n   got      %s' % (b, e, g))
        for s, e, g in dmism[:3]:
            print('   ids %s\n   expected %s\n   got      %s' % (s, e, g))
        bad += len(mism) + len(dmism)
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
