/* t5.c — the T5 encoder-decoder with a soft prompt: context and arenas, prompt
 * placement, the stack drivers (forward and backward into the prompt), accessors.
 *
 * Forward (HF T5ForConditionalGeneration semantics, see DESIGN.md "Numerics"):
 *   E = place(embed(input_ids), P)                                   [B,Tenc,d]
 *   encoder block: h += drop(SelfAttn(RMSNorm(h)));  h += drop(FFN(RMSNorm(h)))
 *   H_enc = drop(RMSNorm(h))
 *   decoder block: y += drop(CausalSelfAttn(RMSNorm(y)));
 *                  y += drop(CrossAttn(RMSNorm(y), H_enc));  y += drop(FFN(RMSNorm(y)))
 *   logits = lm_head(drop(RMSNorm(y)) [* d^-0.5 if tied]);  loss = CE(logits, labels)
 * Backward: only activation gradients, from the loss down to the prompt rows of E.
 */
#include "model/ctx.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd/gemm.h"
#include "simd/kernels.h"
#include "base/internal.h"
#include "model/layers.h"
#include "model/loss.h"

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

/* First prompt row of a batch row with len real tokens (GOLDEN_FORMAT.md). */
static int prompt_start(t5pt_placement pl, int len) {
    switch (pl.kind) {
    case T5PT_PLACE_APPEND: return len;
    case T5PT_PLACE_AT: return pl.at < len ? pl.at : len;
    default: return 0;
    }
}

/* ------------------------------------------------------------------ arena layout */

/* A bump allocator over one arena. With base == NULL it only measures. */
typedef struct {
    char *base;
    size_t off;
} bump;

static void *take(bump *b, size_t bytes) {
    size_t off = (b->off + 63) & ~(size_t)63;   /* every tensor 64-byte aligned */
    b->off = off + bytes;
    return b->base ? b->base + off : NULL;
}
#define TAKE_F(b, n) ((float *)take((b), (size_t)(n) * sizeof(float)))
#define TAKE_I(b, n) ((int32_t *)take((b), (size_t)(n) * sizeof(int32_t)))
#define TAKE_U8(b, n) ((uint8_t *)take((b), (size_t)(n)))

/* Lays out all tensors for the shape (B, Tenc, L, n) in the three arenas (a NULL
 * base only measures). Sizes grow monotonically with every dimension, so a layout
 * for dims <= the maxima fits in arenas measured at the maxima. */
