"""t5pt golden reference: a plain PyTorch T5 encoder-decoder with a soft prompt,
plus the optimizers and schedules t5pt implements.

Written for this project, following the semantics of Hugging Face transformers'
modeling_t5.py (T5ForConditionalGeneration) and optimization.py (Adafactor);
see golden/README.md for the list of facts and where they come from.

Everything is functional over a dict of weights named exactly as in a Hugging Face
T5 checkpoint (torch nn.Linear layout [out, in]).  Works in float32 (the goldens) and
float64 (the finite-difference check in export.py), and in float32 with the bf16 mode
(set_bf16: every matrix product's inputs rounded to bfloat16).  Dropout is not modelled (off).
"""
import math

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------
# config

class T5Config:
    """The subset of T5Config the forward pass reads, with HF's defaults."""

    def __init__(self, d):
        self.vocab_size = d["vocab_size"]
        self.d_model = d["d_model"]
        self.d_kv = d["d_kv"]
        self.d_ff = d["d_ff"]
        self.num_layers = d["num_layers"]
        # HF: num_decoder_layers defaults to num_layers when missing/None
        ndl = d.get("num_decoder_layers")
        self.num_decoder_layers = ndl if ndl is not None else self.num_layers
        self.num_heads = d["num_heads"]
        self.num_buckets = d.get("relative_attention_num_buckets", 32)
        self.max_distance = d.get("relative_attention_max_distance", 128)
        self.eps = d.get("layer_norm_epsilon", 1e-6)
        ffp = d.get("feed_forward_proj", "relu")
        # HF: "gated-gelu" means gated + act "gelu_new"; "relu" means plain relu.
        self.is_gated = ffp.startswith("gated-")
        self.act = ffp.split("-")[-1]
        if self.act == "gelu":
            self.act = "gelu_new"
        self.tie = d.get("tie_word_embeddings", True)
        self.pad_id = d.get("pad_token_id", 0)
        self.eos_id = d.get("eos_token_id", 1)
        self.start_id = d.get("decoder_start_token_id", 0)


# ----------------------------------------------------------------------------
# matrix products: fp32 / fp64 as written, or the bf16 mode

class Bf16Mode:
    """The bf16 reference (golden/README.md, "bf16 reference"): the two inputs of every
    matrix product, forward and backward, are rounded to bfloat16 (round to nearest even),
    the product of the rounded values is computed in float64 and stored as float32.
    Everything else (norms, softmax, loss, the optimizer, the prompt) stays float32.

    perturb_ulps > 0 models another fp32 implementation: each operand is moved by a
    random whole number of fp32 ulps in [-perturb_ulps, perturb_ulps] before rounding
    (seeded, so the run is reproducible); accumulate=torch.float32 sums the products
    in float32 instead, as t5pt's kernels do. min_margin records, over every rounded
    activation operand (the weights are rounded from the same bits everywhere), the
    smallest distance of an fp32 value to a bf16 rounding midpoint, in fp32 ulps."""

    def __init__(self, perturb_ulps=0, seed=0, accumulate=torch.float64):
        self.perturb_ulps = perturb_ulps
        self.acc = accumulate   # float32: models an implementation that accumulates in fp32
        self.gen = torch.Generator().manual_seed(seed)
        self.min_margin = 1 << 15
        self.record = None   # dict: first operands and result of each product kind, or None

    def round(self, x, activation=True):
        x = x.detach()
        assert x.dtype == torch.float32
        bits = x.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
        if activation and self.perturb_ulps > 0:
            step = torch.randint(-self.perturb_ulps, self.perturb_ulps + 1, x.shape, generator=self.gen)
            moved = (bits & 0x7FFFFFFF) + step          # ulps along |x|; stays in the same sign
            moved = torch.where((bits & 0x7FFFFFFF) == 0, bits & 0x7FFFFFFF, moved.clamp(min=0))
            bits = (bits & 0x80000000) | moved
        if activation:
            low = bits & 0xFFFF
            nz = (bits & 0x7FFFFFFF) != 0
            if bool(nz.any()):
                self.min_margin = min(self.min_margin, int((low[nz] - 0x8000).abs().min()))
        # round to nearest even on the upper 16 bits
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        bits = torch.where(bits >= 0x80000000, bits - 0x100000000, bits)
        return bits.to(torch.int32).view(torch.float32).reshape(x.shape)


