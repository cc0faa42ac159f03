/* t5.c — the T5 encoder-decoder with a soft prompt: context and arenas, prompt
 * placement, the stack drivers (forward and backward into the prompt), accessors.
 *
 * Forward (HF T5ForConditionalGeneration semantics, listed in golden/README.md "Semantics"):
 *   E = place(embed(input_ids), P)                                   [B,Tenc,d]
 *   encoder block: h += drop(SelfAttn(RMSNorm(h)));  h += drop(FFN(RMSNorm(h)))
 *   H_enc = drop(RMSNorm(h))
 *   decoder block: y += drop(CausalSelfAttn(RMSNorm(y)));
 *                  y += drop(CrossAttn(RMSNorm(y), H_enc));  y += drop(FFN(RMSNorm(y)))
 *   logits = lm_head(drop(RMSNorm(y)) [* d^-0.5 if tied]);  loss = CE(logits, labels)
 * Backward: only activation gradients, from the loss down to the prompt rows of E.
 */
#include "model/ctx.h"
#include "model/decoder.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd/gemm.h"
#include "simd/kernels.h"
#include "base/internal.h"
#include "model/layers.h"
#include "model/loss.h"
#include "model/trace.h"

/* ------------------------------------------------------------------ placement */

t5pt_status t5pt_placement_parse(t5pt_placement *pl, const char *text) {
    if (!pl || !text) return t5pt_set_error(T5PT_ERR_ARG, "placement: NULL argument");
    pl->at = 0;
    if (strcmp(text, "prepend") == 0) {
        pl->kind = T5PT_PLACE_PREPEND;
        return T5PT_OK;
    }
    if (strcmp(text, "append") == 0) {
        pl->kind = T5PT_PLACE_APPEND;
        return T5PT_OK;
    }
    if (strncmp(text, "at:", 3) == 0 && text[3] >= '0' && text[3] <= '9') {
        char *end;
        long k = strtol(text + 3, &end, 10);
        if (*end == 0 && k >= 0 && k <= INT_MAX) {
            pl->kind = T5PT_PLACE_AT;
            pl->at = (int)k;
            return T5PT_OK;
        }
    }
    return t5pt_set_error(T5PT_ERR_ARG, "placement '%s': expected prepend, append or at:K (K >= 0)", text);
}

/* First prompt row of a batch row with len real tokens (as golden/reference.py place_prompt). */
static int prompt_start(t5pt_placement pl, int len) {
    switch (pl.kind) {
    case T5PT_PLACE_APPEND: return len;
    case T5PT_PLACE_AT: return pl.at < len ? pl.at : len;
    default: return 0;
    }
}

/* ------------------------------------------------------------------ arena layout */

/* What one block keeps for the backward, over M rows (att_self: [B,H,T,T] floats), in the
 * forward arena fa. A decoder block (M_enc > 0: the rows of the encoder output) also keeps
 * its cross-attention (att_cross: [B,H,L,Tenc]). */
static void take_layer_acts(t5pt_layer_acts *acts, t5pt_bump *fa, size_t M, size_t att_self, size_t M_enc,
                            size_t att_cross, const t5pt_config *cfg) {
    const size_t d = (size_t)cfg->d_model, f = (size_t)cfg->d_ff;
    const size_t inner = (size_t)cfg->num_heads * (size_t)cfg->d_kv;
    const int decoder = M_enc > 0;
    memset(acts, 0, sizeof *acts);
    acts->rstd_self = TAKE_F(fa, M);
    acts->rstd_cross = decoder ? TAKE_F(fa, M) : NULL;
    acts->rstd_ff = TAKE_F(fa, M);
    acts->h_self = TAKE_F(fa, M * d);
    acts->h_cross = decoder ? TAKE_F(fa, M * d) : NULL;
    acts->out = TAKE_F(fa, M * d);
    acts->q = TAKE_F(fa, M * inner);
    acts->k = TAKE_F(fa, M * inner);
    acts->v = TAKE_F(fa, M * inner);
    acts->probs = TAKE_F(fa, att_self);
    if (decoder) {
        acts->cq = TAKE_F(fa, M * inner);
        acts->ck = TAKE_F(fa, M_enc * inner);
        acts->cv = TAKE_F(fa, M_enc * inner);
        acts->cprobs = TAKE_F(fa, att_cross);
    }
    acts->ff_pre = TAKE_F(fa, M * f);
    acts->ff_lin = cfg->gated_gelu ? TAKE_F(fa, M * f) : NULL;
}

/* One block's dropout masks in da (the same sites as take_layer_acts). */
static void take_layer_masks(t5pt_layer_acts *acts, t5pt_bump *da, size_t M, size_t att_self, size_t M_enc,
                             size_t att_cross, const t5pt_config *cfg) {
    const size_t d = (size_t)cfg->d_model, f = (size_t)cfg->d_ff;
    const int decoder = M_enc > 0;
    acts->m_self_p = TAKE_U8(da, att_self);
    acts->m_self_out = TAKE_U8(da, M * d);
    if (decoder) {
        acts->m_cross_p = TAKE_U8(da, att_cross);
        acts->m_cross_out = TAKE_U8(da, M * d);
    }
    acts->m_ff_act = TAKE_U8(da, M * f);
    acts->m_ff_out = TAKE_U8(da, M * d);
}

/* The activations of every block of a stack of nl blocks: each block's own (plain), or,
 * with recomputation, one set shared by all blocks (the backward recomputes a block's
 * forward into it) and only each block's output and dropout masks of its own. */
static void take_stack(t5pt_layer_acts *stack, int nl, int recompute, t5pt_bump *fa, t5pt_bump *da, int dropout,
                       size_t M, size_t att_self, size_t M_enc, size_t att_cross, const t5pt_config *cfg) {
    t5pt_layer_acts shared;
    if (recompute) take_layer_acts(&shared, fa, M, att_self, M_enc, att_cross, cfg);
    for (int l = 0; l < nl; l++) {
        if (recompute) {
            stack[l] = shared;
            stack[l].out = TAKE_F(fa, M * (size_t)cfg->d_model);
        } else {
            take_layer_acts(&stack[l], fa, M, att_self, M_enc, att_cross, cfg);
        }
        if (dropout) take_layer_masks(&stack[l], da, M, att_self, M_enc, att_cross, cfg);
    }
}

/* Lays out all tensors for the shape (B, Tenc, L, n) in the three arenas (a NULL
 * base only measures). Sizes grow monotonically with every dimension, so a layout
 * for dims <= the maxima fits in arenas measured at the maxima. */