static void layout(t5pt_ctx *c, int B, int Tenc, int L, int n, int dropout, bump *fa, bump *ga, bump *da) {
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
    c->enc_ext = TAKE_I(fa, B);
    c->seg_r0 = TAKE_I(fa, B);
    c->seg_len = TAKE_I(fa, B);
    c->dec_ids = TAKE_I(fa, Md);
    c->labels = TAKE_I(fa, Md);
    c->enc_bias = TAKE_F(fa, H * Tenc * Tenc);
    c->dec_bias = TAKE_F(fa, H * L * L);
    c->diag = TAKE_I(fa, 2 * (size_t)(Tenc > L ? Tenc : L));
    c->inputs_embeds = TAKE_F(fa, Me * d);
    for (int l = 0; l < cfg->num_layers; l++) {
        t5pt_layer_acts *A = &c->enc[l];
        memset(A, 0, sizeof *A);
        A->rstd_self = TAKE_F(fa, Me);
        A->rstd_ff = TAKE_F(fa, Me);
        A->h_self = TAKE_F(fa, Me * d);
        A->out = TAKE_F(fa, Me * d);
        A->q = TAKE_F(fa, Me * inner);
        A->k = TAKE_F(fa, Me * inner);
        A->v = TAKE_F(fa, Me * inner);
        A->probs = TAKE_F(fa, att_e);
        A->ff_pre = TAKE_F(fa, Me * f);
        A->ff_lin = gated ? TAKE_F(fa, Me * f) : NULL;
    }
    c->enc_final = TAKE_F(fa, Me * d);
    c->enc_final_rstd = TAKE_F(fa, Me);
    c->dec_h0 = TAKE_F(fa, Md * d);
    for (int l = 0; l < cfg->num_decoder_layers; l++) {
        t5pt_layer_acts *A = &c->dec[l];
        memset(A, 0, sizeof *A);
        A->rstd_self = TAKE_F(fa, Md);
        A->rstd_cross = TAKE_F(fa, Md);
        A->rstd_ff = TAKE_F(fa, Md);
        A->h_self = TAKE_F(fa, Md * d);
        A->h_cross = TAKE_F(fa, Md * d);
        A->out = TAKE_F(fa, Md * d);
        A->q = TAKE_F(fa, Md * inner);
        A->k = TAKE_F(fa, Md * inner);
        A->v = TAKE_F(fa, Md * inner);
        A->probs = TAKE_F(fa, att_ds);
        A->cq = TAKE_F(fa, Md * inner);
        A->ck = TAKE_F(fa, Me * inner);
        A->cv = TAKE_F(fa, Me * inner);
        A->cprobs = TAKE_F(fa, att_dc);
        A->ff_pre = TAKE_F(fa, Md * f);
        A->ff_lin = gated ? TAKE_F(fa, Md * f) : NULL;
    }
    c->dec_final = TAKE_F(fa, Md * d);
    c->dec_final_rstd = TAKE_F(fa, Md);
    c->logits = TAKE_F(fa, Md * V);
    c->lse = TAKE_F(fa, Md);
    c->s_norm = TAKE_F(fa, Mx * d);
    c->s_ctx = TAKE_F(fa, Mx * inner);
    c->s_act = TAKE_F(fa, Mx * f);
    c->s_out = TAKE_F(fa, Mx * d);

    /* backward */
    c->g_h = TAKE_F(ga, Mx * d);
    c->g_norm = TAKE_F(ga, Mx * d);
    c->g_sub = TAKE_F(ga, Mx * d);
    c->g_ctx = TAKE_F(ga, Mx * inner);
    c->g_q = TAKE_F(ga, Mx * inner);
    c->g_k = TAKE_F(ga, Mx * inner);
    c->g_v = TAKE_F(ga, Mx * inner);
    c->g_att = TAKE_F(ga, att_max);
    c->g_f1 = TAKE_F(ga, Mx * f);
    c->g_f2 = gated ? TAKE_F(ga, Mx * f) : NULL;
    c->g_f3 = gated ? TAKE_F(ga, Mx * f) : NULL;
    c->g_henc = TAKE_F(ga, Me * d);
    c->g_logits = TAKE_F(ga, Md * V);
    c->g_rows = TAKE_F(ga, Md * d);
    c->valid_rows = TAKE_I(ga, Md);
    c->dP = TAKE_F(ga, (size_t)n * d);

    /* dropout: masks for every HF dropout site, the pre-dropout copy of the encoder
     * input, and float slabs for the dropped attention probabilities */
    c->m_enc_emb = c->m_enc_final = c->m_dec_emb = c->m_dec_final = NULL;
    c->s_drop = c->g_att2 = NULL;
    c->enc_h0 = c->inputs_embeds;
    if (dropout) {
        c->enc_h0 = (float *)take(da, Me * d * sizeof(float));
        c->s_drop = (float *)take(da, att_max * sizeof(float));
        c->g_att2 = (float *)take(da, att_max * sizeof(float));
        c->m_enc_emb = TAKE_U8(da, Me * d);
        c->m_enc_final = TAKE_U8(da, Me * d);
        c->m_dec_emb = TAKE_U8(da, Md * d);
        c->m_dec_final = TAKE_U8(da, Md * d);
        for (int l = 0; l < cfg->num_layers; l++) {
            t5pt_layer_acts *A = &c->enc[l];
            A->m_self_p = TAKE_U8(da, att_e);
            A->m_self_out = TAKE_U8(da, Me * d);
            A->m_ff_act = TAKE_U8(da, Me * f);
            A->m_ff_out = TAKE_U8(da, Me * d);
        }
        for (int l = 0; l < cfg->num_decoder_layers; l++) {
            t5pt_layer_acts *A = &c->dec[l];
            A->m_self_p = TAKE_U8(da, att_ds);
            A->m_self_out = TAKE_U8(da, Md * d);
            A->m_cross_p = TAKE_U8(da, att_dc);
            A->m_cross_out = TAKE_U8(da, Md * d);
            A->m_ff_act = TAKE_U8(da, Md * f);
            A->m_ff_out = TAKE_U8(da, Md * d);
        }
    }
}

