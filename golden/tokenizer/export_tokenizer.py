#!/usr/bin/python3
"""Golden vectors for the T5 tokenizer, from the real SentencePiece library.

    /usr/bin/python3 golden/tokenizer/export_tokenizer.py            # expected ids / decodes
    /usr/bin/python3 golden/tokenizer/export_tokenizer.py --make-corpus   # (re)build the corpus first

Needs python3-sentencepiece (Debian: apt-get install python3-sentencepiece). Run from the
repository root. Reads assets/t5/spiece.model and tests/data/tokenizer/corpus.jsonl; writes

  tests/data/tokenizer/expected.tsv  hex(input bytes) TAB ids TAB hex(decode(ids))   one per corpus entry
  tests/data/tokenizer/decode.tsv    ids TAB hex(decode(ids))                         random id sequences
  tests/data/tokenizer/models/NAME.tsv   the same as expected.tsv for the tiny models (every 13th entry)

Semantics (what "T5 tokenization" means here, and what the C code must reproduce):
  encode(text): text is split at <extra_id_N> (N = 0..99, no leading zeros); every segment in
    between is encoded by SentencePieceProcessor.encode on its own and the sentinel becomes
    32099 - N. This is how Hugging Face's T5 tokenizers treat their added sentinel tokens.
  decode(ids): ids are split at sentinels (32000..32099), each run is decoded by
    SentencePieceProcessor.decode and the sentinels are written as <extra_id_N>.

--make-corpus assembles tests/data/tokenizer/corpus.jsonl (one JSON object per line: "text" for
valid UTF-8 or "hex" for raw bytes, and "kind"). It draws on text found on the Debian build
machine (Python docstrings, iso-codes country/language names, glibc locale names, CPython's CJK
test texts) plus seeded synthetic cases; the committed corpus is what the tests use, so
rebuilding it is only needed to extend it.
"""
import json
import os
import random
import re
import sys

import sentencepiece as spm

ROOT = os.getcwd()
MODEL = os.path.join(ROOT, 'assets/t5/spiece.model')
DATA = os.path.join(ROOT, 'tests/data/tokenizer')
CORPUS = os.path.join(DATA, 'corpus.jsonl')
SENTINEL = re.compile(rb'<extra_id_(0|[1-9][0-9]?)>')
N_SPM = 32000


def encode_ref(sp, b):
    ids, pos = [], 0
    for m in SENTINEL.finditer(b):
        ids += sp.encode(b[pos:m.start()])
        ids.append(32099 - int(m.group(1)))
        pos = m.end()
    return ids + sp.encode(b[pos:])


def decode_ref(sp, ids):
    out, seg = [], []
    for i in ids:
        if N_SPM <= i < N_SPM + 100:
            out.append(sp.decode(seg))
            out.append('<extra_id_%d>' % (32099 - i))
            seg = []
        else:
            seg.append(i)
    out.append(sp.decode(seg))
    return ''.join(out).encode('utf-8')


# ---------------------------------------------------------------------------- corpus
def entry(kind, b):
    if isinstance(b, str):
        b = b.encode('utf-8', 'surrogatepass')
    try:
        return {'kind': kind, 'text': b.decode('utf-8')}
    except UnicodeDecodeError:
        return {'kind': kind, 'hex': b.hex()}