static void layout(t5pt_ctx *c, int B, int Tenc, int L, int n, int dropout, t5pt_bump *fa, t5pt_bump *ga,
                   t5pt_bump *da) {
    const t5pt_config *cfg = &c->m->cfg;
    const size_t d = (size_t)cfg->d_model, f = (size_t)cfg->d_ff, H = (size_t)cfg->num_heads;
    const size_t inner = H * (size_t)cfg->d_kv, V = (size_t)cfg->vocab_size;
    const size_t Me = (size_t)B * Tenc, Md = (size_t)B * L, Mx = Me > Md ? Me : Md;
    const size_t att_e = (size_t)B * H * Tenc * Tenc, att_ds = (size_t)B * H * L * L,
                 att_dc = (size_t)B * H * L * Tenc;
    size_t att_max = att_e > att_ds ? att_e : att_ds;
    if (att_dc > att_max) att_max = att_dc;
    const int gated = cfg->gated_gelu;

    /* forward */
    c->enc_mask = TAKE_I(fa, Me);
    c->enc_addmask = TAKE_F(fa, Me);
    c->prompt_at = TAKE_I(fa, B);
    c->enc_live_len = TAKE_I(fa, B);
    c->live_first = TAKE_I(fa, B);
    c->live_rows = TAKE_I(fa, B);
    c->dec_ids = TAKE_I(fa, Md);
    c->labels = TAKE_I(fa, Md);
    c->enc_bias = TAKE_F(fa, H * Tenc * Tenc);
    c->dec_bias = TAKE_F(fa, H * L * L);
    c->diag = TAKE_I(fa, 2 * (size_t)(Tenc > L ? Tenc : L));
    c->inputs_embeds = TAKE_F(fa, Me * d);
    take_stack(c->enc, cfg->num_layers, c->recompute, fa, da, dropout, Me, att_e, 0, 0, cfg);
    c->enc_final = TAKE_F(fa, Me * d);
    c->enc_final_rstd = TAKE_F(fa, Me);
    c->dec_h0 = TAKE_F(fa, Md * d);
    take_stack(c->dec, cfg->num_decoder_layers, c->recompute, fa, da, dropout, Md, att_ds, Me, att_dc, cfg);
    c->dec_final = TAKE_F(fa, Md * d);
    c->dec_final_rstd = TAKE_F(fa, Md);
    c->logits = TAKE_F(fa, Md * V);
    c->lse = TAKE_F(fa, Md);
    if (!c->recompute) {
        c->s_norm = TAKE_F(fa, Mx * d);
        c->s_ctx = TAKE_F(fa, Mx * inner);
        c->s_act = TAKE_F(fa, Mx * f);
        c->s_out = TAKE_F(fa, Mx * d);
    }

    /* backward */
    c->g_h = TAKE_F(ga, Mx * d);
    c->g_norm = TAKE_F(ga, Mx * d);
    c->g_sub = TAKE_F(ga, Mx * d);
    c->g_ctx = TAKE_F(ga, Mx * inner);
    c->g_q = TAKE_F(ga, Mx * inner);
    c->g_k = TAKE_F(ga, Mx * inner);
    c->g_v = TAKE_F(ga, Mx * inner);
    c->g_att = TAKE_F(ga, att_max);
    c->g_ff_act = TAKE_F(ga, Mx * f);
    c->g_ff_pre = gated ? TAKE_F(ga, Mx * f) : NULL;
    c->g_ff_lin = gated ? TAKE_F(ga, Mx * f) : NULL;
    c->g_henc = TAKE_F(ga, Me * d);
    c->g_logits = TAKE_F(ga, Md * V);
    c->g_rows = TAKE_F(ga, Md * d);
    c->valid_rows = TAKE_I(ga, Md);
    c->dP = TAKE_F(ga, (size_t)n * d);
    if (c->recompute) {
        /* The forward's scratch lives in gradient buffers that are per block in the
         * backward (never live across a block boundary): a recomputed forward runs
         * between two blocks' backwards, the plain forward before any backward. */
        c->s_norm = c->g_norm;
        c->s_ctx = c->g_ctx;
        c->s_act = c->g_ff_act;
        c->s_out = c->g_sub;
    }

    /* dropout: masks for every HF dropout site, the pre-dropout copy of the encoder
     * input, and a float slab for the dropped attention probabilities */
    c->m_enc_emb = c->m_enc_final = c->m_dec_emb = c->m_dec_final = NULL;
    c->s_drop = NULL;
    c->enc_h0 = c->inputs_embeds;
    if (dropout) {
        c->enc_h0 = TAKE_F(da, Me * d);
        c->s_drop = TAKE_F(da, att_max);
        c->m_enc_emb = TAKE_U8(da, Me * d);
        c->m_enc_final = TAKE_U8(da, Me * d);
        c->m_dec_emb = TAKE_U8(da, Md * d);
        c->m_dec_final = TAKE_U8(da, Md * d);
    }
}

/* ------------------------------------------------------------------ context */

/* (Re)sizes the forward and backward arenas for the context's maxima and recompute
 * setting (the dropout arena is sized here, allocated on first use). */
static t5pt_status ctx_alloc(t5pt_ctx *c) {
    t5pt_free_aligned(c->arena);
    t5pt_free_aligned(c->garena);
    t5pt_free_aligned(c->darena);
    c->arena = c->garena = c->darena = NULL;
    t5pt_bump fa = {NULL, 0}, ga = {NULL, 0}, da = {NULL, 0};
    layout(c, c->max_B, c->max_T + c->max_n, c->max_L, c->max_n, 1, &fa, &ga, &da);
    c->arena_bytes = fa.off + 64;
    c->garena_bytes = ga.off + 64;
    c->darena_bytes = da.off + 64;
    c->arena = t5pt_alloc_aligned(c->arena_bytes);
    c->garena = t5pt_alloc_aligned(c->garena_bytes);
    if (!c->arena || !c->garena)
        return t5pt_set_error(T5PT_ERR_NOMEM,
                              "t5pt_ctx_create: cannot allocate %zu MiB of activations (a smaller batch or "
                              "length, or recomputation, needs less)",
                              (c->arena_bytes + c->garena_bytes) >> 20);
    return T5PT_OK;
}

t5pt_status t5pt_ctx_create(t5pt_ctx **out, const t5pt_model *m, int max_B, int max_T, int max_L, int prompt_len) {
    if (!out || !m) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_ctx_create: NULL argument");
    *out = NULL;
    /* Tenc in 64 bits: max_T + prompt_len may not fit an int */
    const long long tenc = (long long)max_T + prompt_len;
    if (max_B < 1 || max_T < 0 || max_L < 0 || prompt_len < 0 || tenc < 1)
        return t5pt_set_error(T5PT_ERR_ARG,
                              "t5pt_ctx_create: bad sizes B=%d T=%d L=%d n=%d (need B >= 1, T + n >= 1)", max_B,
                              max_T, max_L, prompt_len);
    /* Bounds the attention arenas [B,H,Tenc,Tenc] and keeps B*Tenc and B*L (int row counts
     * in the forward and backward) far from INT_MAX. */
    if ((double)max_B * (double)tenc * (double)tenc > 1e11 || (double)max_B * (double)tenc > 1e9 ||
        (double)max_B * max_L > 1e9)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_ctx_create: B=%d x Tenc=%lld (L=%d) is too large", max_B, tenc,
                              max_L);
    t5pt_ctx *c = calloc(1, sizeof *c);
    if (!c) return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_ctx_create: out of memory");
    c->m = m;
    c->max_B = max_B;
    c->max_T = max_T;
    c->max_L = max_L;
    c->max_n = prompt_len;
    const char *rb = getenv("T5PT_READABLE_BACKWARD");   /* the learner switch (model/trace.h) */
    c->readable = rb && *rb && strcmp(rb, "0") != 0;
    c->enc = calloc((size_t)m->cfg.num_layers, sizeof *c->enc);
    c->dec = calloc((size_t)(m->cfg.num_decoder_layers > 0 ? m->cfg.num_decoder_layers : 1), sizeof *c->dec);
    if (!c->enc || !c->dec) {
        t5pt_ctx_free(c);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_ctx_create: out of memory");
    }
    t5pt_status st = ctx_alloc(c);
    if (st) {
        t5pt_ctx_free(c);
        return st;
    }
    *out = c;
    return T5PT_OK;
}