/* ------------------------------------------------------------------ context */

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
    c->enc = calloc((size_t)m->cfg.num_layers, sizeof *c->enc);
    c->dec = calloc((size_t)(m->cfg.num_decoder_layers > 0 ? m->cfg.num_decoder_layers : 1), sizeof *c->dec);
    if (!c->enc || !c->dec) {
        t5pt_ctx_free(c);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_ctx_create: out of memory");
    }
    bump fa = {NULL, 0}, ga = {NULL, 0}, da = {NULL, 0};
    layout(c, max_B, max_T + prompt_len, max_L, prompt_len, 1, &fa, &ga, &da);
    c->arena_bytes = fa.off + 64;
    c->garena_bytes = ga.off + 64;
    c->darena_bytes = da.off + 64;
    c->arena = t5pt_alloc_aligned(c->arena_bytes);
    c->garena = t5pt_alloc_aligned(c->garena_bytes);
    if (!c->arena || !c->garena) {
        size_t mb = (c->arena_bytes + c->garena_bytes) >> 20;
        t5pt_ctx_free(c);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_ctx_create: cannot allocate %zu MiB of activations", mb);
    }
    *out = c;
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

/* Next dropout mask (a fresh stream per site and per forward call); NULL when off. */
static uint8_t *drop_mask(t5pt_ctx *c, uint8_t *m, size_t n, int *site) {
    if (!c->drop_on || !m) return NULL;
    t5pt_dropout_fill(m, n, c->drop_rate, c->drop_seed, (c->drop_calls << 20) + (uint64_t)(*site)++);
    return m;
}

/* ------------------------------------------------------------------ encoder */