def docstring_lines(rng, n):
    import importlib
    import inspect
    mods = ['os', 're', 'json', 'string', 'textwrap', 'collections', 'itertools', 'functools', 'random',
            'statistics', 'fractions', 'decimal', 'datetime', 'calendar', 'pathlib', 'shutil', 'subprocess',
            'threading', 'socket', 'email', 'http.client', 'urllib.parse', 'argparse', 'logging', 'unittest',
            'doctest', 'difflib', 'heapq', 'bisect', 'csv', 'zipfile', 'tarfile', 'gzip', 'base64', 'hashlib',
            'hmac', 'secrets', 'uuid', 'typing', 'dataclasses', 'enum', 'inspect', 'ast', 'dis', 'pickle',
            'copy', 'pprint', 'sqlite3', 'xml.dom.minidom', 'html', 'configparser', 'tempfile', 'glob',
            'fnmatch', 'locale', 'gettext', 'codecs', 'unicodedata', 'struct', 'array', 'weakref', 'abc',
            'contextlib', 'asyncio', 'queue', 'sched', 'select', 'signal', 'mmap', 'ctypes', 'math', 'cmath']
    docs = []
    for name in mods:
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        for obj in [mod] + [getattr(mod, a, None) for a in sorted(dir(mod)) if not a.startswith('_')]:
            d = inspect.getdoc(obj) if obj is not None else None
            if d and d not in docs:
                docs.append(d)
    lines = []
    for d in docs:
        for para in d.split('\n\n'):
            para = para.strip()
            if 20 <= len(para) <= 600:
                lines.append(para)
    rng.shuffle(lines)
    out = []
    for p in lines[:n]:
        # keep some paragraphs with their newlines and indentation, flatten the rest
        out.append(p if rng.random() < 0.3 else ' '.join(p.split()))
    return out


def mo_catalog(path):
    import gettext
    try:
        with open(path, 'rb') as f:
            return {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if k and isinstance(k, str)}
    except Exception:
        return {}


def iso_names(rng, n):
    langs = ['de', 'fr', 'ro', 'es', 'it', 'pt', 'nl', 'pl', 'cs', 'tr', 'vi', 'ru', 'uk', 'bg', 'el', 'ka',
             'hy', 'ar', 'fa', 'he', 'hi', 'bn', 'ta', 'te', 'th', 'lo', 'km', 'my', 'zh_CN', 'zh_TW', 'ja',
             'ko', 'am', 'si', 'ml', 'kn', 'gu', 'pa', 'mr', 'ne', 'is', 'ga', 'cy', 'eu', 'ca', 'hu', 'fi',
             'et', 'lt', 'lv', 'sv', 'da', 'nb', 'sk', 'sl', 'hr', 'sr', 'mk', 'sq', 'az', 'kk', 'mn', 'ug']
    pools = []
    for lang in langs:
        for dom in ['iso_3166-1', 'iso_639-2', 'iso_4217', 'iso_15924']:
            cat = mo_catalog('/usr/share/locale/%s/LC_MESSAGES/%s.mo' % (lang, dom))
            vals = sorted(set(cat.values()))
            if vals:
                pools.append(vals)
    out = []
    for _ in range(n):
        pool = rng.choice(pools)
        k = rng.randint(1, 6)
        sep = rng.choice([', ', ' ', '; ', ' / ', ' - ', '\t'])
        out.append(sep.join(rng.choice(pool) for _ in range(k)))
    return out


def locale_names(rng):
    out = []
    udec = lambda s: re.sub(r'<U([0-9A-Fa-f]{4,8})>', lambda m: chr(int(m.group(1), 16)), s)
    d = '/usr/share/i18n/locales'
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        try:
            txt = open(os.path.join(d, name), encoding='utf-8', errors='replace').read()
        except Exception:
            continue
        parts = []
        for key in ['lang_name', 'country_name', 'day', 'mon', 'abday', 'abmon']:
            m = re.search(r'^%s\s+(.*?)(?:\n(?!\s*")|\Z)' % key, txt, re.M | re.S)
            if m:
                vals = re.findall(r'"([^"]*)"', m.group(1))
                parts.append(' '.join(udec(v) for v in vals))
        if parts and rng.random() < 0.5:
            out.append(' '.join(p for p in parts if p))
    return out


def cjk_lines():
    import glob
    out = []
    for f in sorted(glob.glob('/root/.pyenv/versions/3.13.0/lib/python3.13/test/cjkencodings/*-utf8.txt')):
        for line in open(f, encoding='utf-8', errors='replace'):
            line = line.rstrip('\n')
            if line.strip():
                out.append(line)
    return out[:150]