t5pt_status t5pt_ctx_set_recompute(t5pt_ctx *c, int on) {
    if (!c) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_ctx_set_recompute: NULL context");
    if (!!on == c->recompute) return T5PT_OK;
    c->recompute = !!on;
    c->fwd_ok = 0; /* the arenas are laid out again */
    return ctx_alloc(c);
}

size_t t5pt_ctx_bytes(const t5pt_ctx *c) {
    return c ? c->arena_bytes + c->garena_bytes + (c->darena ? c->darena_bytes : 0) : 0;
}

t5pt_status t5pt_activation_bytes(const t5pt_model *m, int B, int T, int L, int n, int recompute, int dropout,
                                  size_t *bytes) {
    *bytes = 0;
    t5pt_ctx c = {.m = m, .max_B = B, .max_T = T, .max_L = L, .max_n = n, .recompute = !!recompute};
    c.enc = calloc((size_t)m->cfg.num_layers, sizeof *c.enc);
    c.dec = calloc((size_t)(m->cfg.num_decoder_layers > 0 ? m->cfg.num_decoder_layers : 1), sizeof *c.dec);
    if (!c.enc || !c.dec) {
        free(c.enc), free(c.dec);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_activation_bytes: out of memory");
    }
    t5pt_bump fa = {NULL, 0}, ga = {NULL, 0}, da = {NULL, 0};
    layout(&c, B, T + n, L, n, 1, &fa, &ga, &da);
    *bytes = fa.off + 64 + ga.off + 64 + (dropout ? da.off + 64 : 0); /* as ctx_alloc */
    free(c.enc), free(c.dec);
    return T5PT_OK;
}

void t5pt_ctx_free(t5pt_ctx *c) {
    if (!c) return;
    t5pt_free_aligned(c->arena);
    t5pt_free_aligned(c->garena);
    t5pt_free_aligned(c->darena);
    free(c->enc);
    free(c->dec);
    free(c);
}

void t5pt_ctx_set_dropout(t5pt_ctx *c, float rate, uint64_t seed) {
    if (!c) return;
    if (!(rate > 0.0f)) rate = 0.0f;   /* also maps NaN to off */
    if (rate > 0.99f) rate = 0.99f;
    c->drop_rate = rate;
    c->drop_scale = rate > 0.0f ? 1.0f / (1.0f - rate) : 1.0f;
    c->drop_seed = seed;
    c->drop_calls = 0;   /* the same seed replays the same sequence of masks */
}

/* Next dropout mask (a fresh stream per site and per forward call); NULL when off.
 * site NULL: a recomputed forward, which keeps the masks already drawn. */
static uint8_t *drop_mask(t5pt_ctx *c, uint8_t *m, size_t n, int *site) {
    if (!c->drop_on || !m) return NULL;
    if (site) t5pt_dropout_fill(m, n, c->drop_rate, c->drop_seed, (c->drop_calls << 20) + (uint64_t)(*site)++);
    return m;
}

/* ------------------------------------------------------------------ sublayers */

/* h_out = h_in + drop(s_out): the residual connection around a sublayer whose output is
 * s_out (dropped in place). h_out may be h_in. */
static void residual_add(float *h_out, const float *h_in, float *s_out, const uint8_t *mask, float drop_scale,
                         size_t n) {
    t5pt_dropout_apply(s_out, mask, drop_scale, n);
    t5pt_residual_forward(h_out, h_in, s_out, n);
}

/* Backward of residual_add: the gradient of the sublayer's output s_out, from that of
 * h_out (c->g_h, which also flows unchanged to h_in): g_h itself without dropout, else a
 * copy through the mask in c->g_sub. */
static const float *sublayer_grad(t5pt_ctx *c, const uint8_t *mask, size_t n) {
    if (!mask) return c->g_h;
    memcpy(c->g_sub, c->g_h, n * sizeof(float));
    t5pt_dropout_apply(c->g_sub, mask, c->drop_scale, n);
    return c->g_sub;
}

/* The attention gradients land in the context's scratch; dq only where the queries vary. */
static attn_grads attention_grads(const t5pt_ctx *c, int want_dq) {
    return (attn_grads){.dq = want_dq ? c->g_q : NULL, .dk = c->g_k, .dv = c->g_v, .scratch = c->g_att};
}

/* q, k, v [M, inner] (row strides ldq, ldk, ldv) of the normed rows x [M, d]: the three
 * linears share their input, so they are one product (x packed once; simd/gemm.h). */
static void qkv_forward(float *q, int ldq, float *k, int ldk, float *v, int ldv, const float *x, int M,
                        const t5pt_attention_weights *a) {
    float *const ys[3] = {q, k, v};
    const int ld[3] = {ldq, ldk, ldv};
    const t5pt_linear *const lins[3] = {&a->q, &a->k, &a->v};
    t5pt_linear_forward_group(ys, ld, x, a->q.K, M, lins, 3);
}

/* dx [M, d] (row stride d) = dq Wq + dk Wk + dv Wv (rows of g_q, g_k, g_v from r0, row
 * stride inner): one product over the depth 3*inner, the same bits as three (simd/gemm.h). */
static void qkv_backward(float *dx, const t5pt_ctx *c, size_t r0, int M, const t5pt_attention_weights *a) {
    const int inner = a->q.N;
    const float *const dys[3] = {c->g_q + r0 * inner, c->g_k + r0 * inner, c->g_v + r0 * inner};
    const int ld[3] = {inner, inner, inner};
    const t5pt_linear *const lins[3] = {&a->q, &a->k, &a->v};
    t5pt_linear_backward_group(dx, a->q.K, dys, ld, M, lins, 3, 0.0f);
}

/* ------------------------------------------------------------------ encoder */

/* The encoder self-attention over all B*Tenc rows: relative position bias, padding mask. */
static attn_dims enc_self_attn(const t5pt_ctx *c, const t5pt_layer_acts *acts) {
    const t5pt_config *cfg = &c->m->cfg;
    return (attn_dims){.B = c->B, .H = cfg->num_heads, .dk = cfg->d_kv, .Tq = c->Tenc, .Tk = c->Tenc,
                       .pos_bias = c->enc_bias, .key_mask = c->enc_addmask, .drop = acts->m_self_p,
                       .drop_buf = c->s_drop, .drop_scale = c->drop_scale, .prec = c->m->precision};
}