/* h_out = block_l(x_in) over all B*Tenc rows. */
static void enc_block_forward(t5pt_ctx *c, int l, const float *x_in, int *site) {
    const t5pt_config *cfg = &c->m->cfg;
    const t5pt_block_weights *w = &c->m->enc[l];
    t5pt_layer_acts *A = &c->enc[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, Tenc = c->Tenc;
    const int Me = c->B * Tenc;
    const float eps = cfg->layer_norm_epsilon;

    /* self-attention sublayer: h_self = x + drop(o(attn(q, k, v of RMSNorm(x)))) */
    t5pt_rmsnorm_forward(c->s_norm, A->rstd_self, x_in, w->ln_self, Me, d, eps);
    t5pt_linear_forward(A->q, inner, c->s_norm, d, Me, &w->self.q, 0.0f);
    t5pt_linear_forward(A->k, inner, c->s_norm, d, Me, &w->self.k, 0.0f);
    t5pt_linear_forward(A->v, inner, c->s_norm, d, Me, &w->self.v, 0.0f);
    attn_dims ad = {c->B, cfg->num_heads, cfg->d_kv, Tenc, Tenc, c->enc_bias, c->enc_addmask, 0,
                    drop_mask(c, A->m_self_p, (size_t)c->B * cfg->num_heads * Tenc * Tenc, site), c->s_drop,
                    c->drop_scale};
    t5pt_attention_forward(c->s_ctx, A->probs, A->q, A->k, A->v, &ad);
    t5pt_linear_forward(c->s_out, d, c->s_ctx, inner, Me, &w->self.o, 0.0f);
    t5pt_dropout_apply(c->s_out, drop_mask(c, A->m_self_out, (size_t)Me * d, site), c->drop_scale, (size_t)Me * d);
    t5pt_residual_forward(A->h_self, x_in, c->s_out, (size_t)Me * d);

    /* FFN sublayer: out = h_self + drop(FFN(RMSNorm(h_self))) */
    t5pt_rmsnorm_forward(c->s_norm, A->rstd_ff, A->h_self, w->ln_ff, Me, d, eps);
    t5pt_ffn_forward(c->s_out, A->ff_pre, A->ff_lin, c->s_act, c->s_norm, w, cfg->gated_gelu, Me, f,
                drop_mask(c, A->m_ff_act, (size_t)Me * f, site), c->drop_scale);
    t5pt_dropout_apply(c->s_out, drop_mask(c, A->m_ff_out, (size_t)Me * d, site), c->drop_scale, (size_t)Me * d);
    t5pt_residual_forward(A->out, A->h_self, c->s_out, (size_t)Me * d);
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
    const t5pt_layer_acts *A = &c->enc[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, Tenc = c->Tenc;
    const int Me = c->B * Tenc;
    const size_t nd = (size_t)Me * d;
    const float *dy;

    /* FFN sublayer: out = h_self + drop(FFN(RMSNorm(h_self)))  =>  d h_self = d out + ... */
    dy = c->g_h;
    if (A->m_ff_out) {
        memcpy(c->g_sub, c->g_h, nd * sizeof(float));
        t5pt_dropout_apply(c->g_sub, A->m_ff_out, c->drop_scale, nd);
        dy = c->g_sub;
    }
    for (int sg = 0; sg < c->nseg; sg++) {
        const int r0 = c->seg_r0[sg], M = c->seg_len[sg];
        t5pt_ffn_backward(c->g_norm + (size_t)r0 * d, c->g_f1 + (size_t)r0 * f, ROWS(c->g_f2, r0, f), ROWS(c->g_f3, r0, f),
                     dy + (size_t)r0 * d, A->ff_pre + (size_t)r0 * f, ROWS(A->ff_lin, r0, f), w, cfg->gated_gelu, M, f,
                     ROWS(A->m_ff_act, r0, f), c->drop_scale);
        t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, c->g_norm + (size_t)r0 * d, A->h_self + (size_t)r0 * d, w->ln_ff,
                         A->rstd_ff + r0, M, d);
    }

    /* self-attention sublayer: h_self = x + drop(o(ctx)) */
    dy = c->g_h;
    if (A->m_self_out) {
        memcpy(c->g_sub, c->g_h, nd * sizeof(float));
        t5pt_dropout_apply(c->g_sub, A->m_self_out, c->drop_scale, nd);
        dy = c->g_sub;
    }
    for (int sg = 0; sg < c->nseg; sg++) {   /* dctx = dy Wo  [M,inner] */
        const int r0 = c->seg_r0[sg], M = c->seg_len[sg];
        t5pt_linear_backward(c->g_ctx + (size_t)r0 * inner, inner, dy + (size_t)r0 * d, d, M, &w->self.o, 0.0f);
    }
    attn_dims ad = {c->B, cfg->num_heads, cfg->d_kv, Tenc, Tenc, c->enc_bias, c->enc_addmask, 0,
                    A->m_self_p, c->s_drop, c->drop_scale};
    if (l > 0) {
        attn_rows rows = {c->enc_ext, c->enc_ext, NULL, 0};
        t5pt_attention_backward(c->g_q, c->g_k, c->g_v, c->g_att, c->g_att2, c->g_ctx, A->q, A->k, A->v, A->probs, &ad,
                           &rows);
        /* dxn = dq Wq + dk Wk + dv Wv, then through RMSNorm into the residual gradient */
        for (int sg = 0; sg < c->nseg; sg++) {
            const int r0 = c->seg_r0[sg], M = c->seg_len[sg];
            float *gn = c->g_norm + (size_t)r0 * d;
            t5pt_linear_backward(gn, d, c->g_q + (size_t)r0 * inner, inner, M, &w->self.q, 0.0f);
            t5pt_linear_backward(gn, d, c->g_k + (size_t)r0 * inner, inner, M, &w->self.k, 1.0f);
            t5pt_linear_backward(gn, d, c->g_v + (size_t)r0 * inner, inner, M, &w->self.v, 1.0f);
            t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, gn, x_in + (size_t)r0 * d, w->ln_self, A->rstd_self + r0, M, d);
        }
    } else if (c->n > 0) {
        const int n = c->n;
        attn_rows rows = {c->enc_ext, c->enc_ext, c->prompt_at, n};
        t5pt_attention_backward(c->g_q, c->g_k, c->g_v, c->g_att, c->g_att2, c->g_ctx, A->q, A->k, A->v, A->probs, &ad,
                           &rows);
        for (int b = 0; b < c->B; b++) {
            const size_t r0 = (size_t)b * Tenc + (size_t)c->prompt_at[b];   /* first prompt row */
            float *gn = c->g_norm + r0 * d;
            t5pt_linear_backward(gn, d, c->g_q + r0 * inner, inner, n, &w->self.q, 0.0f);
            t5pt_linear_backward(gn, d, c->g_k + r0 * inner, inner, n, &w->self.k, 1.0f);
            t5pt_linear_backward(gn, d, c->g_v + r0 * inner, inner, n, &w->self.v, 1.0f);
            t5pt_rmsnorm_backward(c->g_h + r0 * d, gn, x_in + r0 * d, w->ln_self, A->rstd_self + r0, n, d);
        }
    }
}

