#!/usr/bin/python3
"""Regenerate every golden case: golden/cases/* and golden/optim/*.

    /usr/bin/python3 golden/export.py            # everything, in place (old output removed)
    /usr/bin/python3 golden/export.py NAME ...   # only these cases (no cleaning)
    /usr/bin/python3 golden/export.py bf16       # only the bf16 reference cases (golden/bf16/)

Deterministic: fixed seeds, single thread.  See golden/README.md.
"""
import json
import os
import shutil
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import reference as R  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

CASES_DIR = os.path.join(HERE, "cases")
OPTIM_DIR = os.path.join(HERE, "optim")
GREEDY_STEPS = 6
TRANSFORMERS_VERSION = "4.44.2"

# ----------------------------------------------------------------------------
# safetensors writer (format: 8-byte LE header size, JSON header, raw LE data)

ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.float64: "F64"}
# safetensors (Rust) Dtype enum order; the writer puts larger-discriminant dtypes first,
# ties broken by name.  For a single-dtype file this is plain name order.
ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
            "I32", "U32", "F32", "F64", "I64", "U64"]


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def st_serialize(tensors, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(ST_DTYPE[kv[1].dtype]), kv[0]))
    header = {}
    if metadata is None:
        metadata = {"format": "pt"}
    header["__metadata__"] = metadata
    blobs, off = [], 0
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(blobs)