/* h_out = block_l(x_in) over all B*Tenc rows (site NULL: recomputed, masks kept). */
static void enc_block_forward(t5pt_ctx *c, int l, const float *x_in, int *site) {
    const t5pt_config *cfg = &c->m->cfg;
    const t5pt_block_weights *w = &c->m->enc[l];
    t5pt_layer_acts *acts = &c->enc[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, Tenc = c->Tenc;
    const int Me = c->B * Tenc;
    const size_t nd = (size_t)Me * d;
    const float eps = cfg->layer_norm_epsilon;
    /* the masks in the order of HF's dropout sites (each site its own stream) */
    drop_mask(c, acts->m_self_p, (size_t)c->B * cfg->num_heads * Tenc * Tenc, site);
    drop_mask(c, acts->m_self_out, nd, site);
    drop_mask(c, acts->m_ff_act, (size_t)Me * f, site);
    drop_mask(c, acts->m_ff_out, nd, site);

    /* self-attention sublayer: h_self = x + drop(o(attn(q, k, v of RMSNorm(x)))) */
    t5pt_rmsnorm_forward(c->s_norm, acts->rstd_self, x_in, w->ln_self, Me, d, eps);
    qkv_forward(acts->q, inner, acts->k, inner, acts->v, inner, c->s_norm, Me, &w->self);
    const attn_dims self_attn = enc_self_attn(c, acts);
    t5pt_attention_forward(c->s_ctx, acts->probs, acts->q, acts->k, acts->v, &self_attn);
    t5pt_linear_forward(c->s_out, d, c->s_ctx, inner, Me, &w->self.o, 0.0f);
    residual_add(acts->h_self, x_in, c->s_out, acts->m_self_out, c->drop_scale, nd);
    if (c->trace) t5pt_trace_probe(c->trace, 0, l, T5PT_TRACE_SELF, acts->h_self);   /* teaching: FD probe */

    /* FFN sublayer: out = h_self + drop(FFN(RMSNorm(h_self))) */
    t5pt_rmsnorm_forward(c->s_norm, acts->rstd_ff, acts->h_self, w->ln_ff, Me, d, eps);
    t5pt_ffn_forward(c->s_out, acts->ff_pre, acts->ff_lin, c->s_act, c->s_norm, w, cfg->gated_gelu, Me, f,
                     acts->m_ff_act, c->drop_scale);
    residual_add(acts->out, acts->h_self, c->s_out, acts->m_ff_out, c->drop_scale, nd);
    if (c->trace) t5pt_trace_probe(c->trace, 0, l, T5PT_TRACE_FFN, acts->out);   /* teaching: FD probe */
}

/* p + r * width, or NULL for a NULL p (optional tensors such as dropout masks). */
#define ROWS(p, r, width) ((p) ? (p) + (size_t)(r) * (size_t)(width) : NULL)

/* Gradient of the residual stream: c->g_h holds d out (block output) on entry and
 * d x_in (block input) on return, on the live rows (see live_segments).
 * Layer 0 (the only one whose input rows are partly constant): the input rows that
 * are not prompt rows are token embeddings, independent of P. Rows of an encoder
 * layer interact only inside attention, so q, k, v of those rows (row-wise functions
 * of the input) are constants: their gradients, and the gradient of the input rows,
 * are needed only for the prompt rows. The FFN sublayer of layer 0 still needs every
 * live row, because every row of h_self depends on the prompt through attention. On
 * return only the prompt rows of g_h are meaningful. */
static void enc_block_backward(t5pt_ctx *c, int l, const float *x_in) {
    const t5pt_config *cfg = &c->m->cfg;
    const t5pt_block_weights *w = &c->m->enc[l];
    const t5pt_layer_acts *acts = &c->enc[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, Tenc = c->Tenc;
    const size_t nd = (size_t)c->B * Tenc * d;
    const int32_t *live_len = c->readable ? NULL : c->enc_live_len;   /* NULL: every row (readable) */

    /* FFN sublayer: out = h_self + drop(FFN(RMSNorm(h_self)))  =>  d h_self = d out + ... */
    const float *dy = sublayer_grad(c, acts->m_ff_out, nd);
    if (c->trace) t5pt_trace_sublayer(c->trace, c, 0, l, T5PT_TRACE_FFN, dy);   /* teaching hook */
    for (int sg = 0; sg < c->n_live; sg++) {
        const int r0 = c->live_first[sg], M = c->live_rows[sg];
        t5pt_ffn_backward(c->g_norm + (size_t)r0 * d, c->g_ff_act + (size_t)r0 * f, ROWS(c->g_ff_pre, r0, f),
                          ROWS(c->g_ff_lin, r0, f), dy + (size_t)r0 * d, acts->ff_pre + (size_t)r0 * f,
                          ROWS(acts->ff_lin, r0, f), w, cfg->gated_gelu, M, f, ROWS(acts->m_ff_act, r0, f),
                          c->drop_scale);
        t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, c->g_norm + (size_t)r0 * d, acts->h_self + (size_t)r0 * d,
                              w->ln_ff, acts->rstd_ff + r0, M, d);
    }

    /* self-attention sublayer: h_self = x + drop(o(ctx)) */
    dy = sublayer_grad(c, acts->m_self_out, nd);
    if (c->trace) t5pt_trace_sublayer(c->trace, c, 0, l, T5PT_TRACE_SELF, dy);   /* teaching hook */
    for (int sg = 0; sg < c->n_live; sg++) {   /* dctx = dy Wo  [M,inner] */
        const int r0 = c->live_first[sg], M = c->live_rows[sg];
        t5pt_linear_backward(c->g_ctx + (size_t)r0 * inner, inner, dy + (size_t)r0 * d, d, M, &w->self.o, 0.0f);
    }
    const attn_dims self_attn = enc_self_attn(c, acts);
    const attn_grads grads = attention_grads(c, 1);
    if (l > 0 || c->readable) {   /* readable: layer 0 like the others, every row */
        const attn_rows rows = {.qlen = live_len, .klen = live_len};
        t5pt_attention_backward(&grads, c->g_ctx, acts->q, acts->k, acts->v, acts->probs, &self_attn, &rows);
        /* dxn = dq Wq + dk Wk + dv Wv, then through RMSNorm into the residual gradient */
        for (int sg = 0; sg < c->n_live; sg++) {
            const int r0 = c->live_first[sg], M = c->live_rows[sg];
            float *gn = c->g_norm + (size_t)r0 * d;
            qkv_backward(gn, c, (size_t)r0, M, &w->self);
            t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, gn, x_in + (size_t)r0 * d, w->ln_self,
                                  acts->rstd_self + r0, M, d);
        }
    } else if (c->n > 0) {
        const int n = c->n;
        const attn_rows rows = {.qlen = c->enc_live_len, .klen = c->enc_live_len, .sel0 = c->prompt_at, .nsel = n};
        t5pt_attention_backward(&grads, c->g_ctx, acts->q, acts->k, acts->v, acts->probs, &self_attn, &rows);
        for (int b = 0; b < c->B; b++) {
            const size_t r0 = (size_t)b * Tenc + (size_t)c->prompt_at[b];   /* first prompt row */
            float *gn = c->g_norm + r0 * d;
            qkv_backward(gn, c, r0, n, &w->self);
            t5pt_rmsnorm_backward(c->g_h + r0 * d, gn, x_in + r0 * d, w->ln_self, acts->rstd_self + r0, n, d);
        }
    }
}

/* ------------------------------------------------------------------ decoder */

void t5pt_cross_kv_forward(t5pt_layer_acts *acts, const t5pt_model *m, int l0, int nl, const float *H_enc,
                           int M_enc) {
    const int d = m->cfg.d_model, inner = m->cfg.num_heads * m->cfg.d_kv;
    float *ys[T5PT_GROUP_MAX];
    int ld[T5PT_GROUP_MAX];
    const t5pt_linear *lins[T5PT_GROUP_MAX];
    for (int l = l0; l < l0 + nl;) {
        int n = 0;
        for (; l < l0 + nl && n + 2 <= T5PT_GROUP_MAX; l++) {
            ys[n] = acts[l - l0].ck, ld[n] = inner, lins[n++] = &m->dec[l].cross.k;
            ys[n] = acts[l - l0].cv, ld[n] = inner, lins[n++] = &m->dec[l].cross.v;
        }
        t5pt_linear_forward_group(ys, ld, H_enc, d, M_enc, lins, n);
    }
}

