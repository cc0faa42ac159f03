#!/usr/bin/python3
"""Seed inputs for the parser fuzzers (tests/fuzz/fuzz_<name>.c).

    make && /usr/bin/python3 tests/fuzz/make_parser_seeds.py [OUT]     (default /tmp/t5pt-seeds)

Writes OUT/<name>/ for json, safetensors, config, model_dir, data, prompt, peft and checkpoint:
the real files of the repository (golden cases, examples/, tests/data/) and files t5pt itself
writes (tiny models from `t5pt init-model`, checkpoints and prompts from `t5pt train`), plus
hand-made edge cases for each format. The seeds are not committed: run_fuzz.sh starts from them
and the committed corpus tests/fuzz/corpus/<name>/ is the libFuzzer-minimized result
(-set_cover_merge=1; trim_corpus.py for model_dir) of seeds + fuzzing, plus the crash
reproducers.
Multi-file inputs (model_dir, peft) join their files with the separator of fuzz_util.h.
"""
import glob, hashlib, json, os, shutil, struct, subprocess, sys, tempfile

import numpy as np

SEP = b'#T5PT-NEXT-FILE#\n'
OUT = sys.argv[1] if len(sys.argv) > 1 else '/tmp/t5pt-seeds'
T5PT = os.path.abspath('build/t5pt')
TMP = tempfile.mkdtemp(prefix='t5pt-seeds-')


def put(kind, data, name=None):
    d = os.path.join(OUT, kind)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or 'seed-' + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# ------------------------------------------------------------------ safetensors helpers

DT = {'F32': ('<f4', 4), 'F16': ('<f2', 2), 'BF16': (None, 2), 'F64': ('<f8', 8), 'I64': ('<i8', 8),
      'I32': ('<i4', 4), 'I16': ('<i2', 2), 'I8': ('i1', 1), 'U8': ('u1', 1), 'BOOL': ('u1', 1)}