_BF16 = None   # the active Bf16Mode, or None: plain products in the weights' dtype


def set_bf16(mode):
    """Turns the bf16 mode on (a Bf16Mode) or off (None); returns the previous one."""
    global _BF16
    prev, _BF16 = _BF16, mode
    return prev


class _Bf16MatMul(torch.autograd.Function):
    """a @ b with both inputs rounded to bf16 and the product in float64; the backward
    products round their inputs too: da = bf16(g) @ bf16(b)^T, db = bf16(a)^T @ bf16(g).
    The rounding itself passes gradients straight through, as a bf16 implementation that
    computes dx from its rounded operands does."""

    @staticmethod
    def forward(ctx, a, b, kind, b_is_weight):
        mode = _BF16
        ar, br = mode.round(a), mode.round(b, activation=not b_is_weight)
        out = (ar.to(mode.acc) @ br.to(mode.acc)).float()
        ctx.save_for_backward(ar, br)
        ctx.kind = kind
        _record(mode, kind + ".fwd", a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        mode = _BF16
        ar, br = ctx.saved_tensors
        gr = mode.round(g)
        da = db = None
        if ctx.needs_input_grad[0]:
            da = (gr.to(mode.acc) @ br.to(mode.acc).transpose(-1, -2)).float()
            _record(mode, ctx.kind + ".da", g, br.transpose(-1, -2), da)
        if ctx.needs_input_grad[1]:
            db = (ar.to(mode.acc).transpose(-1, -2) @ gr.to(mode.acc)).float()
            db = _sum_to(db, br.shape)
            _record(mode, ctx.kind + ".db", ar.transpose(-1, -2), g, db)
        return da, db, None, None


def _sum_to(t, shape):
    while t.dim() > len(shape):
        t = t.sum(0)
    return t


def _record(mode, name, a, b, out):
    """Keeps the first (a, b, a@b) of each product kind: a test can round exactly these
    fp32 operands and compare its product with out (teacher-forced, no rounding flips).
    a, b are the values before rounding (b may already be rounded: rounding is idempotent)."""
    if mode.record is not None and name not in mode.record:
        mode.record[name] = (a.detach().clone().contiguous(), b.detach().clone().contiguous(),
                             out.detach().clone().contiguous())


def mm(a, b, kind, b_is_weight=False):
    """a @ b: plain in fp32/fp64, through _Bf16MatMul in the bf16 mode."""
    if _BF16 is None:
        return a @ b
    return _Bf16MatMul.apply(a, b, kind, b_is_weight)


def linear(x, w, kind="linear"):
    """x @ w^T for a frozen weight w [out, in]."""
    return mm(x, w.t(), kind, b_is_weight=True)


# ----------------------------------------------------------------------------
# layers

def rms_norm(x, w, eps):
    # T5LayerNorm: no mean subtraction, no bias; variance in fp32 (or fp64 here)
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def gelu_new(x):
    # tanh approximation ("gelu_new" in transformers.activations)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def act_fn(name, x):
    if name == "relu":
        return F.relu(x)
    if name == "gelu_new":
        return gelu_new(x)
    raise ValueError("unsupported activation " + name)


def relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """relative_position = key_pos - query_pos (LongTensor).  Same arithmetic as
    T5Attention._relative_position_bucket, including the float32 log and the
    truncating .to(long) conversion."""
    relative_buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    rp_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    rp_large = torch.min(rp_large, torch.full_like(rp_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, rp_large)
    return relative_buckets


def position_buckets(q_len, k_len, bidirectional, cfg):
    ctx = torch.arange(q_len, dtype=torch.long)[:, None]
    mem = torch.arange(k_len, dtype=torch.long)[None, :]
    return relative_position_bucket(mem - ctx, bidirectional, cfg.num_buckets, cfg.max_distance)


def compute_bias(table, buckets):
    # table [num_buckets, H] -> bias [1, H, q, k]
    return table[buckets].permute(2, 0, 1).unsqueeze(0)


def extended_mask(mask01, dtype):
    # HF: (1 - mask) * finfo(dtype).min, additive
    return (1.0 - mask01.to(dtype)) * torch.finfo(dtype).min


def attention(x, kv, W, prefix, cfg, bias):
    """x [B,Tq,d], kv [B,Tk,d]; bias [B or 1,H,Tq,Tk] = position bias + additive mask.
    Scores are NOT scaled by 1/sqrt(d_kv) (T5 folds that into the init)."""
    B, Tq, _ = x.shape
    Tk = kv.shape[1]
    H, dk = cfg.num_heads, cfg.d_kv
    q = linear(x, W[prefix + ".q.weight"]).view(B, Tq, H, dk).transpose(1, 2)
    k = linear(kv, W[prefix + ".k.weight"]).view(B, Tk, H, dk).transpose(1, 2)
    v = linear(kv, W[prefix + ".v.weight"]).view(B, Tk, H, dk).transpose(1, 2)
    scores = mm(q, k.transpose(-1, -2), "qk") + bias
    attn = torch.softmax(scores, dim=-1)
    ctx = mm(attn, v, "pv").transpose(1, 2).reshape(B, Tq, H * dk)
    return linear(ctx, W[prefix + ".o.weight"])


def ffn(x, W, prefix, cfg):
    if cfg.is_gated:
        h = act_fn(cfg.act, linear(x, W[prefix + ".wi_0.weight"])) * linear(x, W[prefix + ".wi_1.weight"])
    else:
        h = act_fn(cfg.act, linear(x, W[prefix + ".wi.weight"]))
    return linear(h, W[prefix + ".wo.weight"])


# ----------------------------------------------------------------------------
# prompt placement

def place_prompt(X, mask, P, placement, K=None):
    """X [B,T,d] token embeddings, mask [B,T] (right padded), P [n,d].
    Returns E [B,n+T,d], mask_enc [B,n+T] (golden/README.md, Semantics)."""
    B, T, _ = X.shape
    n = P.shape[0]
    rows, masks = [], []
    ones = torch.ones(n, dtype=mask.dtype)
    for b in range(B):
        len_b = int(mask[b].sum())
        if placement == "prepend":
            k = 0
        elif placement == "append":
            k = len_b
        elif placement == "at":
            k = min(int(K), len_b)
        else:
            raise ValueError(placement)
        rows.append(torch.cat([X[b, :k], P, X[b, k:]], 0))
        if placement == "append":
            masks.append(torch.cat([torch.ones(len_b + n, dtype=mask.dtype),
                                    torch.zeros(T - len_b, dtype=mask.dtype)]))
        else:
            masks.append(torch.cat([mask[b, :k], ones, mask[b, k:]]))
    return torch.stack(rows), torch.stack(masks)


def shift_right(labels, start_id, pad_id):
    out = torch.full_like(labels, pad_id)
    out[:, 1:] = labels[:, :-1]
    out[:, 0] = start_id
    out[out == -100] = pad_id
    return out


# ----------------------------------------------------------------------------
# model

def token_loss(logits, labels, spec):
    """The loss over labels != -100 with spec {"kind": "mean"|"sum", "z_loss": z}: per token
    CE + z * logsumexp(logits)^2, then the mean or the sum.  "sum" with z = 1e-4 is T5X's
    compute_weighted_cross_entropy as the prompt-tuning configs use it (no normalizing factor,
    Z_LOSS = 0.0001); autograd of z * lse^2 gives T5X's custom VJP (1 + 2 z lse) softmax - onehot."""
    V = logits.shape[-1]
    lg = logits.reshape(-1, V)
    lab = labels.reshape(-1)
    valid = lab != -100
    lse = torch.logsumexp(lg, -1)
    tok = torch.where(valid, lab, torch.zeros_like(lab))
    per = (lse - lg.gather(-1, tok[:, None])[:, 0]) + float(spec.get("z_loss", 0.0)) * lse * lse
    total = (per * valid.to(per.dtype)).sum()
    if spec["kind"] == "sum":
        return total
    if spec["kind"] == "mean":
        return total / valid.sum()
    raise ValueError("unknown loss kind " + spec["kind"])


class T5Ref:
    """Frozen T5 over a dict of HF-named weights (all in one float dtype).
    loss: None for HF's mean cross-entropy, or a token_loss spec."""

    def __init__(self, cfg, W, loss=None):
        self.cfg = cfg
        self.W = W
        self.loss_spec = loss
        self.dtype = next(iter(W.values())).dtype
        # the input embedding matrix; HF ties shared / encoder.embed_tokens / decoder.embed_tokens
        self.emb = W["shared.weight"]
        self.head = self.emb if cfg.tie else W["lm_head.weight"]

    def embed(self, ids):
        return self.emb[ids]

    def encoder(self, E, mask_enc):
        cfg, W = self.cfg, self.W
        T = E.shape[1]
        buckets = position_buckets(T, T, True, cfg)
        bias = compute_bias(W["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], buckets)
        bias = bias + extended_mask(mask_enc, self.dtype)[:, None, None, :]
        h = E
        blocks = []
        for i in range(cfg.num_layers):
            p = "encoder.block.%d" % i
            x = rms_norm(h, W[p + ".layer.0.layer_norm.weight"], cfg.eps)
            h = h + attention(x, x, W, p + ".layer.0.SelfAttention", cfg, bias)
            h = h + ffn(rms_norm(h, W[p + ".layer.1.layer_norm.weight"], cfg.eps), W, p + ".layer.1.DenseReluDense", cfg)
            blocks.append(h)
        last = rms_norm(h, W["encoder.final_layer_norm.weight"], cfg.eps)
        return blocks, last, buckets

    def decoder(self, dec_ids, H_enc, mask_enc):
        cfg, W = self.cfg, self.W
        B, L = dec_ids.shape
        buckets = position_buckets(L, L, False, cfg)
        bias = compute_bias(W["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], buckets)
        causal = torch.tril(torch.ones(L, L, dtype=torch.long))
        bias = bias + extended_mask(causal, self.dtype)[None, None, :, :]
        cross_bias = extended_mask(mask_enc, self.dtype)[:, None, None, :]
        h = self.emb[dec_ids]
        blocks = []
        for i in range(cfg.num_decoder_layers):
            p = "decoder.block.%d" % i
            x = rms_norm(h, W[p + ".layer.0.layer_norm.weight"], cfg.eps)
            h = h + attention(x, x, W, p + ".layer.0.SelfAttention", cfg, bias)
            x = rms_norm(h, W[p + ".layer.1.layer_norm.weight"], cfg.eps)
            h = h + attention(x, H_enc, W, p + ".layer.1.EncDecAttention", cfg, cross_bias)
            h = h + ffn(rms_norm(h, W[p + ".layer.2.layer_norm.weight"], cfg.eps), W, p + ".layer.2.DenseReluDense", cfg)
            blocks.append(h)
        last = rms_norm(h, W["decoder.final_layer_norm.weight"], cfg.eps)
        return blocks, last, buckets

    def lm_logits(self, dec_last):
        x = dec_last
        if self.cfg.tie:
            # tied head: rescale before projecting onto the embedding matrix
            x = x * (self.cfg.d_model ** -0.5)
        return linear(x, self.head, "lm_head")

    def encode(self, input_ids, attention_mask, P, placement, K=None):
        X = self.embed(input_ids)
        E, mask_enc = place_prompt(X, attention_mask, P, placement, K)
        blocks, last, buckets = self.encoder(E, mask_enc)
        return E, mask_enc, blocks, last, buckets

    def forward(self, input_ids, attention_mask, labels, P, placement, K=None):
        """Full forward.  Returns a dict of every intermediate, named as in golden/README.md (Case format)."""
        cfg = self.cfg
        E, mask_enc, eblocks, H_enc, ebuckets = self.encode(input_ids, attention_mask, P, placement, K)
        dec_ids = shift_right(labels, cfg.start_id, cfg.pad_id)
        dblocks, dlast, dbuckets = self.decoder(dec_ids, H_enc, mask_enc)
        logits = self.lm_logits(dlast)
        if self.loss_spec is None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        else:
            loss = token_loss(logits, labels, self.loss_spec)
        out = {
            "inputs_embeds": E,
            "encoder_attention_mask": mask_enc,
            "enc_position_bucket": ebuckets,
            "dec_position_bucket": dbuckets,
            "encoder_last_hidden_state": H_enc,
            "decoder_input_ids": dec_ids,
            "decoder_last_hidden_state": dlast,
            "logits": logits,
            "loss": loss,
        }
        for i, b in enumerate(eblocks):
            out["encoder_block_%d" % i] = b
        for i, b in enumerate(dblocks):
            out["decoder_block_%d" % i] = b
        return out

    def loss_and_grad(self, input_ids, attention_mask, labels, P, placement, K=None):
        Pv = P.detach().clone().requires_grad_(True)
        out = self.forward(input_ids, attention_mask, labels, Pv, placement, K)
        out["loss"].backward()
        return out["loss"].detach(), Pv.grad.detach().clone()

    @torch.no_grad()
    def greedy(self, input_ids, attention_mask, P, placement, K, steps):
        """Greedy argmax for a fixed number of steps from decoder_start, no EOS stop.
        No KV cache: the decoder is re-run on the whole prefix (same numbers).
        Returns ids [B,steps] and the smallest top1-top2 logit gap seen."""
        _, mask_enc, _, H_enc, _ = self.encode(input_ids, attention_mask, P, placement, K)
        B = input_ids.shape[0]
        dec = torch.full((B, 1), self.cfg.start_id, dtype=torch.long)
        min_gap = float("inf")
        for _ in range(steps):
            _, dlast, _ = self.decoder(dec, H_enc, mask_enc)
            lg = self.lm_logits(dlast)[:, -1, :]
            top2 = torch.topk(lg, 2, dim=-1).values
            min_gap = min(min_gap, float((top2[:, 0] - top2[:, 1]).min()))
            nxt = lg.argmax(-1, keepdim=True)
            dec = torch.cat([dec, nxt], 1)
        return dec[:, 1:], min_gap

    @torch.no_grad()
    def candidate_nll(self, input_ids, attention_mask, P, placement, K, cand):
        """cand [C,Lc] (-100 padded).  Returns [B,C]: sum over candidate tokens of -log p."""
        _, mask_enc, _, H_enc, _ = self.encode(input_ids, attention_mask, P, placement, K)
        B = input_ids.shape[0]
        C = cand.shape[0]
        out = torch.zeros(B, C, dtype=self.dtype)
        for c in range(C):
            lab = cand[c:c + 1].expand(B, -1)
            dec_ids = shift_right(lab, self.cfg.start_id, self.cfg.pad_id)
            _, dlast, _ = self.decoder(dec_ids, H_enc, mask_enc)
            logp = torch.log_softmax(self.lm_logits(dlast), -1)
            valid = lab != -100
            tok = torch.where(valid, lab, torch.zeros_like(lab))
            nll = -logp.gather(-1, tok[..., None])[..., 0]
            out[:, c] = (nll * valid.to(nll.dtype)).sum(-1)
        return out


# ----------------------------------------------------------------------------
# learning-rate schedules

def lr_multiplier(schedule, step):
    """step counts from 0 (the index of the optimizer step being applied).
    constant: 1.
    linear:   step <  W: (step + 1) / W
              step >= W: max(0, (S - step) / max(1, S - W))
    (W = warmup_steps, S = total_steps).  Unlike HF's get_linear_schedule_with_warmup
    (step / W during warmup) the first step is not wasted with lr = 0."""
    kind = schedule.get("kind", "constant")
    if kind == "constant":
        return 1.0
    if kind == "linear":
        W = int(schedule.get("warmup_steps", 0))
        S = int(schedule["total_steps"])
        if step < W:
            return float(step + 1) / float(W)
        return max(0.0, float(S - step) / float(max(1, S - W)))
    raise ValueError("unknown schedule " + kind)


# ----------------------------------------------------------------------------
# optimizers (one tensor each; float32 state like HF on fp32 params)

def _rms(t):
    return t.norm(2) / (t.numel() ** 0.5)


class Adafactor:
    """HF transformers.optimization.Adafactor step rule for one parameter tensor.

    variant "hf":  factored iff ndim >= 2; weight decay p -= wd * lr_eff * p.
    variant "t5x": factored iff ndim >= 2 and the second-largest dim >= 128
                   (t5x.adafactor min_dim_size_to_factor); weight decay
                   p <- (1 - wd) * p, not scaled by the learning rate.
    Everything else is the HF rule (see README)."""

    def __init__(self, shape, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8,
                 beta1=None, weight_decay=0.0, scale_parameter=False, relative_step=False,
                 warmup_init=False, variant="hf", min_dim_size_to_factor=128, start_step=0):
        self.lr, self.eps, self.clip = lr, eps, clip_threshold
        # steps counted before the first update: T5X decays by the global step, which prompt
        # tuning restores from the pretrained checkpoint (1,100,000 for LM-adapted T5 1.1)
        self.start_step = start_step
        self.decay_rate, self.beta1, self.wd = decay_rate, beta1, weight_decay
        self.scale_parameter, self.relative_step, self.warmup_init = scale_parameter, relative_step, warmup_init
        self.variant = variant
        if variant == "hf":
            self.factored = len(shape) >= 2
        else:
            self.factored = len(shape) >= 2 and sorted(shape)[-2] >= min_dim_size_to_factor
        self.step_count = 0
        if self.factored:
            self.row = torch.zeros(shape[:-1])
            self.col = torch.zeros(shape[:-2] + shape[-1:])
        else:
            self.v = torch.zeros(shape)
        if beta1 is not None:
            self.m = torch.zeros(shape)

    def _get_lr(self, rms, lr_mult):
        rel = None if self.lr is None else self.lr * lr_mult
        if self.relative_step:
            min_step = 1e-6 * self.step_count if self.warmup_init else 1e-2
            rel = min(min_step, 1.0 / math.sqrt(self.step_count))
        scale = 1.0
        if self.scale_parameter:
            scale = max(self.eps[1], rms)
        return scale * rel

    @torch.no_grad()
    def step(self, p, grad, lr_mult=1.0):
        """p updated in place."""
        if self.step_count == 0:  # state in the parameter's dtype (fp32, or fp64 for checks)
            for k in ("row", "col", "v", "m"):
                if hasattr(self, k):
                    setattr(self, k, getattr(self, k).to(p.dtype))
        self.step_count += 1
        rms = float(_rms(p))
        lr = self._get_lr(rms, lr_mult)
        beta2t = 1.0 - math.pow(self.start_step + self.step_count, self.decay_rate)
        update = grad ** 2 + self.eps[0]
        if self.factored:
            self.row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
            self.col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1.0 - beta2t)
            r = (self.row / self.row.mean(dim=-1, keepdim=True)).rsqrt().unsqueeze(-1)
            c = self.col.unsqueeze(-2).rsqrt()
            update = (r * c) * grad
        else:
            self.v.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
            update = self.v.rsqrt() * grad
        update.div_((_rms(update) / self.clip).clamp_(min=1.0))
        update.mul_(lr)
        if self.beta1 is not None:
            self.m.mul_(self.beta1).add_(update, alpha=1.0 - self.beta1)
            update = self.m
        if self.wd != 0:
            if self.variant == "hf":
                p.add_(p, alpha=-self.wd * lr)
            else:
                p.mul_(1.0 - self.wd)
        p.add_(-update)
        return lr


class AdamW:
    """torch.optim.AdamW on one tensor, lr = base lr * schedule multiplier."""

    def __init__(self, p, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.base_lr = lr
        self.p = p
        self.opt = torch.optim.AdamW([p], lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self, grad, lr_mult=1.0):
        for g in self.opt.param_groups:
            g["lr"] = self.base_lr * lr_mult
        self.p.grad = grad.clone()
        self.opt.step()


def make_optimizer(spec, p):
    """spec: the "optim" dict of case.json.  Returns a step(grad, step_index) closure
    that updates p in place."""
    kind = spec["kind"]
    sched = spec.get("schedule", {"kind": "constant"})
    if kind in ("adafactor", "adafactor-t5x"):
        opt = Adafactor(tuple(p.shape), lr=spec.get("lr"), eps=tuple(spec["eps"]),
                        clip_threshold=spec["clip_threshold"], decay_rate=spec["decay_rate"],
                        beta1=spec.get("beta1"), weight_decay=spec["weight_decay"],
                        scale_parameter=spec["scale_parameter"], relative_step=spec["relative_step"],
                        warmup_init=spec["warmup_init"],
                        variant="hf" if kind == "adafactor" else "t5x",
                        min_dim_size_to_factor=spec.get("min_dim_size_to_factor", 128),
                        start_step=spec.get("start_step", 0))

        def step(grad, i):
            opt.step(p, grad, lr_multiplier(sched, i))
        return step
    if kind == "adamw":
        opt = AdamW(p, spec["lr"], tuple(spec["betas"]), spec["eps"], spec["weight_decay"])

        def step(grad, i):
            opt.step(grad, lr_multiplier(sched, i))
        return step
    raise ValueError(kind)