/* ------------------------------------------------------------------ decoder */

static void dec_block_forward(t5pt_ctx *c, int l, const float *x_in, int *site) {
    const t5pt_config *cfg = &c->m->cfg;
    const t5pt_block_weights *w = &c->m->dec[l];
    t5pt_layer_acts *A = &c->dec[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, H = cfg->num_heads;
    const int L = c->L, Tenc = c->Tenc, Md = c->B * L, Me = c->B * Tenc;
    const float eps = cfg->layer_norm_epsilon;

    /* causal self-attention: h_self = x + drop(o(attn(RMSNorm(x)))) */
    t5pt_rmsnorm_forward(c->s_norm, A->rstd_self, x_in, w->ln_self, Md, d, eps);
    t5pt_linear_forward(A->q, inner, c->s_norm, d, Md, &w->self.q, 0.0f);
    t5pt_linear_forward(A->k, inner, c->s_norm, d, Md, &w->self.k, 0.0f);
    t5pt_linear_forward(A->v, inner, c->s_norm, d, Md, &w->self.v, 0.0f);
    attn_dims ad = {c->B, H, cfg->d_kv, L, L, c->dec_bias, NULL, 1,
                    drop_mask(c, A->m_self_p, (size_t)c->B * H * L * L, site), c->s_drop, c->drop_scale};
    t5pt_attention_forward(c->s_ctx, A->probs, A->q, A->k, A->v, &ad);
    t5pt_linear_forward(c->s_out, d, c->s_ctx, inner, Md, &w->self.o, 0.0f);
    t5pt_dropout_apply(c->s_out, drop_mask(c, A->m_self_out, (size_t)Md * d, site), c->drop_scale, (size_t)Md * d);
    t5pt_residual_forward(A->h_self, x_in, c->s_out, (size_t)Md * d);

    /* cross-attention on the encoder output (no position bias, encoder mask on keys) */
    t5pt_rmsnorm_forward(c->s_norm, A->rstd_cross, A->h_self, w->ln_cross, Md, d, eps);
    t5pt_linear_forward(A->cq, inner, c->s_norm, d, Md, &w->cross.q, 0.0f);
    t5pt_linear_forward(A->ck, inner, c->enc_final, d, Me, &w->cross.k, 0.0f);
    t5pt_linear_forward(A->cv, inner, c->enc_final, d, Me, &w->cross.v, 0.0f);
    attn_dims cd = {c->B, H, cfg->d_kv, L, Tenc, NULL, c->enc_addmask, 0,
                    drop_mask(c, A->m_cross_p, (size_t)c->B * H * L * Tenc, site), c->s_drop, c->drop_scale};
    t5pt_attention_forward(c->s_ctx, A->cprobs, A->cq, A->ck, A->cv, &cd);
    t5pt_linear_forward(c->s_out, d, c->s_ctx, inner, Md, &w->cross.o, 0.0f);
    t5pt_dropout_apply(c->s_out, drop_mask(c, A->m_cross_out, (size_t)Md * d, site), c->drop_scale, (size_t)Md * d);
    t5pt_residual_forward(A->h_cross, A->h_self, c->s_out, (size_t)Md * d);

    /* FFN */
    t5pt_rmsnorm_forward(c->s_norm, A->rstd_ff, A->h_cross, w->ln_ff, Md, d, eps);
    t5pt_ffn_forward(c->s_out, A->ff_pre, A->ff_lin, c->s_act, c->s_norm, w, cfg->gated_gelu, Md, f,
                drop_mask(c, A->m_ff_act, (size_t)Md * f, site), c->drop_scale);
    t5pt_dropout_apply(c->s_out, drop_mask(c, A->m_ff_out, (size_t)Md * d, site), c->drop_scale, (size_t)Md * d);
    t5pt_residual_forward(A->out, A->h_cross, c->s_out, (size_t)Md * d);
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
    const t5pt_layer_acts *A = &c->dec[l];
    const int d = cfg->d_model, inner = cfg->num_heads * cfg->d_kv, f = cfg->d_ff, H = cfg->num_heads;
    const int L = c->L, Tenc = c->Tenc, Md = c->B * L;
    const size_t nd = (size_t)Md * d;
    const float *dy;

    /* FFN: out = h_cross + drop(FFN(RMSNorm(h_cross))) */
    dy = c->g_h;
    if (A->m_ff_out) {
        memcpy(c->g_sub, c->g_h, nd * sizeof(float));
        t5pt_dropout_apply(c->g_sub, A->m_ff_out, c->drop_scale, nd);
        dy = c->g_sub;
    }
    t5pt_ffn_backward(c->g_norm, c->g_f1, c->g_f2, c->g_f3, dy, A->ff_pre, A->ff_lin, w, cfg->gated_gelu, Md, f,
                 A->m_ff_act, c->drop_scale);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, A->h_cross, w->ln_ff, A->rstd_ff, Md, d);

    /* cross-attention: h_cross = h_self + drop(o(attn(q(RMSNorm(h_self)), k(H_enc), v(H_enc)))) */
    dy = c->g_h;
    if (A->m_cross_out) {
        memcpy(c->g_sub, c->g_h, nd * sizeof(float));
        t5pt_dropout_apply(c->g_sub, A->m_cross_out, c->drop_scale, nd);
        dy = c->g_sub;
    }
    t5pt_linear_backward(c->g_ctx, inner, dy, d, Md, &w->cross.o, 0.0f);
    attn_dims cd = {c->B, H, cfg->d_kv, L, Tenc, NULL, c->enc_addmask, 0, A->m_cross_p, c->s_drop, c->drop_scale};
    attn_rows crows = {NULL, c->enc_ext, NULL, 0};   /* keys past enc_ext are masked */
    t5pt_attention_backward(l > 0 ? c->g_q : NULL, c->g_k, c->g_v, c->g_att, c->g_att2, c->g_ctx, A->cq, A->ck, A->cv,
                       A->cprobs, &cd, &crows);
    /* dH_enc += dK Wk + dV Wv   [Me,d], live encoder rows only */
    for (int sg = 0; sg < c->nseg; sg++) {
        const int r0 = c->seg_r0[sg], M = c->seg_len[sg];
        float *gh = c->g_henc + (size_t)r0 * d;
        t5pt_linear_backward(gh, d, c->g_k + (size_t)r0 * inner, inner, M, &w->cross.k, 1.0f);
        t5pt_linear_backward(gh, d, c->g_v + (size_t)r0 * inner, inner, M, &w->cross.v, 1.0f);
    }
    if (l == 0) return;   /* see above: everything below depends only on decoder_input_ids */
    t5pt_linear_backward(c->g_norm, d, c->g_q, inner, Md, &w->cross.q, 0.0f);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, A->h_self, w->ln_cross, A->rstd_cross, Md, d);

    /* causal self-attention: h_self = x + drop(o(attn(RMSNorm(x)))) */
    dy = c->g_h;
    if (A->m_self_out) {
        memcpy(c->g_sub, c->g_h, nd * sizeof(float));
        t5pt_dropout_apply(c->g_sub, A->m_self_out, c->drop_scale, nd);
        dy = c->g_sub;
    }
    t5pt_linear_backward(c->g_ctx, inner, dy, d, Md, &w->self.o, 0.0f);
    attn_dims ad = {c->B, H, cfg->d_kv, L, L, c->dec_bias, NULL, 1, A->m_self_p, c->s_drop, c->drop_scale};
    t5pt_attention_backward(c->g_q, c->g_k, c->g_v, c->g_att, c->g_att2, c->g_ctx, A->q, A->k, A->v, A->probs, &ad, NULL);
    t5pt_linear_backward(c->g_norm, d, c->g_q, inner, Md, &w->self.q, 0.0f);
    t5pt_linear_backward(c->g_norm, d, c->g_k, inner, Md, &w->self.k, 1.0f);
    t5pt_linear_backward(c->g_norm, d, c->g_v, inner, Md, &w->self.v, 1.0f);
    t5pt_rmsnorm_backward(c->g_h, c->g_norm, x_in, w->ln_self, A->rstd_self, Md, d);
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
 * its batch row (enc_ext[b]) is padding: in every layer it is a masked key (exact
 * probability 0 for every query) and a masked cross-attention key, so nothing it
 * computes reaches the loss and its gradient is exactly 0. The backward skips such
 * rows: segment s covers rows seg_r0[s] .. seg_r0[s]+seg_len[s]-1 of [B*Tenc]. Without
 * padding there is one segment of all rows (one big GEMM per weight). */