def synthetic(rng, sp):
    out = []
    pieces = [sp.id_to_piece(i) for i in range(3, N_SPM)]
    # random piece sequences: the Viterbi has to find its own segmentation
    for _ in range(600):
        k = rng.randint(1, 25)
        s = ''.join(rng.choice(pieces) for _ in range(k)).replace('\u2581', rng.choice([' ', ' ', '', '  ']))
        out.append(('pieces', s))
    # emoji, ZWJ sequences, skin tones, flags, keycaps
    emo = ['😊', '🤗', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇩🇪', '🇫🇷', '1️⃣', '❤️', '✈', '☃', '🎉🎉', '🙈🙉🙊', '🧑🏿‍💻']
    for _ in range(150):
        k = rng.randint(1, 6)
        out.append(('emoji', ' '.join(rng.choice(emo) + rng.choice(['', 'ok', ' fine', '!']) for _ in range(k))))
    # digits and numbers
    for _ in range(200):
        f = rng.choice([lambda: str(rng.randint(0, 10**rng.randint(1, 30))),
                        lambda: '%.*f' % (rng.randint(0, 8), rng.uniform(-1e6, 1e6)),
                        lambda: '{:,}'.format(rng.randint(0, 10**12)),
                        lambda: '%d-%02d-%02d %02d:%02d' % (rng.randint(1900, 2100), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)),
                        lambda: '+%d (%03d) %03d-%04d' % (rng.randint(1, 99), rng.randint(0, 999), rng.randint(0, 999), rng.randint(0, 9999)),
                        lambda: ''.join(rng.choice('0123456789') for _ in range(rng.randint(1, 60))),
                        lambda: '١٢٣٤ ۵۶۷ ०१२३ ๑๒๓ ①②③ ⅠⅡⅢ ¹²³ ₁₂₃ ０１２'[rng.randint(0, 20):]])
        out.append(('digits', f()))
    # punctuation runs
    punct = '.,;:!?-_()[]{}<>/\\|@#$%^&*+=~`\'"«»„“”‘’…—–·•°§¶†‡'
    for _ in range(200):
        k = rng.randint(1, 40)
        s = ''.join(rng.choice(punct) for _ in range(k))
        if rng.random() < 0.5:
            s = rng.choice(['Hello', 'wait', 'Ja', 'oui', 'da']) + s + rng.choice(['', ' end', 'x'])
        out.append(('punct', s))
    # compatibility characters NFKC rewrites: full width, enclosed, CJK compat, ligatures,
    # number forms, super/subscripts, math alphanumerics, half-width katakana, compat jamo
    ranges = [(0xFF01, 0xFF5E), (0x2460, 0x24FF), (0x3200, 0x33FF), (0xFB00, 0xFB06), (0xFB13, 0xFB17),
              (0x2150, 0x218B), (0x2070, 0x209C), (0x00A0, 0x00BF), (0x1D400, 0x1D7FF), (0xFF61, 0xFFDC),
              (0x3131, 0x318E), (0x2100, 0x214F), (0xFE30, 0xFE6B), (0x2000, 0x206F), (0xF900, 0xFAD9),
              (0x02B0, 0x02FF), (0x1E00, 0x1EFF), (0x0370, 0x03FF), (0x0400, 0x04FF), (0xFDF0, 0xFDFD),
              (0xFE70, 0xFEFC), (0x1F100, 0x1F1FF), (0x2F00, 0x2FD5), (0x3000, 0x303F)]
    for _ in range(500):
        lo, hi = rng.choice(ranges)
        k = rng.randint(1, 12)
        s = ''.join(chr(rng.randint(lo, hi)) for _ in range(k))
        if rng.random() < 0.5:
            s = rng.choice(['abc', 'Test ', 'Zahl ', 'x']) + s + rng.choice(['', ' ok', 'z'])
        out.append(('compat', s))
    # combining marks, NFD text, stacked marks
    import unicodedata
    words = ['café', 'naïve', 'résumé', 'Ångström', 'façade', 'über', 'Ærø', 'ţară', 'șansă', 'São Paulo',
             'Dvořák', 'Łódź', 'Tiếng Việt', 'ἀρχή', 'Йошкар-Ола', 'ﬁancé']
    for _ in range(250):
        w = rng.choice(words)
        r = rng.random()
        if r < 0.35:
            s = unicodedata.normalize('NFD', w)
        elif r < 0.7:
            s = ''.join(c + ''.join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(0, 3))) for c in w)
        else:
            s = chr(rng.randint(0x300, 0x36F)) + w + chr(rng.choice([0x20DD, 0x20E3, 0x0489, 0x1AB0, 0x1DC0, 0xFE20]))
        out.append(('combining', s))
    # odd whitespace
    ws = [' ', '  ', '   ', '\t', '\n', '\r\n', '\r', '\v', '\f', '\u00a0', '\u2002', '\u2003', '\u2009', '\u200a',
          '\u200b', '\u200c', '\u200d', '\u2028', '\u2029', '\u3000', '\u205f', '\u180e', '\ufeff', '\u0085',
          '\u1680', '\u202f', '\u00ad', '\u2060']
    for _ in range(400):
        k = rng.randint(0, 6)
        s = ''.join(rng.choice(ws) for _ in range(rng.randint(0, 3)))
        for _ in range(k):
            s += rng.choice(['word', 'Hello', 'a', 'Haus', '123', '.', 'x']) + ''.join(rng.choice(ws) for _ in range(rng.randint(0, 4)))
        out.append(('whitespace', s))
    out += [('whitespace', s) for s in ['', ' ', '\n', '\t\t', '▁', '▁▁', ' ▁ ', '\u3000\u3000', '\u200b']]
    # very long words and lines
    for _ in range(40):
        unit = rng.choice(['a', 'ab', 'xyz', 'na', 'Donaudampfschiff', '0', '9', 'ü', '漢', '🙂', '.', '-', 'ha'])
        out.append(('long', unit * rng.randint(50, 1500)))
    for _ in range(20):
        out.append(('long', ' '.join(rng.choice(pieces).replace('\u2581', '') for _ in range(rng.randint(200, 800)))))
    # sentinels, valid and not
    sent = lambda: '<extra_id_%d>' % rng.randint(0, 99)
    fake = ['<extra_id_100>', '<extra_id_01>', '<extra_id_>', '<extra_id_-1>', '<extra_id_5', 'extra_id_5>',
            '<Extra_id_5>', '< extra_id_5>', '<extra_id_ 5>', '<extra_id_5 >', '<extra_id_999>', '＜extra_id_3＞',
            '<pad>', '</s>', '<unk>', '<s>']
    for _ in range(300):
        k = rng.randint(1, 8)
        parts = []
        for _ in range(k):
            r = rng.random()
            parts.append(sent() if r < 0.5 else rng.choice(fake) if r < 0.65 else
                         rng.choice(['', ' ', 'Hello', ' world ', 'Das ist', '!', '  ', '\n', 'x', 'café']))
        out.append(('sentinel', rng.choice(['', ' ']).join(parts)))
    out += [('sentinel', s) for s in ['<extra_id_0>', '<extra_id_99>', '<extra_id_0><extra_id_1>',
                                      '<<extra_id_5>>', '<extra_id_<extra_id_1>>', 'a<extra_id_0>b',
                                      ' <extra_id_0> ', '<extra_id_10><extra_id_1>0>']]
    # random code points from every plane (valid scalar values)
    for _ in range(400):
        k = rng.randint(1, 10)
        cps = []
        for _ in range(k):
            r = rng.random()
            cp = (rng.randint(0, 0x7F) if r < 0.2 else rng.randint(0x80, 0x7FF) if r < 0.4 else
                  rng.randint(0x800, 0xFFFF) if r < 0.8 else rng.randint(0x10000, 0x10FFFF))
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD
            cps.append(chr(cp))
        out.append(('random_unicode', ''.join(cps)))
    # invalid UTF-8: stray bytes, truncated sequences, overlongs, surrogates, > U+10FFFF
    bad = [b'\x80', b'\xbf', b'\xc0\x80', b'\xc1\xbf', b'\xc3', b'\xe0\x80\x80', b'\xe2\x96', b'\xed\xa0\x80',
           b'\xed\xbf\xbf', b'\xf0\x80\x80\x80', b'\xf4\x90\x80\x80', b'\xf5\x80\x80\x80', b'\xf8\x88\x80\x80\x80',
           b'\xfe', b'\xff', b'\xf0\x9f\x98', b'\xef\xbf\xbd', b'\xef\xbf\xbe', b'\x00', b'\xc2\xa0', b'\xe3\x80\x80']
    for _ in range(300):
        b = b''
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            b += (rng.choice(bad) if r < 0.5 else bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 4)))
                  if r < 0.7 else rng.choice([b'abc', b' ', b'Hello ', b'\xc3\xa9', b'<extra_id_3>', b'1']))
        out.append(('invalid_utf8', b))
    return out