def st_bytes(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes). Written like the reference writer."""
    header, off, blobs = {}, 0, []
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, dt, shape, raw in tensors:
        header[name] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    if pad:
        h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


def st_read(data):
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', None)
    buf = data[8 + n:]
    return [(k, v['dtype'], v['shape'], buf[v['data_offsets'][0]:v['data_offsets'][1]])
            for k, v in sorted(header.items())], meta


def arr(a, dt):
    if dt == 'BF16':
        return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype('<u2').tobytes()
    return np.asarray(a, DT[dt][0]).tobytes()


def run(*args):
    subprocess.run([T5PT, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ json

def seeds_json():
    for p in sorted(glob.glob('golden/cases/*/case.json') + glob.glob('golden/optim/*.json') +
                    glob.glob('tests/data/configs/*.json') + glob.glob('golden/cases/*/model/config.json'))[:12]:
        put('json', read(p))
    put('json', read('golden/cases/sharded/model/model.safetensors.index.json'))
    put('json', read('golden/cases/relu_tied_prepend/peft_adapter/adapter_config.json'))
    for line in read('examples/sentiment/train.jsonl').splitlines()[:3]:
        put('json', line)
    for s in ['', ' ', 'null', 'true', 'false', '0', '-0', '-0.0', '1e999', '-1e999', '1E-400', '0.1e+2',
              '9223372036854775807', '-9223372036854775808', '9223372036854775808', '-9223372036854775809',
              '12345678901234567890123', '00', '01', '1.', '.5', '+1', '1e', '--1', 'NaN', 'Infinity',
              '"\\u0000"', '"\\ud83d\\ude00"', '"\\ud83d"', '"\\ude00"', '"\\ud83d\\u0041"', '"\\x"', '"\t"',
              '"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"', '[1,]', '{"a":1,}', '{"a" 1}', '{1:2}', '[', '{', '"',
              '"\\', '[1 2]', '{"a":1}{', '// c\n1', '\ufeff{"bom":true}', '{"a":1,"a":2}',
              '{' + ','.join('"k%d":%d' % (i, i) for i in range(40)) + ',"k7":"dup"}',
              '[' * 511 + ']' * 511, '[' * 513 + ']' * 513, '{"a":' * 300 + '0' + '}' * 300,
              '[1.5,-2e-3,3E+8,4e0]', '{"":{"":[""]}}', '"a\\/b\\b\\f\\n\\r\\t\\"\\\\"']:
        put('json', s.encode('utf-8', 'surrogatepass') if isinstance(s, str) else s)
    put('json', b'"\xc0\xaf"')            # overlong
    put('json', b'"\xed\xa0\x80"')        # encoded surrogate
    put('json', b'"\xf4\x90\x80\x80"')    # above U+10FFFF
    put('json', b'"\xe2\x82"')            # truncated
    put('json', b'{"a":"\x00"}')


# ------------------------------------------------------------------ safetensors

def seeds_safetensors():
    put('safetensors', read('golden/cases/relu_tied_prepend/inputs.safetensors'))
    put('safetensors', read('golden/cases/relu_tied_prepend/peft_adapter/adapter_model.safetensors'))
    put('safetensors', read('golden/optim/adafactor_1d.safetensors'))
    vals = [0.5, -1.25, 3.0, 65504.0, 1e-8, -0.0]
    for dt in DT:
        if dt == 'BOOL':
            raw = bytes([0, 1, 1, 0, 1, 0])
        elif dt in ('F32', 'F16', 'BF16', 'F64'):
            raw = arr(vals, dt)
        else:
            raw = arr([0, 1, -1 if dt != 'U8' else 7, 127, 2, 3], dt)
        put('safetensors', st_bytes([('t', dt, [2, 3], raw)], {'format': 'pt'}))
    put('safetensors', st_bytes([('scalar', 'F32', [], arr([1.0], 'F32')), ('empty', 'F32', [0, 4], b'')]))
    put('safetensors', st_bytes([('a', 'I64', [1], arr([2**40], 'I64')), ('b', 'BOOL', [1], b'\x02')]))
    put('safetensors', st_bytes([('odd', 'U8', [1], b'\x01'), ('half', 'F16', [2], arr([1, 2], 'F16'))], pad=False))
    put('safetensors', st_bytes([('x', 'F32', [1, 1, 1, 1, 1, 1, 1, 1], arr([1], 'F32'))]))
    put('safetensors', st_bytes([]))
    put('safetensors', st_bytes([], {'format': 'pt', 'k': 'v'}))
    # hand-edited headers: gaps, overlaps, duplicates, bad offsets, unknown dtype, metadata kinds
    for h in ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
              '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}',
              '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
              '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}',
              '{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}',
              '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,400]}}',
              '{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}',
              '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}',
              '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}',
              '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}',
              '{"a":[]}', '[]', '{"__metadata__":{"format":1}}', '{"__metadata__":[]}',
              '{"__metadata__":{},"__metadata__":{}}', '{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
              '{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 'not json']:
        put('safetensors', struct.pack('<Q', len(h)) + h.encode() + b'\0' * 8)
    put('safetensors', b'')
    put('safetensors', b'\x07\0\0\0')
    put('safetensors', struct.pack('<Q', 2**63) + b'{}')
    put('safetensors', struct.pack('<Q', 100) + b'{}')


# ------------------------------------------------------------------ config and model directories

TINY = {'vocab_size': 40, 'd_model': 8, 'd_kv': 4, 'd_ff': 12, 'num_layers': 1, 'num_heads': 2,
        'relative_attention_num_buckets': 8, 'relative_attention_max_distance': 16, 'layer_norm_epsilon': 1e-6,
        'feed_forward_proj': 'relu', 'tie_word_embeddings': True, 'model_type': 't5',
        'decoder_start_token_id': 0, 'pad_token_id': 0, 'eos_token_id': 1}


def tiny_model(cfg, dtype='f32'):
    d = tempfile.mkdtemp(dir=TMP)
    with open(os.path.join(d, 'c.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    out = os.path.join(d, 'm')
    run('init-model', '--config', os.path.join(d, 'c.json'), '--out', out, '--dtype', dtype, '--seed', '3')
    return read(os.path.join(out, 'config.json')), read(os.path.join(out, 'model.safetensors'))


def seeds_config_and_models():
    for p in sorted(glob.glob('golden/cases/*/model/config.json') + glob.glob('tests/data/configs/*.json') +
                    ['examples/tiny-t5/config.json']):
        put('config', read(p))
    put('config', '{}')
    put('config', '{"model_type":"mt5","feed_forward_proj":"gated-gelu","dense_act_fn":"gelu_pytorch_tanh",'
                  '"is_gated_act":true,"num_decoder_layers":null,"tie_word_embeddings":false}')
    put('config', '{"model_type":"bert"}')
    put('config', '{"feed_forward_proj":"gated-silu"}')
    put('config', '{"feed_forward_proj":"relu","dense_act_fn":"gelu_new"}')
    put('config', '{"d_model":0}')
    put('config', '{"d_model":16777217}')
    put('config', '{"num_heads":16777216,"d_kv":16777216}')
    put('config', '{"relative_attention_num_buckets":5}')
    put('config', '{"relative_attention_max_distance":16}')
    put('config', '{"layer_norm_epsilon":1e999}')
    put('config', '{"layer_norm_epsilon":"1e-6"}')
    put('config', '{"pad_token_id":32128}')
    put('config', '{"vocab_size":2.5}')
    put('config', '{"tie_word_embeddings":1}')
    small = [TINY,
             dict(TINY, feed_forward_proj='gated-gelu', tie_word_embeddings=False, num_decoder_layers=2),
             dict(TINY, num_heads=1, d_kv=1, relative_attention_num_buckets=4, relative_attention_max_distance=3),
             dict(TINY, num_heads=3, d_kv=5, d_model=6, relative_attention_max_distance=1000)]
    for c in small:
        put('config', json.dumps(c, indent=2))
    for i, (c, dt) in enumerate([(small[0], 'f32'), (small[1], 'bf16'), (small[2], 'f32'), (small[3], 'f32')]):
        cj, st = tiny_model(c, dt)
        put('model_dir', cj + SEP + st)
        if i == 0:
            # F16 weights and a sharded copy: same tensors, other containers
            tensors, meta = st_read(st)
            f16 = [(n, 'F16', s, arr(np.frombuffer(r, '<f4'), 'F16')) for n, _, s, r in tensors]
            put('model_dir', cj + SEP + st_bytes(f16, meta))
            put('model_dir', cj + SEP + st_bytes([(n, 'F32', s, r) for n, _, s, r in tensors if n != 'shared.weight'] +
                                                 [('encoder.embed_tokens.weight', 'F32', [40, 8],
                                                   dict((n, r) for n, _, s, r in tensors)['shared.weight'])], meta))
            half = len(tensors) // 2
            shards = [tensors[:half], tensors[half:]]
            names = ['model-%05d-of-%05d.safetensors' % (k + 1, 2) for k in range(2)]
            index = {'metadata': {'total_size': sum(len(r) for *_, r in tensors)},
                     'weight_map': {n: names[k] for k in range(2) for n, *_ in shards[k]}}
            put('model_dir', cj + SEP + json.dumps(index, indent=2).encode() + SEP +
                SEP.join(st_bytes(s, meta) for s in shards))
            # a NaN and an Inf weight (the loader refuses them, naming the tensor)
            for bad in (np.nan, np.inf):
                t2 = [(n, d, s, r if n != 'decoder.final_layer_norm.weight'
                       else arr([1, 1, bad, 1, 1, 1, 1, 1], 'F32')) for n, d, s, r in tensors]
                put('model_dir', cj + SEP + st_bytes(t2, meta))
            put('model_dir', cj)                      # no weights
            put('model_dir', cj + SEP + st[:len(st) // 2])   # truncated weights


# ------------------------------------------------------------------ data

def seeds_data():
    lines = read('examples/sentiment/train.jsonl').splitlines()
    jl = b'\n'.join(lines[:4]) + b'\n'
    opts = [0x00, 0x04, 0x18, 0x68]
    for o in opts:
        put('data', bytes([o]) + jl)
    tsv = b'input\ttarget\nreview: good\tpositive\r\nreview: bad\tnegative\n\n   \nx\ty\n'
    for o in (0x01, 0x02, 0x03, 0x05, 0x19):
        put('data', bytes([o]) + tsv)
    for o, body in [(0x00, b'{"input": "a", "target": 1}\n{"input": -7, "target": "b"}\n'),
                    (0x80, b'{"text": "caf\xc3\xa9 \xe2\x82\xac <extra_id_0>", "label": "\xf0\x9f\x98\x80"}\n'),
                    (0x00, b'{"input": "a"}\n'), (0x04, b'{"input": "a"}\n'), (0x00, b'{"input": "a", "target": null}\n'),
                    (0x00, b'[1,2]\n'), (0x00, b'{"input": "a\\u0000", "target": "b"}\n'), (0x00, b'{"input": \n'),
                    (0x00, b''), (0x00, b'\n\n  \n'), (0x01, b'a\tb\tc\n'), (0x01, b'no tab\n'), (0x05, b'no tab\n'),
                    (0x01, b'a\x00b\tc\n'), (0x01, b'\xff\xfe\tx\n'), (0x01, b'a\t\xed\xa0\x80\n'),
                    (0x03, b'  {"input": "x", "target": "y"}'), (0x03, b'x\ty'), (0x01, b'\t\n'),
                    (0x09, b'a b c d e f g h i j k l m n o p\tq r s t u v w x y z\n'),
                    (0x78, b'{"input": "' + b'word ' * 40 + b'", "target": "' + b'more ' * 20 + b'"}\n')]:
        put('data', bytes([o]) + body)


# ------------------------------------------------------------------ prompts, adapters, checkpoints

def npy(a, version=(1, 0), descr='<f4', fortran=False, shape=None):
    a = np.ascontiguousarray(a, np.float32)
    shape = a.shape if shape is None else shape
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    pre = 10 if version[0] == 1 else 12
    h = d + ' ' * (-(pre + len(d) + 1) % 64) + '\n'
    ln = struct.pack('<H', len(h)) if version[0] == 1 else struct.pack('<I', len(h))
    return b'\x93NUMPY' + bytes(version) + ln + h.encode() + a.tobytes()


def seeds_prompt_and_peft():
    P = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 7
    put('prompt', npy(P))
    put('prompt', npy(P, (2, 0)))
    put('prompt', npy(P, (3, 0)))
    put('prompt', npy(P, (1, 1)))
    put('prompt', npy(P, descr='<f8'))
    put('prompt', npy(P, descr='>f4'))
    put('prompt', npy(P, fortran=True))
    put('prompt', npy(P.reshape(12), shape=(12,)))
    put('prompt', npy(P, shape=(3, 5)))
    put('prompt', npy(P, shape=(0, 4)))
    put('prompt', npy(np.array([[np.nan, 1.0]], np.float32)))
    put('prompt', b'\x93NUMPY\x01\x00\x10\x00{"descr":"<f4"}\n')
    put('prompt', b"\x93NUMPY\x01\x00\x46\x00{'shape': (1, 1), 'fortran_order': False, 'descr': '<f4', 'x': 1}     \n\0\0\0\0")
    for dt in ('F32', 'F16', 'BF16', 'F64'):
        put('prompt', st_bytes([('prompt_embeddings', dt, [3, 4], arr(P, dt))], {'format': 'pt'}))
    put('prompt', st_bytes([('prompt_embeddings', 'F32', [12], arr(P, 'F32'))]))
    put('prompt', st_bytes([('other', 'F32', [3, 4], arr(P, 'F32'))]))
    put('prompt', st_bytes([('prompt_embeddings', 'F32', [1, 2], arr([np.inf, 0], 'F32'))]))
    # the use-after-free of load_prompt_tensor: an integer prompt_embeddings (kept by name)
    put('prompt', st_bytes([('prompt_embeddings', 'I32', [2, 2], arr([1, 2, 3, 4], 'I32'))], {'format': 'pt'}),
        'uaf-int-dtype-prompt_embeddings')

    gold = 'golden/cases/relu_tied_prepend/peft_adapter/'
    cfg = json.loads(read(gold + 'adapter_config.json'))
    st = read(gold + 'adapter_model.safetensors')
    put('peft', read(gold + 'adapter_config.json') + SEP + st)
    for change in [{'num_transformer_submodules': 1, 'num_virtual_tokens': 8}, {'num_transformer_submodules': None},
                   {'num_transformer_submodules': None, 'task_type': 'CAUSAL_LM', 'num_virtual_tokens': 8},
                   {'token_dim': None}, {'token_dim': 33}, {'num_virtual_tokens': 0}, {'peft_type': 'LORA'},
                   {'num_virtual_tokens': 2**31}, {'num_transformer_submodules': 3}, {'peft_type': None}]:
        put('peft', json.dumps(dict(cfg, **change), indent=2).encode() + SEP + st)
    put('peft', json.dumps(cfg).encode())
    put('peft', json.dumps(cfg).encode() + SEP + SEP + b'PK\x03\x04 pickle')
    put('peft', b'[]' + SEP + st)
    put('peft', json.dumps(dict(cfg, num_transformer_submodules=1, num_virtual_tokens=2, token_dim=2)).encode() + SEP +
        st_bytes([('prompt_embeddings', 'I64', [2, 2], arr([1, 2, 3, 4], 'I64'))]))
    # written by t5pt itself: train a few steps on the shipped tiny model
    data = os.path.join(TMP, 'train.jsonl')
    with open(data, 'wb') as f:
        f.write(b'\n'.join(read('examples/sentiment/train.jsonl').splitlines()[:6]) + b'\n')
    for k, (optim, extra) in enumerate([('adafactor', []), ('adamw', ['--valid', data]),
                                        ('adafactor-t5x', ['--valid', data, '--labels', 'positive,negative'])]):
        out = os.path.join(TMP, 'run%d' % k)
        run('train', '--model', 'examples/tiny-t5', '--train', data, '--out', out, '--prompt-len', '3',
            '--batch', '4', '--steps', '2', '--optim', optim, '--checkpoint-every', '1', *extra)
        put('checkpoint', read(os.path.join(out, 'checkpoint.safetensors')))
        if k == 0:
            put('peft', read(os.path.join(out, 'adapter_config.json')) + SEP +
                read(os.path.join(out, 'adapter_model.safetensors')))
            put('prompt', read(os.path.join(out, 'adapter_model.safetensors')))
    ck = read(os.path.join(TMP, 'run1', 'checkpoint.safetensors'))
    tensors, meta = st_read(ck)
    bad = [(n, d, s, r if n != 'prompt' else arr(np.full(s, np.nan), 'F32')) for n, d, s, r in tensors]
    put('checkpoint', st_bytes(bad, meta))
    put('checkpoint', st_bytes([t for t in tensors if t[0] != 'optim_state'], meta))
    put('checkpoint', st_bytes([t for t in tensors if t[0] != 'best_prompt'], meta))
    put('checkpoint', st_bytes([(n, d, s, r if n != 'perm' else arr([5, 0, 1, 2, 3, 99], 'I32')) for n, d, s, r in tensors], meta))
    put('checkpoint', st_bytes([(n, d, s, r if n != 'perm' else arr([1, 0, 1, 2, 3, 4], 'I32')) for n, d, s, r in tensors], meta))
    put('checkpoint', st_bytes([(n, 'F16', s, arr(np.frombuffer(r, '<f4'), 'F16')) if n == 'prompt' else (n, d, s, r)
                                for n, d, s, r in tensors], meta))


def main():
    if not os.path.exists(T5PT):
        sys.exit('build t5pt first (make)')
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    seeds_json()
    seeds_safetensors()
    seeds_config_and_models()
    seeds_data()
    seeds_prompt_and_peft()
    shutil.rmtree(TMP)
    for k in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, k))
        print('%-12s %3d seeds, %6d bytes' % (k, len(files), sum(os.path.getsize(os.path.join(OUT, k, f)) for f in files)))


if __name__ == '__main__':
    main()
