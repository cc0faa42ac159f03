#!/usr/bin/python3
"""The same training step as `t5pt bench step`, in PyTorch, for a side-by-side time.

    /usr/bin/python3 bench/torch_step.py --config CONFIG.json [--threads T] [--batch 8]
        [--src-len 128] [--prompt-len 100] [--tgt-len 16] [--steps 5]

Uses golden/reference.py (the project's PyTorch reference: HF T5 semantics) with random
frozen weights (no requires_grad, so autograd computes activation gradients only, as
t5pt does), a prepended prompt and HF-style Adafactor from the same file. Prints the
median seconds per step after one warm-up step, in the key=value format of t5pt.
"""
import argparse, json, os, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--src-len", type=int, default=128)
ap.add_argument("--prompt-len", type=int, default=100)
ap.add_argument("--tgt-len", type=int, default=16)
ap.add_argument("--steps", type=int, default=5)
a = ap.parse_args()
# torch.set_num_threads does not reach OpenBLAS's own thread pool: without this, a
# "1 thread" run multiplies matrices on every core.
os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import reference as R  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(0)

with open(a.config) as f:
    cfg = R.T5Config(json.load(f))
d, inner, ff = cfg.d_model, cfg.num_heads * cfg.d_kv, cfg.d_ff


def w(*shape):
    return torch.randn(*shape) * 0.05


W = {"shared.weight": w(cfg.vocab_size, d)}
if not cfg.tie:
    W["lm_head.weight"] = w(cfg.vocab_size, d)
for stack, n in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
    for i in range(n):
        p = "%s.block.%d" % (stack, i)
        atts = ["layer.0.SelfAttention"] + (["layer.1.EncDecAttention"] if stack == "decoder" else [])
        for j, att in enumerate(atts):
            for m in "qkvo":
                W["%s.%s.%s.weight" % (p, att, m)] = w(inner, d) if m != "o" else w(d, inner)
            W["%s.layer.%d.layer_norm.weight" % (p, j)] = torch.ones(d)
        fl = len(atts)
        fp = "%s.layer.%d.DenseReluDense" % (p, fl)
        if cfg.is_gated:
            W[fp + ".wi_0.weight"], W[fp + ".wi_1.weight"] = w(ff, d), w(ff, d)
        else:
            W[fp + ".wi.weight"] = w(ff, d)
        W[fp + ".wo.weight"] = w(d, ff)
        W["%s.layer.%d.layer_norm.weight" % (p, fl)] = torch.ones(d)
    W["%s.final_layer_norm.weight" % stack] = torch.ones(d)
    W["%s.block.0.layer.0.SelfAttention.relative_attention_bias.weight" % stack] = w(cfg.num_buckets, cfg.num_heads)

model = R.T5Ref(cfg, W)
B, S, L, P = a.batch, a.src_len, a.tgt_len, a.prompt_len
ids = torch.randint(2, 32000, (B, S))
ids[:, -1] = 1
mask = torch.ones(B, S, dtype=torch.long)
labels = torch.randint(2, 32000, (B, L))
labels[:, -1] = 1
prompt = (torch.rand(P, d) - 0.5)
opt = R.make_optimizer({"kind": "adafactor", "lr": 0.3, "eps": [1e-30, 1e-3], "clip_threshold": 1.0,
                        "decay_rate": -0.8, "beta1": None, "weight_decay": 1e-5, "scale_parameter": False,
                        "relative_step": False, "warmup_init": False}, prompt)

times = []
for s in range(a.steps + 1):
    t0 = time.perf_counter()
    loss, g = model.loss_and_grad(ids, mask, labels, prompt, "prepend")
    opt(g, s)
    dt = time.perf_counter() - t0
    if s > 0:
        times.append(dt)
print("torch_step threads=%d batch=%d prompt=%d src=%d tgt=%d steps=%d s_per_step=%.3f torch=%s loss=%.4f"
      % (a.threads, B, P, S, L, a.steps, statistics.median(times), torch.__version__, float(loss)))