class _chdir:
    """contextlib.chdir for Pythons before 3.11."""
    def __init__(self, path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)


def make_tiny_models():
    """Tiny SentencePiece models with settings T5 does not use, to test the generic paths:
    identity normalizer, a user-defined rule charsmap, and no dummy prefix / no whitespace
    removal. Trained here on a few lines; committed under tests/data/tokenizer/models/."""
    import contextlib, tempfile
    out = os.path.join(DATA, 'models')
    os.makedirs(out, exist_ok=True)
    # Trained inside the temporary directory under relative names: the trainer records its
    # input and output paths in the model, and a random directory name would make every
    # regeneration differ in those bytes.
    with tempfile.TemporaryDirectory() as d, contextlib.chdir(d) if hasattr(contextlib, 'chdir') else _chdir(d):
        text = 'train.txt'
        with open(text, 'w') as f:
            f.write('Hello world. Hallo Welt! Bonjour le monde. Ｆｕｌｌ width ﬁ ligature. abc abd\n' * 20)
        rules = 'rules.tsv'
        with open(rules, 'w') as f:
            f.write('41\t61\nFF21\t61\n46 49\t66 69\nFB01\t66 69\n3000\t20\n9\t20\n')
        for name, extra in [('identity', dict(normalization_rule_name='identity')),
                            ('rules', dict(normalization_rule_tsv=rules)),
                            ('nows', dict(normalization_rule_name='identity', add_dummy_prefix=False,
                                          remove_extra_whitespaces=False))]:
            with open(os.devnull, 'w') as null, contextlib.redirect_stderr(null):
                spm.SentencePieceTrainer.train(input=text, model_prefix=name, vocab_size=40,
                                               hard_vocab_limit=False, character_coverage=1.0, num_threads=1,
                                               minloglevel=2, **extra)
            with open(name + '.model', 'rb') as f, open(os.path.join(out, name + '.model'), 'wb') as g:
                g.write(f.read())