/* The self-attention of the decoder pass p: causal, relative position bias, positions
 * pos0.. of each batch row against 0..pos0+T-1. */
static attn_dims dec_self_attn(const t5pt_model *m, const t5pt_dec_pass *p, const t5pt_layer_acts *acts) {
    const t5pt_config *cfg = &m->cfg;
    return (attn_dims){.B = p->B, .H = cfg->num_heads, .dk = cfg->d_kv, .Tq = p->T, .Tk = p->pos0 + p->T,
                       .pos_bias = p->self_bias, .causal = 1, .drop = acts->m_self_p, .drop_buf = p->s_drop,
                       .drop_scale = p->drop_scale, .prec = m->precision, .q0 = p->pos0, .kv_stride = p->kv_stride};
}

/* The cross-attention of the decoder pass p: every encoder position, the encoder mask. */
static attn_dims dec_cross_attn(const t5pt_model *m, const t5pt_dec_pass *p, const t5pt_layer_acts *acts) {
    const t5pt_config *cfg = &m->cfg;
    return (attn_dims){.B = p->B, .H = cfg->num_heads, .dk = cfg->d_kv, .Tq = p->T, .Tk = p->Tenc,
                       .key_mask = p->enc_mask, .drop = acts->m_cross_p, .drop_buf = p->s_drop,
                       .drop_scale = p->drop_scale, .prec = m->precision, .kv_row = p->enc_row};
}

/* y = x W^T for the B*T rows of pass p, into the rows of positions pos0..pos0+T-1 of a
 * [B, kv_stride] key or value buffer (contiguous in the full forward, a cache when
 * decoding). */
static void linear_into_positions(float *y, const float *x, const t5pt_linear *lin, const t5pt_dec_pass *p) {
    const int d = lin->K, inner = lin->N;
    float *y0 = y + (size_t)p->pos0 * inner;
    if (p->T == 1) /* one row per batch row: rows kv_stride apart */
        t5pt_linear_forward(y0, (int)p->kv_stride, x, d, p->B, lin, 0.0f);
    else if (p->kv_stride == (size_t)p->T * inner) /* the rows are contiguous */
        t5pt_linear_forward(y0, inner, x, d, p->B * p->T, lin, 0.0f);
    else
        for (int b = 0; b < p->B; b++)
            t5pt_linear_forward(y0 + (size_t)b * p->kv_stride, inner, x + (size_t)b * p->T * d, d, p->T, lin, 0.0f);
}

void t5pt_decoder_block_forward(const t5pt_model *m, int l, t5pt_layer_acts *acts, const float *x_in,
                                const t5pt_dec_pass *p) {
    const t5pt_config *cfg = &m->cfg;
    const t5pt_block_weights *w = &m->dec[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff;
    const int M = p->B * p->T;
    const size_t nd = (size_t)M * d;
    const float eps = cfg->layer_norm_epsilon;

    /* causal self-attention: h_self = x + drop(o(attn(RMSNorm(x)))) */
    t5pt_rmsnorm_forward(p->s_norm, acts->rstd_self, x_in, w->ln_self, M, d, eps);
    if (p->T > 1 && p->kv_stride == (size_t)p->T * inner) { /* keys, values contiguous: one product */
        qkv_forward(acts->q, inner, acts->k + (size_t)p->pos0 * inner, inner, acts->v + (size_t)p->pos0 * inner,
                    inner, p->s_norm, M, &w->self);
    } else {
        t5pt_linear_forward(acts->q, inner, p->s_norm, d, M, &w->self.q, 0.0f);
        linear_into_positions(acts->k, p->s_norm, &w->self.k, p);
        linear_into_positions(acts->v, p->s_norm, &w->self.v, p);
    }
    const attn_dims self_attn = dec_self_attn(m, p, acts);
    t5pt_attention_forward(p->s_ctx, acts->probs, acts->q, acts->k, acts->v, &self_attn);
    t5pt_linear_forward(p->s_out, d, p->s_ctx, inner, M, &w->self.o, 0.0f);
    residual_add(acts->h_self, x_in, p->s_out, acts->m_self_out, p->drop_scale, nd);

    /* cross-attention on the encoder output (no position bias, encoder mask on keys) */
    t5pt_rmsnorm_forward(p->s_norm, acts->rstd_cross, acts->h_self, w->ln_cross, M, d, eps);
    t5pt_linear_forward(acts->cq, inner, p->s_norm, d, M, &w->cross.q, 0.0f);
    const attn_dims cross_attn = dec_cross_attn(m, p, acts);
    t5pt_attention_forward(p->s_ctx, acts->cprobs, acts->cq, acts->ck, acts->cv, &cross_attn);
    t5pt_linear_forward(p->s_out, d, p->s_ctx, inner, M, &w->cross.o, 0.0f);
    residual_add(acts->h_cross, acts->h_self, p->s_out, acts->m_cross_out, p->drop_scale, nd);

    /* FFN */
    t5pt_rmsnorm_forward(p->s_norm, acts->rstd_ff, acts->h_cross, w->ln_ff, M, d, eps);
    t5pt_ffn_forward(p->s_out, acts->ff_pre, acts->ff_lin, p->s_act, p->s_norm, w, cfg->gated_gelu, M, f,
                     acts->m_ff_act, p->drop_scale);
    residual_add(acts->out, acts->h_cross, p->s_out, acts->m_ff_out, p->drop_scale, nd);
}

/* The decoder pass of the full forward: every position of every batch row at once. */
static t5pt_dec_pass full_dec_pass(const t5pt_ctx *c) {
    const t5pt_config *cfg = &c->m->cfg;
    return (t5pt_dec_pass){.B = c->B, .T = c->L, .pos0 = 0,
                           .kv_stride = (size_t)c->L * cfg->num_heads * cfg->d_kv, .self_bias = c->dec_bias,
                           .Tenc = c->Tenc, .enc_mask = c->enc_addmask, .s_norm = c->s_norm, .s_ctx = c->s_ctx,
                           .s_out = c->s_out, .s_act = c->s_act, .s_drop = c->s_drop, .drop_scale = c->drop_scale};
}

/* c->g_h: d out on entry, d x_in on return (l > 0). The cross-attention adds the
 * gradient of its keys/values into c->g_henc: that is the only road from the loss
 * to the encoder, hence to the prompt.
 * Layer 0: its input is the embedding of decoder_input_ids, so its self-attention
 * sublayer and hence h_self, the cross-attention queries, are constants. Only the
 * FFN and the key/value side of the cross-attention need gradients there. */
static void dec_block_backward(t5pt_ctx *c, int l, const float *x_in) {
    const t5pt_config *cfg = &c->m->cfg;
    const t5pt_block_weights *w = &c->m->dec[l];
    const t5pt_layer_acts *acts = &c->dec[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff;
    const int Md = c->B * c->L;
    const size_t nd = (size_t)Md * d;
    const t5pt_dec_pass pass = full_dec_pass(c);

    /* FFN: out = h_cross + drop(FFN(RMSNorm(h_cross))) */
    const float *dy = sublayer_grad(c, acts->m_ff_out, nd);
    if (c->trace) t5pt_trace_sublayer(c->trace, c, 1, l, T5PT_TRACE_FFN, dy);   /* teaching hook */
    t5pt_ffn_backward(c->g_norm, c->g_ff_act, c->g_ff_pre, c->g_ff_lin, dy, acts->ff_pre, acts->ff_lin, w,
                      cfg->gated_gelu, Md, f, acts->m_ff_act, c->drop_scale);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, acts->h_cross, w->ln_ff, acts->rstd_ff, Md, d);

    /* cross-attention: h_cross = h_self + drop(o(attn(q(RMSNorm(h_self)), k(H_enc), v(H_enc)))) */
    dy = sublayer_grad(c, acts->m_cross_out, nd);
    if (c->trace) t5pt_trace_sublayer(c->trace, c, 1, l, T5PT_TRACE_CROSS, dy);   /* teaching hook */
    t5pt_linear_backward(c->g_ctx, inner, dy, d, Md, &w->cross.o, 0.0f);
    const attn_dims cross_attn = dec_cross_attn(c->m, &pass, acts);
    /* keys past enc_live_len are masked (readable: computed anyway, they come out 0) */
    const attn_rows cross_rows = {.klen = c->readable ? NULL : c->enc_live_len};
    const attn_grads cross_grads = attention_grads(c, l > 0 || c->readable);
    t5pt_attention_backward(&cross_grads, c->g_ctx, acts->cq, acts->ck, acts->cv, acts->cprobs, &cross_attn,
                            &cross_rows);
    /* dH_enc += dK Wk + dV Wv   [Me,d], live encoder rows only */
    if (c->trace) t5pt_trace_cross_before(c->trace, c, c->g_henc);   /* teaching hook */
    for (int sg = 0; sg < c->n_live; sg++) {
        const int r0 = c->live_first[sg], M = c->live_rows[sg];
        float *gh = c->g_henc + (size_t)r0 * d;
        const float *const dys[2] = {c->g_k + (size_t)r0 * inner, c->g_v + (size_t)r0 * inner};
        const int ld[2] = {inner, inner};
        const t5pt_linear *const lins[2] = {&w->cross.k, &w->cross.v};
        t5pt_linear_backward_group(gh, d, dys, ld, M, lins, 2, 1.0f);   /* one product, depth 2*inner */
    }
    if (c->trace) t5pt_trace_cross_after(c->trace, c, l, c->g_henc);   /* teaching hook */
    if (l == 0 && !c->readable) return;   /* see above: everything below depends only on decoder_input_ids */
    t5pt_linear_backward(c->g_norm, d, c->g_q, inner, Md, &w->cross.q, 0.0f);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, acts->h_self, w->ln_cross, acts->rstd_cross, Md, d);

    /* causal self-attention: h_self = x + drop(o(attn(RMSNorm(x)))) */
    dy = sublayer_grad(c, acts->m_self_out, nd);
    if (c->trace) t5pt_trace_sublayer(c->trace, c, 1, l, T5PT_TRACE_SELF, dy);   /* teaching hook */
    t5pt_linear_backward(c->g_ctx, inner, dy, d, Md, &w->self.o, 0.0f);
    const attn_dims self_attn = dec_self_attn(c->m, &pass, acts);
    const attn_grads self_grads = attention_grads(c, 1);
    t5pt_attention_backward(&self_grads, c->g_ctx, acts->q, acts->k, acts->v, acts->probs, &self_attn, NULL);
    qkv_backward(c->g_norm, c, 0, Md, &w->self);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, x_in, w->ln_self, acts->rstd_self, Md, d);
}