def st_write(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(st_serialize(tensors, metadata))


def st_read(path):
    """Tiny reader used to round-trip check what we wrote."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    inv = {v: k for k, v in ST_DTYPE.items()}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = inv[info["dtype"]]
        raw = bytearray(data[base + a:base + b])
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.zeros(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------
# random T5 models

def hf_config(c):
    """config.json content as T5Config.save_pretrained writes it (diff against
    PretrainedConfig defaults, sorted keys, indent 2).  c: our case model spec."""
    gated = c["ffn"] == "gated-gelu"
    cfg = {
        "architectures": ["T5ForConditionalGeneration"],
        "classifier_dropout": 0.0,
        "d_ff": c["d_ff"],
        "d_kv": c["d_kv"],
        "d_model": c["d_model"],
        "decoder_start_token_id": 0,
        "dense_act_fn": "gelu_new" if gated else "relu",
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": c["ffn"],
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "is_gated_act": gated,
        "layer_norm_epsilon": c.get("eps", 1e-6),
        "model_type": "t5",
        "num_decoder_layers": c["num_decoder_layers"],
        "num_heads": c["num_heads"],
        "num_layers": c["num_layers"],
        "pad_token_id": 0,
        "relative_attention_max_distance": c.get("max_distance", 128),
        "relative_attention_num_buckets": c.get("num_buckets", 32),
        "torch_dtype": {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[c.get("dtype", "F32")],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": c["vocab_size"],
    }
    # HF's to_diff_dict drops tie_word_embeddings when it equals the default (True);
    # untied models always carry "tie_word_embeddings": false.  Some tied cases spell
    # out true to test that too.
    if not c["tied"]:
        cfg["tie_word_embeddings"] = False
    elif c.get("explicit_tie", False):
        cfg["tie_word_embeddings"] = True
    return cfg


def make_weights(c, gen):
    """Random weights in HF state_dict (module) order; scales chosen so activations are O(1),
    attention is far from uniform and the relative bias matters."""
    d, dk, H, dff, V = c["d_model"], c["d_kv"], c["num_heads"], c["d_ff"], c["vocab_size"]
    inner = H * dk
    nb = c.get("num_buckets", 32)

    def N(shape, std):
        return torch.randn(*shape, generator=gen) * std

    def ln():
        return 1.0 + 0.2 * torch.randn(d, generator=gen)

    W = {}
    shared = N((V, d), 1.0)
    W["shared.weight"] = shared
    W["encoder.embed_tokens.weight"] = shared

    def attn(p, rel):
        W[p + ".q.weight"] = N((inner, d), 2.0 * (d * dk) ** -0.5)
        W[p + ".k.weight"] = N((inner, d), d ** -0.5)
        W[p + ".v.weight"] = N((inner, d), d ** -0.5)
        W[p + ".o.weight"] = N((d, inner), inner ** -0.5)
        if rel:
            W[p + ".relative_attention_bias.weight"] = N((nb, H), 1.0)

    def ff(p):
        if c["ffn"] == "gated-gelu":
            W[p + ".wi_0.weight"] = N((dff, d), d ** -0.5)
            W[p + ".wi_1.weight"] = N((dff, d), d ** -0.5)
        else:
            W[p + ".wi.weight"] = N((dff, d), d ** -0.5)
        W[p + ".wo.weight"] = N((d, dff), dff ** -0.5)

    for i in range(c["num_layers"]):
        p = "encoder.block.%d" % i
        attn(p + ".layer.0.SelfAttention", i == 0)
        W[p + ".layer.0.layer_norm.weight"] = ln()
        ff(p + ".layer.1.DenseReluDense")
        W[p + ".layer.1.layer_norm.weight"] = ln()
    W["encoder.final_layer_norm.weight"] = ln()
    W["decoder.embed_tokens.weight"] = shared
    for i in range(c["num_decoder_layers"]):
        p = "decoder.block.%d" % i
        attn(p + ".layer.0.SelfAttention", i == 0)
        W[p + ".layer.0.layer_norm.weight"] = ln()
        attn(p + ".layer.1.EncDecAttention", False)
        W[p + ".layer.1.layer_norm.weight"] = ln()
        ff(p + ".layer.2.DenseReluDense")
        W[p + ".layer.2.layer_norm.weight"] = ln()
    W["decoder.final_layer_norm.weight"] = ln()
    if not c["tied"]:
        W["lm_head.weight"] = N((V, d), 2.0 * d ** -0.5)
    return W


def round_dtype(W, dtype_name):
    """Weights as stored (F32/BF16/F16) and the fp32 values the reference computes with."""
    dt = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[dtype_name]
    stored = {k: v.to(dt) for k, v in W.items()}
    compute = {k: v.float() for k, v in stored.items()}
    return stored, compute


def save_model(model_dir, c, stored):
    os.makedirs(model_dir)
    write_json(os.path.join(model_dir, "config.json"), hf_config(c))
    names = list(stored.keys())
    emb = c.get("embed_names", "all")
    drop = {"all": [], "shared": ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"],
            "encoder": ["shared.weight", "decoder.embed_tokens.weight"],
            "decoder": ["shared.weight", "encoder.embed_tokens.weight"]}[emb]
    names = [n for n in names if n not in drop]
    # safetensors refuses aliased storage; give every name its own copy (HF writes copies)
    tensors = {n: stored[n].clone() for n in names}
    shards = c.get("shards", 1)
    if shards == 1:
        st_write(os.path.join(model_dir, "model.safetensors"), tensors)
        return
    # split in state_dict order into `shards` pieces of roughly equal byte size
    sizes = [tensors[n].numel() * tensors[n].element_size() for n in names]
    total = sum(sizes)
    target = total / shards
    groups, cur, acc = [], [], 0
    for n, s in zip(names, sizes):
        if cur and acc + s > target and len(groups) < shards - 1:
            groups.append(cur)
            cur, acc = [], 0
        cur.append(n)
        acc += s
    groups.append(cur)
    assert len(groups) == shards, (len(groups), shards)
    weight_map = {}
    for i, g in enumerate(groups):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        st_write(os.path.join(model_dir, fn), {n: tensors[n] for n in g})
        for n in g:
            weight_map[n] = fn
    write_json(os.path.join(model_dir, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map})


# ----------------------------------------------------------------------------
# inputs

def make_inputs(c, gen):
    V = c["vocab_size"]
    lens, llens = c["lens"], c["label_lens"]
    B, T, L = len(lens), max(lens), c.get("L", max(llens))
    if "T" in c:
        T = c["T"]
    ids = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lens):
        ids[b, :n] = torch.randint(2, V, (n,), generator=gen)
        ids[b, n - 1] = 1  # tokenized text ends with </s>
        mask[b, :n] = 1
    labels = torch.full((B, L), -100, dtype=torch.long)
    for b, n in enumerate(llens):
        labels[b, :n] = torch.randint(2, V, (n,), generator=gen)
        labels[b, n - 1] = 1
    P = torch.randn(c["n"], c["d_model"], generator=gen)
    return ids, mask, labels, P


def make_candidates(V, gen):
    lens = [3, 2, 4]
    Lc = max(lens)
    cand = torch.full((len(lens), Lc), -100, dtype=torch.long)
    for i, n in enumerate(lens):
        cand[i, :n] = torch.randint(2, V, (n,), generator=gen)
        cand[i, n - 1] = 1
    return cand


# ----------------------------------------------------------------------------
# checks

def rel_err(a, b):
    a = a.double()
    b = b.double()
    den = b.abs().max().item()
    num = (a - b).abs().max().item() if a.numel() else 0.0
    return num / den if den > 0 else num


def check_case(name, model32, model64, ids, mask, labels, P, placement, K, out32, grad32):
    """Sanity checks before writing.  Returns fp32-vs-fp64 relative error per tensor."""
    # 1) loss == mean over valid labels of -log softmax at the label (or the case's loss:
    #    sum / mean of that plus z * logsumexp^2)
    lg = out32["logits"].double()
    logp = torch.log_softmax(lg, -1)
    valid = labels != -100
    tok = torch.where(valid, labels, torch.zeros_like(labels))
    per = -logp.gather(-1, tok[..., None])[..., 0]
    spec = model32.loss_spec
    if spec is not None:
        per = per + spec["z_loss"] * torch.logsumexp(lg, -1) ** 2
    manual = (per * valid).sum()
    if spec is None or spec["kind"] == "mean":
        manual = manual / valid.sum()
    assert abs(manual.item() - out32["loss"].item()) <= 1e-5 * max(1.0, abs(manual.item())), \
        (name, manual.item(), out32["loss"].item())
    # 2) autograd in float64 vs central finite differences on a few coordinates
    P64 = P.double()
    loss64, grad64 = model64.loss_and_grad(ids, mask, labels, P64, placement, K)
    g = torch.Generator().manual_seed(1234)
    n, d = P.shape
    coords = [(int(torch.randint(0, n, (1,), generator=g)), int(torch.randint(0, d, (1,), generator=g)))
              for _ in range(5)]
    coords.append(tuple(int(x) for x in divmod(int(grad64.abs().argmax()), d)))
    h = 1e-6
    gmax = grad64.abs().max().item()
    for (i, j) in coords:
        Pp = P64.clone()
        Pp[i, j] += h
        Pm = P64.clone()
        Pm[i, j] -= h
        with torch.no_grad():
            lp = model64.forward(ids, mask, labels, Pp, placement, K)["loss"].item()
            lm = model64.forward(ids, mask, labels, Pm, placement, K)["loss"].item()
        fd = (lp - lm) / (2 * h)
        err = abs(fd - grad64[i, j].item()) / gmax
        assert err < 1e-5, (name, "finite difference", i, j, fd, grad64[i, j].item(), err)
    # 3) fp32 vs fp64 of every tensor: tells how much of the tolerance fp32 itself uses
    with torch.no_grad():
        out64 = model64.forward(ids, mask, labels, P64, placement, K)
    errs = {}
    for k, v in out32.items():
        if v.dtype.is_floating_point:
            errs[k] = rel_err(v, out64[k])
        else:
            assert torch.equal(v, out64[k]), (name, k)
    errs["prompt_grad"] = rel_err(grad32, grad64)
    return errs


# ----------------------------------------------------------------------------
# model cases

DEF_TOL = 1e-5
GRAD_TOL = 1e-4
TRAJ_TOL = 1e-4

BASE = dict(vocab_size=96, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2,
            num_decoder_layers=2, ffn="relu", tied=True, n=4, placement="prepend",
            lens=[7, 5], label_lens=[5, 3])

# paper defaults (Lester et al. 2021): Adafactor lr 0.3, constant, wd 1e-5, no momentum
ADAFACTOR_PAPER = {"kind": "adafactor", "lr": 0.3, "eps": [1e-30, 1e-3], "clip_threshold": 1.0,
                   "decay_rate": -0.8, "beta1": None, "weight_decay": 1e-5, "scale_parameter": False,
                   "relative_step": False, "warmup_init": False,
                   "schedule": {"kind": "constant", "warmup_steps": 0, "total_steps": 0}}


# The paper's code: T5X Adafactor as prompt_tuning/configs/models/t5_1_1_prompt.gin sets it
# (decay_rate 0.8, step_offset 0, multiply_by_parameter_scale False, weight_decay_rate 1e-5;
# the rest T5X defaults) with the constant lr 0.3 of configs/runs/prompt_finetune.gin.
ADAFACTOR_T5X_PAPER = dict(ADAFACTOR_PAPER, kind="adafactor-t5x", min_dim_size_to_factor=128)
LOSS_PAPER = {"kind": "sum", "z_loss": 1e-4}


def C(**kw):
    c = dict(BASE)
    c.update(kw)
    return c


CASES = {
    "relu_tied_prepend": C(
        description="relu FFN, tied head (rescale d^-0.5, shared head), prepend, one padded row; "
                    "config omits tie_word_embeddings (HF default true); has peft_adapter/",
        seed=1, peft=True),
    "gelu_untied_prepend": C(
        description="gated-gelu FFN (gelu_new tanh approx), untied lm_head.weight, prepend",
        ffn="gated-gelu", tied=False, d_ff=48, n=5, seed=2),
    "dec_layers_differ": C(
        description="num_layers=3, num_decoder_layers=1 (gated-gelu, untied)",
        ffn="gated-gelu", tied=False, num_layers=3, num_decoder_layers=1, seed=3),
    "heads_dkv_ne_dmodel": C(
        description="num_heads*d_kv = 3*12 = 36 != d_model 32; only shared.weight stored "
                    "(no encoder/decoder.embed_tokens), tie_word_embeddings spelled out true",
        num_heads=3, d_kv=12, embed_names="shared", explicit_tie=True, seed=4),
    "rel_buckets_small": C(
        description="relative_attention_num_buckets 8, max_distance 16, Tenc 26 and L 20 exceed "
                    "max_distance (log buckets and clamp hit in both stacks); only "
                    "encoder.embed_tokens.weight stored",
        num_buckets=8, max_distance=16, n=6, lens=[20, 13], label_lens=[20, 9],
        embed_names="encoder", seed=5),
    "rel_default_long": C(
        description="default 32 buckets / max_distance 128 with Tenc = 8+125 = 133 > 128 (clamp), "
                    "L = 18 > 16 (decoder log buckets); tiny model; only decoder.embed_tokens.weight stored",
        d_model=16, d_kv=8, num_heads=2, d_ff=32, num_layers=1, num_decoder_layers=1,
        vocab_size=64, n=8, lens=[125], label_lens=[18], embed_names="decoder", seed=6),
    "padding": C(
        description="3 rows of lengths 9/5/2, labels 7 / 4 / 1 valid (row 2 mostly -100)",
        lens=[9, 5, 2], label_lens=[7, 4, 1], seed=7, explicit_tie=True),
    "append": C(
        description="append placement: prompt goes after each row's real tokens, before its padding",
        placement="append", lens=[8, 5, 3], label_lens=[4, 5, 2], seed=8),
    "at_k": C(
        description="at:K placement with K=4 > length 3 of row 1 (k_b = min(K, len_b))",
        placement="at", at=4, lens=[7, 3, 5], label_lens=[3, 4, 5], seed=9,
        ffn="gated-gelu", tied=False),
    "prompt_len1": C(
        description="prompt length 1", n=1, seed=10),
    "prompt_longer": C(
        description="prompt (12) longer than the input (4 / 2 tokens)", n=12, lens=[4, 2],
        label_lens=[3, 4], seed=11),
    "bf16_weights": C(
        description="BF16 weight file (gated-gelu untied); reference computes in fp32 from the "
                    "bf16-rounded values", ffn="gated-gelu", tied=False, dtype="BF16", seed=12),
    "f16_weights": C(
        description="F16 weight file (relu tied); reference computes in fp32 from the "
                    "f16-rounded values", dtype="F16", seed=13),
    "sharded": C(
        description="checkpoint in 3 shards + model.safetensors.index.json (gated-gelu untied)",
        ffn="gated-gelu", tied=False, shards=3, seed=14),
    # optimizer trajectories on a fixed batch
    "traj_adafactor": C(
        description="8 steps HF Adafactor, paper defaults (lr 0.3 constant, wd 1e-5, no beta1, "
                    "factored second moment because the prompt is 2-D)",
        seed=21, optim=dict(ADAFACTOR_PAPER, steps=8)),
    "traj_adafactor_t5x": C(
        description="8 steps T5X Adafactor variant, paper defaults: prompt [4,32] is not factored "
                    "(second-largest dim < 128), decoupled wd (1-wd)*p",
        seed=22, optim=dict(ADAFACTOR_PAPER, kind="adafactor-t5x", steps=8, min_dim_size_to_factor=128)),
    "traj_adamw": C(
        description="8 steps torch AdamW lr 0.05 wd 0.01 constant (gated-gelu untied)",
        ffn="gated-gelu", tied=False, seed=23,
        optim={"kind": "adamw", "lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
               "steps": 8, "schedule": {"kind": "constant", "warmup_steps": 0, "total_steps": 0}}),
    # the paper code's loss: sum over label tokens of CE + z * logsumexp^2 (T5X, Z_LOSS 1e-4)
    "loss_sum_zloss": C(
        description="summed cross-entropy + z-loss 1e-4 * logsumexp^2 per label token (T5X's loss as "
                    "the prompt-tuning configs use it), relu tied prepend",
        seed=31, loss=LOSS_PAPER),
    "loss_sum_zloss_strong": C(
        description="summed cross-entropy + z-loss 0.05 (large, so the z term moves the gradient by "
                    "~50%), at:K placement, gated-gelu untied",
        placement="at", at=3, lens=[6, 4, 5], label_lens=[4, 2, 3], seed=32, ffn="gated-gelu", tied=False,
        loss={"kind": "sum", "z_loss": 0.05}),
    "loss_mean_zloss": C(
        description="mean over label tokens of cross-entropy + z-loss 0.05 * logsumexp^2, append placement",
        placement="append", lens=[7, 4], label_lens=[3, 5], seed=33, loss={"kind": "mean", "z_loss": 0.05}),
    # the paper's recipe end to end: T5X Adafactor + summed loss with z-loss
    "traj_paper_recipe": C(
        description="8 steps of the paper's recipe: T5X Adafactor (unfactored [4,32], decay 0.8, clip 1, "
                    "no momentum, no parameter scale, wd 1e-5 not scaled by lr, lr 0.3 constant) on the "
                    "summed cross-entropy + z-loss 1e-4",
        seed=34, loss=LOSS_PAPER, optim=dict(ADAFACTOR_T5X_PAPER, steps=8)),
    "traj_paper_recipe_start_step": C(
        description="as traj_paper_recipe with the Adafactor step count starting at 1,100,000 (the "
                    "pretrained checkpoint's global step T5X keeps): beta2 ~ 0.99999, clipping active",
        seed=35, loss=LOSS_PAPER, optim=dict(ADAFACTOR_T5X_PAPER, steps=8, start_step=1100000)),
    "traj_adafactor_beta1_warmup": C(
        description="8 steps HF Adafactor with beta1 0.9, lr 0.3 under a linear schedule "
                    "(warmup 3, total 8)",
        seed=24, optim=dict(ADAFACTOR_PAPER, beta1=0.9, steps=8,
                            schedule={"kind": "linear", "warmup_steps": 3, "total_steps": 8})),
}


def fmt_errs(errs):
    return ", ".join("%s %.1e" % (k, v) for k, v in sorted(errs.items(), key=lambda kv: -kv[1])[:3])


def export_case(name, c):
    seed = c["seed"]
    for attempt in range(20):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        W = make_weights(c, gen)
        stored, W32 = round_dtype(W, c.get("dtype", "F32"))
        cfg_json = hf_config(c)
        cfg = R.T5Config(cfg_json)
        model32 = R.T5Ref(cfg, W32, loss=c.get("loss"))
        model64 = R.T5Ref(cfg, {k: v.double() for k, v in W32.items()}, loss=c.get("loss"))
        ids, mask, labels, P = make_inputs(c, gen)
        cand = make_candidates(c["vocab_size"], gen)
        placement, K = c["placement"], c.get("at")
        greedy, gap = model32.greedy(ids, mask, P, placement, K, GREEDY_STEPS)
        # argmax must be robust to fp32 reordering in C: demand a clear top-1
        if gap < 2e-3:
            continue
        if "optim" in c:
            traj = run_trajectory(model32, ids, mask, labels, P, placement, K, c["optim"])
            if traj is None:
                continue
            # the same trajectory in float64: how far fp32 noise drifts over the steps
            traj64 = run_trajectory(model64, ids, mask, labels, P.double(), placement, K, c["optim"],
                                    check_sign=False)
            traj_errs = {k: rel_err(a, b) for k, a, b in zip(("losses", "prompt_after", "grads"),
                                                            traj[1:], traj64[1:])}
        break
    else:
        raise RuntimeError(name + ": no seed gave a robust case")
    Pv = P.clone().requires_grad_(True)
    out = model32.forward(ids, mask, labels, Pv, placement, K)
    out["loss"].backward()
    grad32 = Pv.grad.detach().clone()
    out = {k: v.detach() for k, v in out.items()}
    errs = check_case(name, model32, model64, ids, mask, labels, P, placement, K, out, grad32)
    # fp32 itself must stay well inside the tolerance, or C cannot match
    for k, e in errs.items():
        tol = GRAD_TOL if k == "prompt_grad" else DEF_TOL
        assert e < tol / 5, (name, k, e)
    cnll = model32.candidate_nll(ids, mask, P, placement, K, cand)

    d = os.path.join(CASES_DIR, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    save_model(os.path.join(d, "model"), c, stored)
    st_write(os.path.join(d, "inputs.safetensors"),
             {"input_ids": ids, "attention_mask": mask, "labels": labels, "prompt_embeddings": P.float()})
    exp = {}
    for k, v in out.items():
        exp[k] = v.float().contiguous() if v.dtype.is_floating_point else v.contiguous()
    exp["prompt_grad"] = grad32
    exp["greedy_ids"] = greedy
    exp["candidate_labels"] = cand
    exp["candidate_nll"] = cnll.float()
    st_write(os.path.join(d, "expected.safetensors"), exp)
    tol = {}
    for k, v in exp.items():
        if v.dtype.is_floating_point:
            tol[k] = GRAD_TOL if k == "prompt_grad" else DEF_TOL
    case = {"description": c["description"], "placement": placement, "prompt_len": c["n"],
            "tolerances": tol, "greedy_steps": GREEDY_STEPS, "greedy_min_top2_gap": round(gap, 6),
            "fp32_vs_fp64_rel_err": {k: float("%.3g" % v) for k, v in errs.items()},
            "seed": seed}
    if placement == "at":
        case["at"] = K
    if "loss" in c:
        case["loss"] = c["loss"]
    if "optim" in c:
        spec, losses, after, grads = traj
        case["optim"] = spec
        case["tolerances"].update({"losses": TRAJ_TOL, "prompt_after": TRAJ_TOL, "grads": TRAJ_TOL})
        for k, v in traj_errs.items():
            assert v < TRAJ_TOL / 5, (name, "trajectory fp32 vs fp64", k, v)
        case["traj_fp32_vs_fp64_rel_err"] = {k: float("%.3g" % v) for k, v in traj_errs.items()}
        st_write(os.path.join(d, "trajectory.safetensors"),
                 {"losses": losses.float(), "prompt_after": after.float(), "grads": grads.float()})
    write_json(os.path.join(d, "case.json"), case)
    if c.get("peft"):
        write_peft(os.path.join(d, "peft_adapter"), c, P, gen)
    # round trip what we wrote
    back = st_read(os.path.join(d, "expected.safetensors"))
    for k, v in exp.items():
        assert torch.equal(back[k], v), (name, k)
    print("case %-28s loss %.4f  fp32-vs-fp64 worst: %s" % (name, out["loss"].item(), fmt_errs(errs)))


def run_trajectory(model, ids, mask, labels, P0, placement, K, spec, check_sign=True):
    """Returns (spec, losses [N], prompt_after [N,n,d], grads [N,n,d]) or None when a
    step-1 sign-like update would amplify fp32 noise (tiny gradient coordinates)."""
    N = spec["steps"]
    p = P0.clone()
    step = R.make_optimizer(spec, p)
    losses, after, grads = [], [], []
    for i in range(N):
        loss, g = model.loss_and_grad(ids, mask, labels, p, placement, K)
        # Unfactored Adafactor and Adam turn the first gradient into ~sign(g): a coordinate
        # whose |g| is at fp32 noise level would flip sign between implementations.
        if check_sign and i == 0 and g.abs().min() < 1e-3 * g.abs().max():
            return None
        losses.append(loss)
        grads.append(g)
        step(g, i)
        after.append(p.clone())
    return spec, torch.stack(losses), torch.stack(after), torch.stack(grads)


def write_peft(pdir, c, P, gen):
    """HF PEFT PROMPT_TUNING adapter for SEQ_2_SEQ_LM: num_transformer_submodules = 2, the
    embedding table has 2n rows and the encoder uses rows [0, n) (PEFT's forward takes
    prompts[:, :num_virtual_tokens]).  Rows [n, 2n) are filled with other random values so a
    loader that takes the wrong half fails."""
    os.makedirs(pdir)
    n, d = P.shape
    table = torch.cat([P.float(), torch.randn(n, d, generator=gen)], 0)
    st_write(os.path.join(pdir, "adapter_model.safetensors"), {"prompt_embeddings": table})
    cfg = {
        "auto_mapping": None,
        "base_model_name_or_path": "golden/cases/relu_tied_prepend/model",
        "inference_mode": True,
        "num_attention_heads": c["num_heads"],
        "num_layers": c["num_layers"],
        "num_transformer_submodules": 2,
        "num_virtual_tokens": n,
        "peft_type": "PROMPT_TUNING",
        "prompt_tuning_init": "RANDOM",
        "prompt_tuning_init_text": None,
        "revision": None,
        "task_type": "SEQ_2_SEQ_LM",
        "token_dim": d,
        "tokenizer_kwargs": None,
        "tokenizer_name_or_path": None,
    }
    write_json(os.path.join(pdir, "adapter_config.json"), cfg)


# ----------------------------------------------------------------------------
# pure optimizer cases

def OPT(kind="adafactor", **kw):
    if kind == "adamw":
        s = {"kind": "adamw", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
             "schedule": {"kind": "constant", "warmup_steps": 0, "total_steps": 0}}
    else:
        s = dict(ADAFACTOR_PAPER)
        s["kind"] = kind
        if kind == "adafactor-t5x":
            s["min_dim_size_to_factor"] = 128
    s.update(kw)
    return s


OPTIM_CASES = {
    # name: (shape, spec)
    "adafactor_defaults": ((8, 16), OPT(steps=6)),
    "adafactor_wd": ((8, 16), OPT(steps=6, weight_decay=0.05)),
    "adafactor_beta1": ((8, 16), OPT(steps=6, beta1=0.9)),
    "adafactor_scale_parameter": ((8, 16), OPT(steps=6, scale_parameter=True)),
    "adafactor_relative_step": ((8, 16), OPT(steps=6, lr=None, scale_parameter=True, relative_step=True)),
    # warmup_init steps are ~1e-6 * step relative to RMS(p); with |p| ~ 1e-7 the
    # eps2 = 1e-3 floor of the parameter scale takes over and the steps become visible
    "adafactor_warmup_init": ((8, 16), OPT(steps=6, lr=None, scale_parameter=True, relative_step=True,
                                           warmup_init=True, p0_scale=1e-7)),
    "adafactor_1d": ((24,), OPT(steps=6)),
    "adafactor_linear": ((8, 16), OPT(steps=6, schedule={"kind": "linear", "warmup_steps": 2,
                                                         "total_steps": 6})),
    "adafactor_t5x_unfactored": ((100, 64), OPT("adafactor-t5x", steps=6, weight_decay=0.01)),
    "adafactor_t5x_factored": ((130, 160), OPT("adafactor-t5x", steps=6, weight_decay=0.01)),
    "adamw_wd_linear": ((8, 16), OPT("adamw", steps=6, lr=0.05, weight_decay=0.1,
                                     schedule={"kind": "linear", "warmup_steps": 2, "total_steps": 6})),
    # (new cases go last: a case's seed is its position in this table)
    # T5X keeps the pretrained checkpoint's global step (1,100,000): beta2 ~ 0.99999 from step 1
    "adafactor_t5x_start_step": ((100, 64), OPT("adafactor-t5x", steps=6, start_step=1100000)),
}


def export_optim(name, shape, spec, seed):
    gen = torch.Generator().manual_seed(5000 + seed)
    spec = dict(spec)
    p0 = torch.randn(*shape, generator=gen) * spec.pop("p0_scale", 0.5)
    N = spec["steps"]
    # gradients with per-row scale variety so the factored estimate differs from unfactored
    row_scale = torch.exp(torch.randn(shape[0], generator=gen) * 0.5)
    if len(shape) == 2:
        grads = torch.randn(N, *shape, generator=gen) * row_scale[None, :, None] * 0.1
    else:
        grads = torch.randn(N, *shape, generator=gen) * row_scale[None, :] * 0.1
    p = p0.clone()
    step = R.make_optimizer(spec, p)
    params = []
    for i in range(N):
        step(grads[i].clone(), i)
        params.append(p.clone())
    # fp64 replay: the fp32 arithmetic must stay well inside the tolerance
    p64 = p0.double().clone()
    step64 = R.make_optimizer(spec, p64)
    worst = 0.0
    for i in range(N):
        step64(grads[i].double().clone(), i)
        worst = max(worst, rel_err(params[i], p64))
    assert worst < TRAJ_TOL / 5, (name, worst)
    st_write(os.path.join(OPTIM_DIR, name + ".safetensors"),
             {"param0": p0, "grads": grads, "params": torch.stack(params)})
    js = dict(spec)
    js["tolerance"] = TRAJ_TOL
    js["shape"] = list(shape)
    write_json(os.path.join(OPTIM_DIR, name + ".json"), js)
    print("optim %-28s max|p_N - p_0| / max|p_N| = %.3g  fp32-vs-fp64 %.1e"
          % (name, ((p - p0).abs().max() / p.abs().max()).item(), worst))


# ----------------------------------------------------------------------------
# bf16 reference cases (golden/bf16/, README.md "bf16 reference")

BF16_DIR = os.path.join(HERE, "bf16")
BF16_MARGIN_ULPS = 64    # flip-free cases: every rounded operand this far from a bf16 midpoint
BF16_PERTURB_ULPS = 4    # how far another fp32 implementation's operands are modelled to be
BF16_PERTURB_SEEDS = (1, 2, 3)
BF16_OPS_TOL = 1e-5

# the smallest model that still has every product kind: flip-free is only reachable when the
# number of rounded operands is in the hundreds (each misses the margin with p = 2*64/65536)
BF16_MICRO = dict(BASE, vocab_size=32, d_model=8, d_kv=4, num_heads=2, d_ff=16, num_layers=1,
                  num_decoder_layers=1, n=2, lens=[3], label_lens=[2])

BF16_CASES = {
    "bf16_micro": dict(BF16_MICRO, seed=31, flip_free=True,
                       description="flip-free: forward and prompt gradient of a micro T5 (relu, tied) whose "
                                   "rounded operands all lie >= 64 fp32 ulps from a bf16 rounding midpoint"),
    "bf16_micro_gated": dict(BF16_MICRO, seed=32, flip_free=True, ffn="gated-gelu", tied=False,
                             description="flip-free: as bf16_micro with gated-gelu and an untied lm_head"),
    "bf16_micro_traj": dict(BF16_MICRO, seed=33, flip_free=True, lens=[2], label_lens=[1],
                            optim=dict(ADAFACTOR_PAPER, steps=2),
                            description="flip-free: 2 steps of HF Adafactor (paper settings) on a micro T5"),
    "bf16_relu_tied_prepend": dict(fp32_case="relu_tied_prepend",
                                   description="the model and inputs of cases/relu_tied_prepend in bf16 mode"),
    "bf16_gelu_untied_prepend": dict(fp32_case="gelu_untied_prepend",
                                     description="the model and inputs of cases/gelu_untied_prepend in bf16 mode"),
    "bf16_traj_adafactor": dict(fp32_case="traj_adafactor",
                                description="the 8-step trajectory of cases/traj_adafactor in bf16 mode"),
}


def bf16_run(model, ids, mask, labels, P, placement, K, optim, perturb=0, seed=0, record=False,
             accumulate=torch.float64):
    """The bf16 reference: forward, prompt gradient and (optim) trajectory. Returns
    (forward tensors, prompt_grad, trajectory or None, the Bf16Mode)."""
    mode = R.Bf16Mode(perturb, seed, accumulate)
    if record:
        mode.record = {}
    prev = R.set_bf16(mode)
    try:
        Pv = P.clone().requires_grad_(True)
        out = model.forward(ids, mask, labels, Pv, placement, K)
        out["loss"].backward()
        mode.record = None if not record else mode.record
        rec, mode.record = mode.record, None
        out = {k: v.detach().float() for k, v in out.items() if v.dtype.is_floating_point}
        grad = Pv.grad.detach().clone()
        traj = run_trajectory(model, ids, mask, labels, P, placement, K, optim, check_sign=False) if optim else None
    finally:
        R.set_bf16(prev)
    mode.record = rec
    return out, grad, traj, mode


def bf16_tensors(out, grad, traj):
    t = dict(out)
    t["prompt_grad"] = grad
    if traj is not None:
        _, losses, after, grads = traj
        t.update({"traj.losses": losses.float(), "traj.prompt_after": after.float(), "traj.grads": grads.float()})
    return t


def export_bf16_case(name, c):
    d = os.path.join(BF16_DIR, name)
    if "fp32_case" in c:
        # the model and inputs of an fp32 case, read back from its files
        src = os.path.join(CASES_DIR, c["fp32_case"])
        with open(os.path.join(src, "model", "config.json")) as f:
            cfg_json = json.load(f)
        with open(os.path.join(src, "case.json")) as f:
            fcase = json.load(f)
        W32 = {k: v.float() for k, v in st_read(os.path.join(src, "model", "model.safetensors")).items()}
        inp = st_read(os.path.join(src, "inputs.safetensors"))
        ids, mask, labels, P = inp["input_ids"], inp["attention_mask"], inp["labels"], inp["prompt_embeddings"]
        placement, K, optim = fcase["placement"], fcase.get("at"), fcase.get("optim")
        model = R.T5Ref(R.T5Config(cfg_json), W32)
        fp32 = st_read(os.path.join(src, "expected.safetensors"))
        if optim:
            tr = st_read(os.path.join(src, "trajectory.safetensors"))
            fp32.update({"traj." + k: v for k, v in tr.items()})
        attempts, stored = [None], None
    else:
        attempts, optim, placement, K = range(400), c.get("optim"), c["placement"], c.get("at")
    for attempt in attempts:
        if attempt is not None:
            gen = torch.Generator().manual_seed(c["seed"] * 1000 + attempt)
            W = make_weights(c, gen)
            stored, W32 = round_dtype(W, "F32")
            cfg_json = hf_config(c)
            model = R.T5Ref(R.T5Config(cfg_json), W32)
            ids, mask, labels, P = make_inputs(c, gen)
        out, grad, traj, mode = bf16_run(model, ids, mask, labels, P, placement, K, optim, record=True)
        if c.get("flip_free") and mode.min_margin < BF16_MARGIN_ULPS:
            continue
        break
    else:
        raise RuntimeError(name + ": no seed gave a flip-free case")
    exp = bf16_tensors(out, grad, traj)
    if attempt is not None:   # the fp32 reference of the same model, for the bf16-vs-fp32 distance
        Pv = P.clone().requires_grad_(True)
        o32 = model.forward(ids, mask, labels, Pv, placement, K)
        o32["loss"].backward()
        t32 = run_trajectory(model, ids, mask, labels, P, placement, K, optim, check_sign=False) if optim else None
        fp32 = bf16_tensors({k: v.detach().float() for k, v in o32.items() if v.dtype.is_floating_point},
                            Pv.grad.detach().clone(), t32)
    # another fp32 implementation, modelled: operands moved by up to 4 ulps before rounding
    noise = {k: 0.0 for k in exp}
    for s in BF16_PERTURB_SEEDS:
        o, g, t, _ = bf16_run(model, ids, mask, labels, P, placement, K, optim, perturb=BF16_PERTURB_ULPS, seed=s)
        for k, v in bf16_tensors(o, g, t).items():
            noise[k] = max(noise[k], rel_err(v, exp[k]))
    # an implementation that also sums its products in fp32 (operands then differ by more
    # than the perturbation wherever the sums feed the next rounding)
    o, g, t, _ = bf16_run(model, ids, mask, labels, P, placement, K, optim, accumulate=torch.float32)
    acc32 = {k: rel_err(v, exp[k]) for k, v in bf16_tensors(o, g, t).items()}
    tol = {k: (GRAD_TOL if k == "prompt_grad" or k.startswith("traj.") else DEF_TOL) for k in exp}
    if c.get("flip_free"):
        for k in exp:
            assert noise[k] < tol[k] / 5, (name, "perturbed operands moved", k, noise[k])
            assert acc32[k] < tol[k] / 5, (name, "fp32 accumulation moved", k, acc32[k])
    ops = {}
    for kind, (a, b, o) in sorted(mode.record.items()):
        ops[kind + ".a"], ops[kind + ".b"], ops[kind + ".out"] = a.float(), b.float(), o.float()
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    case = {"description": c["description"], "precision": "bf16", "placement": placement, "prompt_len": P.shape[0],
            "flip_free": bool(c.get("flip_free")), "bf16_min_margin_ulps": mode.min_margin,
            "tolerances": tol, "ops_tolerance": BF16_OPS_TOL,
            "bf16_flip_noise_rel_err": {k: float("%.3g" % v) for k, v in noise.items()},
            "bf16_fp32_accumulate_rel_err": {k: float("%.3g" % v) for k, v in acc32.items()},
            "bf16_vs_fp32_rel_err": {k: float("%.3g" % rel_err(exp[k], fp32[k])) for k in exp}}
    if K is not None:
        case["at"] = K
    if optim:
        case["optim"] = optim
    if "fp32_case" in c:
        case["fp32_case"] = c["fp32_case"]
    else:
        case["seed"] = c["seed"]
        save_model(os.path.join(d, "model"), c, stored)
        st_write(os.path.join(d, "inputs.safetensors"),
                 {"input_ids": ids, "attention_mask": mask, "labels": labels, "prompt_embeddings": P.float()})
    st_write(os.path.join(d, "expected.safetensors"), exp)
    st_write(os.path.join(d, "ops.safetensors"), ops)
    write_json(os.path.join(d, "case.json"), case)
    back = st_read(os.path.join(d, "expected.safetensors"))
    for k, v in exp.items():
        assert torch.equal(back[k], v), (name, k)
    worst = sorted(noise.items(), key=lambda kv: -kv[1])[0]
    worst32 = sorted(acc32.items(), key=lambda kv: -kv[1])[0]
    print("bf16 %-26s margin %5d ulps  flip noise worst %s %.1e  fp32-acc worst %s %.1e  "
          "bf16-vs-fp32 loss %.1e prompt_grad %.1e"
          % (name, mode.min_margin, worst[0], worst[1], worst32[0], worst32[1], rel_err(exp["loss"], fp32["loss"]),
             rel_err(exp["prompt_grad"], fp32["prompt_grad"])))


def main(argv):
    only = set(argv)
    if not only:
        for dd in (CASES_DIR, OPTIM_DIR, BF16_DIR):
            if os.path.exists(dd):
                shutil.rmtree(dd)
    os.makedirs(CASES_DIR, exist_ok=True)
    os.makedirs(OPTIM_DIR, exist_ok=True)
    os.makedirs(BF16_DIR, exist_ok=True)
    for name, c in CASES.items():
        if not only or name in only:
            export_case(name, c)
    for i, (name, (shape, spec)) in enumerate(OPTIM_CASES.items()):
        if not only or name in only:
            export_optim(name, shape, spec, i)
    # after cases/: the bf16 cases that reuse an fp32 case read its files
    for name, c in BF16_CASES.items():
        if not only or name in only or "bf16" in only:
            export_bf16_case(name, c)


if __name__ == "__main__":
    main(sys.argv[1:])