TINY = ['identity', 'rules', 'nows']


def make_corpus():
    rng = random.Random(20261128)
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    ents = []
    tv = os.path.join(ROOT, 'assets/t5/test_vectors.jsonl')   # provenance: assets/t5/SOURCES.md
    ents += [entry('t5_test_vectors', json.loads(l)['input']) for l in open(tv, encoding='utf-8')]
    ents += [entry('hf_level', s) for s in ['I <extra_id_0> like walking my cute dog\n and\x17 then, 生活的真谛是  \t\t\t\t \n\n61',
                                             '<pad> Today is <unk> nice day </s>', 'hi</s>', '</s>>',
                                             '<pad>Hello world!</s>', '<pad>Hello <extra_id_0>!</s><pad>',
                                             '<pad>    Hello   <extra_id_0>  !   </s>   <pad>']]
    ents += [entry('english_docstrings', s) for s in docstring_lines(rng, 1500)]
    ents += [entry('iso_names', s) for s in iso_names(rng, 1200)]
    ents += [entry('locale_names', s) for s in locale_names(rng)]
    ents += [entry('cjk', s) for s in cjk_lines()]
    ents += [entry(k, s) for k, s in synthetic(rng, sp)]
    os.makedirs(DATA, exist_ok=True)
    with open(CORPUS, 'w', encoding='utf-8') as f:
        for e in ents:
            f.write(json.dumps(e, ensure_ascii=False) + '\n')
    print('wrote %s: %d entries' % (CORPUS, len(ents)))
    make_tiny_models()