/* ------------------------------------------------------------------ forward */

static t5pt_status check_inputs(const t5pt_ctx *c, const float *P, int n, t5pt_placement pl, const t5pt_batch *bt) {
    const t5pt_config *cfg = &c->m->cfg;
    if (!bt || !bt->input_ids) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: batch or input_ids is NULL");
    if (bt->B < 1 || bt->B > c->max_B || bt->T < 0 || bt->T > c->max_T)
        return t5pt_set_error(T5PT_ERR_SHAPE, "t5pt_forward: batch %d x %d exceeds the context (max %d x %d)", bt->B,
                              bt->T, c->max_B, c->max_T);
    if (n < 0 || n > c->max_n || (n > 0 && !P))
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: prompt of %d rows (context allows %d, P %s)", n, c->max_n,
                              P ? "set" : "NULL");
    if (bt->T + n < 1) return t5pt_set_error(T5PT_ERR_SHAPE, "t5pt_forward: empty encoder input (T = 0, n = 0)");
    if (pl.kind == T5PT_PLACE_AT && pl.at < 0)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: placement at:%d is negative", pl.at);
    if (pl.kind != T5PT_PLACE_PREPEND && pl.kind != T5PT_PLACE_APPEND && pl.kind != T5PT_PLACE_AT)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: unknown placement kind %d", (int)pl.kind);
    for (size_t i = 0; i < (size_t)bt->B * bt->T; i++)
        if (bt->input_ids[i] < 0 || bt->input_ids[i] >= cfg->vocab_size)
            return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: input id %d at [%zu,%zu] outside [0,%d)",
                                  (int)bt->input_ids[i], i / (size_t)bt->T, i % (size_t)bt->T, cfg->vocab_size);
    if (bt->labels) {
        if (bt->L < 1 || bt->L > c->max_L)
            return t5pt_set_error(T5PT_ERR_SHAPE, "t5pt_forward: %d labels per row (context allows 1..%d)", bt->L,
                                  c->max_L);
        for (size_t i = 0; i < (size_t)bt->B * bt->L; i++)
            if (bt->labels[i] != -100 && (bt->labels[i] < 0 || bt->labels[i] >= cfg->vocab_size))
                return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: label %d at [%zu,%zu] outside [0,%d) and not -100",
                                      (int)bt->labels[i], i / (size_t)bt->L, i % (size_t)bt->L, cfg->vocab_size);
    }
    return T5PT_OK;
}

/* Live rows of the encoder for the backward. A row after the last unmasked row of
 * its batch row (enc_live_len[b]) is padding: in every layer it is a masked key (exact
 * probability 0 for every query) and a masked cross-attention key, so nothing it
 * computes reaches the loss and its gradient is exactly 0. The backward skips such
 * rows: segment s covers rows live_first[s] .. live_first[s]+live_rows[s]-1 of
 * [B*Tenc]. Without padding there is one segment of all rows (one big GEMM per weight). */
static void live_segments(t5pt_ctx *c) {
    int full = 1;
    for (int b = 0; b < c->B; b++) full &= c->enc_live_len[b] == c->Tenc;
    c->n_live = 0;
    if (full || c->readable) {   /* readable backward: padding rows are computed too */
        c->live_first[0] = 0;
        c->live_rows[0] = c->B * c->Tenc;
        c->n_live = 1;
        return;
    }
    for (int b = 0; b < c->B; b++) {
        if (c->enc_live_len[b] == 0) continue;
        c->live_first[c->n_live] = b * c->Tenc;
        c->live_rows[c->n_live] = c->enc_live_len[b];
        c->n_live++;
    }
}

