#!/usr/bin/python3
"""Seeds for the fuzzers (run once from the repository root; the output is committed).

    /usr/bin/python3 tests/fuzz/make_seeds.py

corpus/encode/: a spread of conformance-corpus inputs (every kind: invalid UTF-8, sentinels,
                compatibility characters, whitespace, ...). The committed directory is these
                seeds plus 30 minutes of fuzzing, minimized with libFuzzer's -merge=1.
corpus/model/:  tiny SentencePiece models trained here (identity normalizer; a user-defined
                rule charsmap; nmt_nfkc), and tokenizer.json renderings of them. Small models
                keep the loader fuzzer fast (the real spiece.model is 790 KB).
"""
import base64, contextlib, hashlib, json, os, random, sys, tempfile
import sentencepiece as spm

HERE = os.path.join(os.getcwd(), 'tests/fuzz/corpus')


def put(kind, data):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, 'seed-' + hashlib.sha1(data).hexdigest()[:16]), 'wb') as f:
        f.write(data)


def fields(b):
    """(field number, wire type, value) of a protobuf message: a minimal reader."""
    def varint(i):
        r = s = 0
        while True:
            c = b[i]; i += 1
            r |= (c & 0x7f) << s; s += 7
            if c < 0x80:
                return r, i
    i = 0
    while i < len(b):
        key, i = varint(i)
        wt = key & 7
        if wt == 0:
            v, i = varint(i)
        elif wt == 2:
            n, i = varint(i); v = b[i:i + n]; i += n
        elif wt == 5:
            v = b[i:i + 4]; i += 4
        elif wt == 1:
            v = b[i:i + 8]; i += 8
        yield key >> 3, wt, v


def as_json(model_bytes):
    """A tokenizer.json (Unigram, Precompiled, WhitespaceSplit + Metaspace) for a model."""
    import struct
    pieces, charsmap = [], b''
    for fn, wt, v in fields(model_bytes):
        if fn == 1:
            p = {'piece': '', 'score': 0.0, 'type': 1}
            for f2, w2, v2 in fields(v):
                if f2 == 1: p['piece'] = v2.decode()
                elif f2 == 2: p['score'] = struct.unpack('<f', v2)[0]
                elif f2 == 3: p['type'] = v2
            pieces.append(p)
        elif fn == 3:
            for f2, w2, v2 in fields(v):
                if f2 == 2: charsmap = v2
    unk = [i for i, p in enumerate(pieces) if p['type'] == 2][0]
    doc = {
        'version': '1.0',
        'added_tokens': [{'id': i, 'content': p['piece'], 'special': True} for i, p in enumerate(pieces) if p['type'] == 3],
        'normalizer': {'type': 'Precompiled', 'precompiled_charsmap': base64.b64encode(charsmap).decode()}
        if charsmap else None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'WhitespaceSplit'}, {'type': 'Metaspace', 'replacement': '\u2581', 'add_prefix_space': True}]},
        'model': {'unk_id': unk, 'vocab': [[p['piece'], p['score']] for p in pieces]},
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def main():
    rng = random.Random(1)
    rows = open('tests/data/tokenizer/expected.tsv').read().splitlines()
    for r in rng.sample(rows, 300):
        put('encode', bytes.fromhex(r.split('\t')[0]))
    with tempfile.TemporaryDirectory() as d:
        text = os.path.join(d, 'train.txt')
        with open(text, 'w') as f:
            f.write('Hello world. Hallo Welt! Bonjour le monde. Ｆｕｌｌ width ﬁ ligature. abc abd\n' * 20)
        rules = os.path.join(d, 'rules.tsv')
        with open(rules, 'w') as f:
            f.write('41\t61\nFF21\t61\n46 49\t66 69\nFB01\t66 69\n3000\t20\n9\t20\n')
        for name, extra in [('identity', dict(normalization_rule_name='identity')),
                            ('rules', dict(normalization_rule_tsv=rules)),
                            ('nfkc', dict(normalization_rule_name='nmt_nfkc')),
                            ('nows', dict(normalization_rule_name='identity', add_dummy_prefix=False,
                                          remove_extra_whitespaces=False))]:
            with open(os.devnull, 'w') as null, contextlib.redirect_stderr(null):
                spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(d, name), vocab_size=40,
                                               hard_vocab_limit=False, character_coverage=1.0,
                                               minloglevel=2, **extra)
            data = open(os.path.join(d, name + '.model'), 'rb').read()
            if name == 'nfkc':   # 240 KB of charsmap: one protobuf seed, no JSON copy
                put('model', data)
                continue
            put('model', data)
            put('model', as_json(data))
    print('seeds written under', HERE)


if __name__ == '__main__':
    main()