# ---------------------------------------------------------------------------- vectors
def export():
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    assert sp.get_piece_size() == N_SPM
    rows = []
    for line in open(CORPUS, encoding='utf-8'):
        e = json.loads(line)
        b = bytes.fromhex(e['hex']) if 'hex' in e else e['text'].encode('utf-8')
        ids = encode_ref(sp, b)
        assert all(0 <= i < N_SPM + 100 for i in ids)
        rows.append('%s\t%s\t%s\n' % (b.hex(), ' '.join(map(str, ids)), decode_ref(sp, ids).hex()))
    with open(os.path.join(DATA, 'expected.tsv'), 'w') as f:
        f.writelines(rows)

    # decode of id sequences no encoder produces: leading ▁ pieces, controls and unks
    # anywhere, sentinels next to each other
    rng = random.Random(7)
    special = [0, 1, 2, 3, 3, 32099, 32000, 32050, 5, 6, 55]
    drows = []
    for _ in range(600):
        ids = [rng.choice(special) if rng.random() < 0.4 else rng.randint(0, N_SPM + 99)
               for _ in range(rng.randint(0, 20))]
        drows.append('%s\t%s\n' % (' '.join(map(str, ids)), decode_ref(sp, ids).hex()))
    drows.append('\t\n')   # empty sequence -> empty text
    with open(os.path.join(DATA, 'decode.tsv'), 'w') as f:
        f.writelines(drows)
    print('wrote %d encode rows and %d decode rows to %s' % (len(rows), len(drows), DATA))

    # the tiny models: every 13th corpus entry (sentinels are ids n+99-N there)
    for name in TINY:
        tp = spm.SentencePieceProcessor(model_file=os.path.join(DATA, 'models', name + '.model'))
        n = tp.get_piece_size()
        trows = []
        for line in open(CORPUS, encoding='utf-8').readlines()[::13]:
            e = json.loads(line)
            b = bytes.fromhex(e['hex']) if 'hex' in e else e['text'].encode('utf-8')
            ids, pos = [], 0
            for m in SENTINEL.finditer(b):
                ids += tp.encode(b[pos:m.start()])
                ids.append(n + 99 - int(m.group(1)))
                pos = m.end()
            ids += tp.encode(b[pos:])
            out, seg = [], []
            for i in ids:
                if i >= n:
                    out.append(tp.decode(seg)); out.append('<extra_id_%d>' % (n + 99 - i)); seg = []
                else:
                    seg.append(i)
            out.append(tp.decode(seg))
            trows.append('%s\t%s\t%s\n' % (b.hex(), ' '.join(map(str, ids)), ''.join(out).encode().hex()))
        with open(os.path.join(DATA, 'models', name + '.tsv'), 'w') as f:
            f.writelines(trows)
    print('wrote tiny-model vectors for', ', '.join(TINY))


if __name__ == '__main__':
    if '--make-corpus' in sys.argv[1:]:
        make_corpus()
    export()