/* E = place(embed(input_ids), P) and the mask after placement. */
static void embed_and_place(t5pt_ctx *c, const float *P, t5pt_placement pl, const t5pt_batch *bt) {
    const t5pt_model *m = c->m;
    const int d = m->cfg.d_model, T = bt->T, n = c->n, Tenc = c->Tenc;
    for (int b = 0; b < c->B; b++) {
        const int32_t *ids = bt->input_ids + (size_t)b * T;
        const int32_t *mk = bt->attention_mask ? bt->attention_mask + (size_t)b * T : NULL;
        int len = 0;
        for (int t = 0; t < T; t++) len += mk ? (mk[t] != 0) : 1;
        const int k = prompt_start(pl, len);
        c->prompt_at[b] = k;
        float *E = c->inputs_embeds + (size_t)b * Tenc * d;
        int32_t *em = c->enc_mask + (size_t)b * Tenc;
        for (int t = 0; t < Tenc; t++) {
            if (t >= k && t < k + n) {   /* prompt row */
                memcpy(E + (size_t)t * d, P + (size_t)(t - k) * d, (size_t)d * sizeof(float));
                em[t] = 1;
                continue;
            }
            const int src = t < k ? t : t - n;   /* token index */
            t5pt_model_embed_row(m, ids[src], E + (size_t)t * d);
            /* append: [1]*(len+n) + [0]*(T-len), as golden/reference.py place_prompt; this
             * assumes right padding (t5pt_batch), a masked token before the prompt is unmasked */
            if (pl.kind == T5PT_PLACE_APPEND)
                em[t] = t < len + n;
            else
                em[t] = mk ? (mk[src] != 0) : 1;
        }
        int live_len = 0;
        for (int t = 0; t < Tenc; t++) {
            c->enc_addmask[(size_t)b * Tenc + t] = em[t] ? 0.0f : T5PT_MASK_NEG;
            if (em[t]) live_len = t + 1;
        }
        c->enc_live_len[b] = live_len;
    }
    live_segments(c);
}

t5pt_status t5pt_ctx_set_loss(t5pt_ctx *c, t5pt_loss_kind kind, float z_loss) {
    if (!c) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_ctx_set_loss: NULL context");
    t5pt_status st = t5pt_loss_check(kind, z_loss);
    if (st != T5PT_OK) return st;
    c->loss_kind = kind;
    c->z_loss = z_loss;
    c->fwd_ok = 0;   /* a backward must follow a forward with this loss */
    return T5PT_OK;
}

t5pt_status t5pt_forward(t5pt_ctx *c, const float *P, int n, t5pt_placement pl, const t5pt_batch *batch,
                         float *loss) {
    if (!c) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_forward: NULL context");
    c->fwd_ok = 0;   /* a failed call leaves nothing stale behind */
    if (!c->arena || !c->garena) /* a failed t5pt_ctx_set_recompute */
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_forward: the context has no activation memory");
    t5pt_threads_adapt(); /* fewer threads while other programs keep cores busy (policy ADAPTIVE) */
    t5pt_status st = check_inputs(c, P, n, pl, batch);
    if (st) return st;
    const t5pt_model *m = c->m;
    const t5pt_config *cfg = &m->cfg;
    const int d = cfg->d_model, H = cfg->num_heads, V = cfg->vocab_size;
    const float eps = cfg->layer_norm_epsilon;

    c->have_labels = 0;
    c->drop_on = c->drop_rate > 0.0f;
    if (c->drop_on && !c->darena) {
        c->darena = t5pt_alloc_aligned(c->darena_bytes);
        if (!c->darena)
            return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_forward: cannot allocate %zu MiB of dropout masks",
                                  c->darena_bytes >> 20);
    }
    c->B = batch->B;
    c->T = batch->T;
    c->L = batch->labels ? batch->L : 0;
    c->n = n;
    c->Tenc = batch->T + n;
    t5pt_bump fa = {c->arena, 0}, ga = {c->garena, 0}, da = {c->darena, 0};
    layout(c, c->B, c->Tenc, c->L, n, c->drop_on, &fa, &ga, &da);
    int site = 0;
    const int Me = c->B * c->Tenc, Md = c->B * c->L;

    /* ---- encoder ---- */
    embed_and_place(c, P, pl, batch);
    t5pt_position_bias_forward(c->enc_bias, c->diag, m->enc_rel_bias, H, c->Tenc, c->Tenc, 0, 1, cfg->rel_num_buckets,
                               cfg->rel_max_distance);
    if (c->drop_on) {
        memcpy(c->enc_h0, c->inputs_embeds, (size_t)Me * d * sizeof(float));
        t5pt_dropout_apply(c->enc_h0, drop_mask(c, c->m_enc_emb, (size_t)Me * d, &site), c->drop_scale, (size_t)Me * d);
    }
    for (int l = 0; l < cfg->num_layers; l++)
        enc_block_forward(c, l, l == 0 ? c->enc_h0 : c->enc[l - 1].out, &site);
    t5pt_rmsnorm_forward(c->enc_final, c->enc_final_rstd, c->enc[cfg->num_layers - 1].out, m->enc_final_ln, Me, d, eps);
    t5pt_dropout_apply(c->enc_final, drop_mask(c, c->m_enc_final, (size_t)Me * d, &site), c->drop_scale, (size_t)Me * d);

    if (batch->labels) {
        /* ---- decoder: input = labels shifted right, start token first, -100 -> pad ---- */
        const int L = c->L;
        memcpy(c->labels, batch->labels, (size_t)Md * sizeof(int32_t));
        for (int b = 0; b < c->B; b++) {
            for (int t = 0; t < L; t++) {
                int id = t == 0 ? cfg->decoder_start_token_id : batch->labels[(size_t)b * L + t - 1];
                if (id == -100) id = cfg->pad_token_id;
                c->dec_ids[(size_t)b * L + t] = id;
                t5pt_model_embed_row(m, id, c->dec_h0 + ((size_t)b * L + t) * d);
            }
        }
        t5pt_dropout_apply(c->dec_h0, drop_mask(c, c->m_dec_emb, (size_t)Md * d, &site), c->drop_scale, (size_t)Md * d);
        t5pt_position_bias_forward(c->dec_bias, c->diag, m->dec_rel_bias, H, L, L, 0, 0, cfg->rel_num_buckets,
                                   cfg->rel_max_distance);
        const t5pt_dec_pass pass = full_dec_pass(c);
        /* every block's cross-attention keys and values read the encoder output: one
         * product (with recomputation the blocks share one ck, cv: each block its own) */
        if (!c->recompute) t5pt_cross_kv_forward(c->dec, m, 0, cfg->num_decoder_layers, c->enc_final, Me);
        for (int l = 0; l < cfg->num_decoder_layers; l++) {
            t5pt_layer_acts *acts = &c->dec[l];
            if (c->recompute) t5pt_cross_kv_forward(acts, m, l, 1, c->enc_final, Me);
            /* the masks in the order of HF's dropout sites (each site its own stream) */
            drop_mask(c, acts->m_self_p, (size_t)c->B * H * L * L, &site);
            drop_mask(c, acts->m_self_out, (size_t)Md * d, &site);
            drop_mask(c, acts->m_cross_p, (size_t)c->B * H * L * c->Tenc, &site);
            drop_mask(c, acts->m_cross_out, (size_t)Md * d, &site);
            drop_mask(c, acts->m_ff_act, (size_t)Md * cfg->d_ff, &site);
            drop_mask(c, acts->m_ff_out, (size_t)Md * d, &site);
            t5pt_decoder_block_forward(m, l, acts, l == 0 ? c->dec_h0 : c->dec[l - 1].out, &pass);
            if (c->trace) t5pt_trace_probe(c->trace, 1, l, T5PT_TRACE_FFN, acts->out);   /* teaching: FD probe */
        }
        t5pt_rmsnorm_forward(c->dec_final, c->dec_final_rstd, c->dec[cfg->num_decoder_layers - 1].out, m->dec_final_ln, Md,
                        d, eps);
        t5pt_dropout_apply(c->dec_final, drop_mask(c, c->m_dec_final, (size_t)Md * d, &site), c->drop_scale,
                      (size_t)Md * d);
        t5pt_lm_head_forward(c->logits, c->s_norm, c->dec_final, m, Md);
        c->n_valid = t5pt_xent_forward(&c->loss, c->lse, c->logits, c->labels, Md, V, c->loss_kind, c->z_loss);
        c->have_labels = 1;
        if (loss) *loss = c->loss;
    } else if (loss) {
        *loss = 0.0f;
    }
    if (c->drop_on) c->drop_calls++;
    c->fwd_ok = 1;
    return T5PT_OK;
}

