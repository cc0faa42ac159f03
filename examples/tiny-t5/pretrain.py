#!/usr/bin/env python3
"""Pre-trains the tiny T5 shipped in examples/tiny-t5 (config.json here) so the demo
has a frozen model that knows something, as a real checkpoint would.

No pretrained weights can be downloaded here, so we make a miniature of the situation
prompt tuning is for: a frozen multi-task model whose tasks are selected by a text
prefix. The model is pre-trained (all weights, PyTorch, our golden/reference.py T5) on
a synthetic mixture over short product reviews:

    "sentiment: <review>"  -> "positive" | "negative"
    "opposite: <review>"   -> the other label (so the label words alone do not decide)
    "topic: <review>"      -> what the review is about ("food", "device", ...)

The demo task (examples/sentiment/*.jsonl) uses the prefix "review:", which the model
never saw: frozen, it cannot tell whether sentiment or its opposite is asked, and rank
classification sits near chance. Prompt tuning has to find a prompt that selects the
sentiment task, using only n x 64 trainable numbers.

Run from the repository root:  /usr/bin/python3 examples/tiny-t5/pretrain.py
Writes examples/tiny-t5/model.safetensors (bf16, HF names). Deterministic for a given
torch version; the committed file is what the demo uses, so the demo needs no Python.
"""
import json
import math
import os
import random
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "golden"))
sys.path.insert(0, os.path.dirname(HERE))
import reference  # noqa: E402  (our PyTorch T5)
import make_task  # noqa: E402  (the review generator)
import sentencepiece  # noqa: E402

TOPIC = {"the kettle": "kitchen", "the lamp": "home", "this chair": "home", "the soup": "food",
         "the pizza": "food", "the coffee": "food", "this phone": "device", "the headphones": "device",
         "the battery": "device", "the camera": "device", "this book": "media", "the movie": "media",
         "the game": "media", "the hotel room": "travel", "the service": "travel", "this jacket": "clothing"}


def init_weights(cfg, gen):
    """HF T5 initialisation (T5PreTrainedModel._init_weights, factor 1)."""
    d, dkv, H, f, V = cfg.d_model, cfg.d_kv, cfg.num_heads, cfg.d_ff, cfg.vocab_size
    W = {}

    def n(shape, std):
        return torch.randn(*shape, generator=gen) * std

    W["shared.weight"] = n((V, d), 1.0)
    for stack, layers in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
        W[stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = n((cfg.num_buckets, H), d ** -0.5)
        for i in range(layers):
            p = "%s.block.%d.layer." % (stack, i)
            atts = ["0.SelfAttention"] + (["1.EncDecAttention"] if stack == "decoder" else [])
            for a in atts:
                W[p + a + ".q.weight"] = n((H * dkv, d), (d * dkv) ** -0.5)
                W[p + a + ".k.weight"] = n((H * dkv, d), d ** -0.5)
                W[p + a + ".v.weight"] = n((H * dkv, d), d ** -0.5)
                W[p + a + ".o.weight"] = n((d, H * dkv), (H * dkv) ** -0.5)
                W[p + a[0] + ".layer_norm.weight"] = torch.ones(d)
            ff = "2" if stack == "decoder" else "1"
            W[p + ff + ".DenseReluDense.wi.weight"] = n((f, d), d ** -0.5)
            W[p + ff + ".DenseReluDense.wo.weight"] = n((d, f), f ** -0.5)
            W[p + ff + ".layer_norm.weight"] = torch.ones(d)
        W[stack + ".final_layer_norm.weight"] = torch.ones(d)
    return W


def example(rng):
    label = rng.choice(["positive", "negative"])
    subject = rng.choice(make_task.SUBJECTS)
    words = make_task.POS if label == "positive" else make_task.NEG
    a, a2 = rng.sample(words, 2)
    text = rng.choice(make_task.TEMPLATES).format(s=subject, a=a, a2=a2)
    task = rng.choice(["sentiment", "opposite", "topic"])
    if task == "sentiment":
        target = label
    elif task == "opposite":
        target = "negative" if label == "positive" else "positive"
    else:
        target = TOPIC[subject]
    return task + ": " + text, target


def batch(sp, rng, B):
    src, tgt = [], []
    for _ in range(B):
        s, t = example(rng)
        src.append(sp.encode(s) + [1])
        tgt.append(sp.encode(t) + [1])
    T, L = max(map(len, src)), max(map(len, tgt))
    ids = torch.tensor([s + [0] * (T - len(s)) for s in src])
    mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in src])
    labels = torch.tensor([t + [-100] * (L - len(t)) for t in tgt])
    return ids, mask, labels


def bf16_bytes(t):
    u = t.contiguous().to(torch.bfloat16).view(torch.int16)
    return u.numpy().tobytes()


def save_bf16(path, W):
    header, blobs, off = {}, [], 0
    for name in sorted(W):
        b = bf16_bytes(W[name].detach())
        header[name] = {"dtype": "BF16", "shape": list(W[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    cfg_json = json.load(open(os.path.join(HERE, "config.json")))
    cfg = reference.T5Config(cfg_json)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(ROOT, "assets", "t5", "spiece.model"))
    gen = torch.Generator().manual_seed(1234)
    W = {k: v.requires_grad_(True) for k, v in init_weights(cfg, gen).items()}
    opt = torch.optim.Adam(W.values(), lr=3e-3)
    rng = random.Random(7)
    steps = int(os.environ.get("STEPS", "1500"))
    P0 = torch.zeros(0, cfg.d_model)
    for step in range(1, steps + 1):
        for g in opt.param_groups:   # linear decay
            g["lr"] = 3e-3 * (1 - step / (steps + 1))
        ids, mask, labels = batch(sp, rng, 64)
        model = reference.T5Ref(cfg, W)
        out = model.forward(ids, mask, labels, P0, "prepend")
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        if step % 100 == 0 or step == 1:
            with torch.no_grad():
                pred = out["logits"].argmax(-1)
                ok = ((pred == labels) | (labels == -100)).all(-1).float().mean().item()
            print("step %d loss %.4f exact %.3f" % (step, out["loss"].item(), ok), flush=True)
    save_bf16(os.path.join(HERE, "model.safetensors"), W)
    print("wrote", os.path.join(HERE, "model.safetensors"))


if __name__ == "__main__":
    main()