static void live_segments(t5pt_ctx *c) {
    int full = 1;
    for (int b = 0; b < c->B; b++) full &= c->enc_ext[b] == c->Tenc;
    c->nseg = 0;
    if (full) {
        c->seg_r0[0] = 0;
        c->seg_len[0] = c->B * c->Tenc;
        c->nseg = 1;
        return;
    }
    for (int b = 0; b < c->B; b++) {
        if (c->enc_ext[b] == 0) continue;
        c->seg_r0[c->nseg] = b * c->Tenc;
        c->seg_len[c->nseg] = c->enc_ext[b];
        c->nseg++;
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
            memcpy(E + (size_t)t * d, m->shared + (size_t)ids[src] * d, (size_t)d * sizeof(float));
            /* append: [1]*(len+n) + [0]*(T-len), as golden/reference.py place_prompt; this
             * assumes right padding (t5pt_batch), a masked token before the prompt is unmasked */
            if (pl.kind == T5PT_PLACE_APPEND)
                em[t] = t < len + n;
            else
                em[t] = mk ? (mk[src] != 0) : 1;
        }
        int ext = 0;
        for (int t = 0; t < Tenc; t++) {
            c->enc_addmask[(size_t)b * Tenc + t] = em[t] ? 0.0f : T5PT_MASK_NEG;
            if (em[t]) ext = t + 1;
        }
        c->enc_ext[b] = ext;
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
    bump fa = {c->arena, 0}, ga = {c->garena, 0}, da = {c->darena, 0};
    layout(c, c->B, c->Tenc, c->L, n, c->drop_on, &fa, &ga, &da);
    int site = 0;
    const int Me = c->B * c->Tenc, Md = c->B * c->L;

    /* ---- encoder ---- */
    embed_and_place(c, P, pl, batch);
    t5pt_position_bias_forward(c->enc_bias, c->diag, m->enc_rel_bias, H, c->Tenc, c->Tenc, 1, cfg->rel_num_buckets,
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
                memcpy(c->dec_h0 + ((size_t)b * L + t) * d, m->shared + (size_t)id * d, (size_t)d * sizeof(float));
            }
        }
        t5pt_dropout_apply(c->dec_h0, drop_mask(c, c->m_dec_emb, (size_t)Md * d, &site), c->drop_scale, (size_t)Md * d);
        t5pt_position_bias_forward(c->dec_bias, c->diag, m->dec_rel_bias, H, L, L, 0, cfg->rel_num_buckets, cfg->rel_max_distance);
        for (int l = 0; l < cfg->num_decoder_layers; l++)
            dec_block_forward(c, l, l == 0 ? c->dec_h0 : c->dec[l - 1].out, &site);
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
    for (int l = cfg->num_decoder_layers - 1; l >= 0; l--)
        dec_block_backward(c, l, l == 0 ? c->dec_h0 : c->dec[l - 1].out);

    /* encoder final norm, then the blocks */
    t5pt_dropout_apply(c->g_henc, c->m_enc_final, c->drop_scale, (size_t)Me * d);
    memset(c->g_h, 0, (size_t)Me * d * sizeof(float));
    const float *enc_last = c->enc[cfg->num_layers - 1].out;
    for (int sg = 0; sg < c->nseg; sg++) {
        const int r0 = c->seg_r0[sg], M = c->seg_len[sg];
        t5pt_rmsnorm_backward(c->g_h + (size_t)r0 * d, c->g_henc + (size_t)r0 * d, enc_last + (size_t)r0 * d,
                         m->enc_final_ln, c->enc_final_rstd + r0, M, d);
    }
    for (int l = cfg->num_layers - 1; l >= 0; l--)
        enc_block_backward(c, l, l == 0 ? c->enc_h0 : c->enc[l - 1].out);

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