/* ------------------------------------------------------------------ backward */

t5pt_status t5pt_backward(t5pt_ctx *c, float *dP) {
    if (!c) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_backward: NULL context");
    if (!c->fwd_ok || !c->have_labels)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_backward: needs a t5pt_forward with labels first");
    const t5pt_model *m = c->m;
    const t5pt_config *cfg = &m->cfg;
    const int d = cfg->d_model, n = c->n, Tenc = c->Tenc;
    const int Me = c->B * Tenc, Md = c->B * c->L;
    if (n == 0) return T5PT_OK;
    if (!dP) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_backward: dP is NULL");
    memset(dP, 0, (size_t)n * d * sizeof(float));
    if (c->trace) t5pt_trace_begin(c->trace, c);   /* teaching hook */
    if (c->n_valid == 0) return T5PT_OK;   /* no label: the loss is the constant 0 */

    /* loss -> d decoder_last_hidden_state (rows with a label only) */
    t5pt_lm_head_xent_backward(c->g_norm, c->g_logits, c->g_rows, c->valid_rows, c->logits, c->lse, c->labels, Md,
                          c->n_valid, m, c->loss_kind, c->z_loss);
    t5pt_dropout_apply(c->g_norm, c->m_dec_final, c->drop_scale, (size_t)Md * d);
    memset(c->g_h, 0, (size_t)Md * d * sizeof(float));
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, c->dec[cfg->num_decoder_layers - 1].out, m->dec_final_ln, c->dec_final_rstd,
                     Md, d);

    /* decoder, last block first; collects d H_enc */
    memset(c->g_henc, 0, (size_t)Me * d * sizeof(float));
    const t5pt_dec_pass pass = full_dec_pass(c);
    for (int l = cfg->num_decoder_layers - 1; l >= 0; l--) {
        const float *x_in = l == 0 ? c->dec_h0 : c->dec[l - 1].out;
        /* recomputation: the shared activations hold the last block's; redo the others' */
        if (c->recompute && l < cfg->num_decoder_layers - 1) {
            t5pt_cross_kv_forward(&c->dec[l], m, l, 1, c->enc_final, Me);
            t5pt_decoder_block_forward(m, l, &c->dec[l], x_in, &pass);
        }
        dec_block_backward(c, l, x_in);
    }

    /* encoder final norm, then the blocks */
    t5pt_dropout_apply(c->g_henc, c->m_enc_final, c->drop_scale, (size_t)Me * d);
    memset(c->g_h, 0, (size_t)Me * d * sizeof(float));
    const float *enc_last = c->enc[cfg->num_layers - 1].out;
    for (int sg = 0; sg < c->n_live; sg++) {
        const int r0 = c->live_first[sg], M = c->live_rows[sg];
        t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, c->g_henc + (size_t)r0 * d, enc_last + (size_t)r0 * d,
                         m->enc_final_ln, c->enc_final_rstd + r0, M, d);
    }
    for (int l = cfg->num_layers - 1; l >= 0; l--) {
        const float *x_in = l == 0 ? c->enc_h0 : c->enc[l - 1].out;
        if (c->recompute && l < cfg->num_layers - 1) enc_block_forward(c, l, x_in, NULL);
        enc_block_backward(c, l, x_in);
    }

    /* dP = sum over the batch of the prompt rows' gradient (fixed order) */
    for (int b = 0; b < c->B; b++) {
        const size_t r0 = (size_t)b * Tenc + (size_t)c->prompt_at[b];
        const float *g = c->g_h + r0 * d;
        const uint8_t *mk = c->m_enc_emb ? c->m_enc_emb + r0 * d : NULL;
        for (size_t i = 0; i < (size_t)n * d; i++) dP[i] += mk ? (mk[i] ? g[i] * c->drop_scale : 0.0f) : g[i];
    }
    return T5PT_OK;
}

/* ------------------------------------------------------------------ accessors */

const float *t5pt_ctx_tensor(const t5pt_ctx *c, const char *name, int dims[3]) {
    if (!c || !name || !c->fwd_ok) return NULL;
    const t5pt_config *cfg = &c->m->cfg;
    int B = c->B, Tenc = c->Tenc, L = c->L, d = cfg->d_model;
    const float *p = NULL;
    int rows = Tenc, cols = d;
    char *end;
    if (strcmp(name, "inputs_embeds") == 0) {
        p = c->inputs_embeds;
    } else if (strcmp(name, "encoder_last_hidden_state") == 0) {
        p = c->enc_final;
    } else if (strncmp(name, "encoder_block_", 14) == 0 && name[14] >= '0' && name[14] <= '9') {
        long i = strtol(name + 14, &end, 10);
        if (*end || i >= cfg->num_layers) return NULL;
        p = c->enc[i].out;
    } else if (c->have_labels && strcmp(name, "decoder_last_hidden_state") == 0) {
        p = c->dec_final;
        rows = L;
    } else if (c->have_labels && strncmp(name, "decoder_block_", 14) == 0 && name[14] >= '0' && name[14] <= '9') {
        long i = strtol(name + 14, &end, 10);
        if (*end || i >= cfg->num_decoder_layers) return NULL;
        p = c->dec[i].out;
        rows = L;
    } else if (c->have_labels && strcmp(name, "logits") == 0) {
        p = c->logits;
        rows = L;
        cols = cfg->vocab_size;
    } else {
        return NULL;
    }
    if (dims) {
        dims[0] = B;
        dims[1] = rows;
        dims[2] = cols;
    }
    return p;
}

const int32_t *t5pt_ctx_encoder_mask(const t5pt_ctx *c, int *B, int *Tenc) {
    if (!c || !c->fwd_ok) return NULL;
    if (B) *B = c->B;
    if (Tenc) *Tenc = c->Tenc;
    return c->enc_mask;
}

const int32_t *t5pt_ctx_decoder_input_ids(const t5pt_ctx *c, int *B, int *L) {
    if (!c || !c->fwd_ok || !c->have_labels) return NULL;
    if (B) *B = c->B;
    if (L) *L = c->L;
    return c->dec_ids;
}
