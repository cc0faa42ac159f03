/* layers.h — the T5 layers as forward/backward pairs over plain float arrays (internal).
 *
 * Conventions: M = number of rows (tokens, batch folded in), d = d_model, f = d_ff,
 * H heads of size dk, inner = H*dk. Row-major everywhere. The weights are frozen,
 * so every _backward returns only the gradient with respect to its input activation:
 * no weight, norm-weight or bias gradient exists anywhere in t5pt.
 * Row-wise work is split over OpenMP threads by rows and attention over (batch, head),
 * so results never depend on the thread count.
 */
#ifndef T5PT_LAYERS_H
#define T5PT_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* OpenMP loop pragma that disappears in NO_OMP builds (no unknown-pragma warning). */
#ifdef _OPENMP
#define T5PT_PRAGMA(text) _Pragma(#text)
#define T5PT_OMP_FOR _Pragma("omp parallel for schedule(static)")
#define T5PT_OMP_FOR_DYNAMIC _Pragma("omp parallel for schedule(dynamic, 1)")
/* Only when cond holds: small loops (one decoding step's rows) are cheaper than waking
 * threads. Row-wise kernels go parallel from T5PT_OMP_MIN_FLOATS floats on. */
#define T5PT_OMP_MIN_FLOATS 32768
#define T5PT_OMP_FOR_IF(cond) T5PT_PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define T5PT_OMP_FOR
#define T5PT_OMP_FOR_DYNAMIC
#define T5PT_OMP_FOR_IF(cond)
#endif

/* Additive mask value for a masked key: HF uses torch.finfo(float32).min. Any
 * finite large negative gives exp() == 0 exactly and never NaN. */
#define T5PT_MASK_NEG (-3.4028234663852886e38f)

/* ------------------------------------------------------------------ relative position */

/* T5's bucket of relative position rel = key_pos - query_pos, computed like HF
 * (T5Attention._relative_position_bucket) in float32: log of a float32 ratio, then
 * truncation. bidirectional: encoder; otherwise causal (decoder). */
int t5pt_relative_bucket(int rel, int bidirectional, int num_buckets, int max_distance);

/* bias[h, i, j] = table[bucket(j - (q0 + i)), h] for i < Tq, j < Tk: queries at positions
 * q0 .. q0+Tq-1 (q0 = 0 for a full sequence; the newest position in cached decoding) against
 * keys at positions 0 .. Tk-1. table is [num_buckets, H].
 * diag: scratch of Tq + Tk - 1 ints (the bucket of each diagonal). */
void t5pt_position_bias_forward(float *bias, int32_t *diag, const float *table, int H, int Tq, int Tk, int q0,
                                int bidirectional, int num_buckets, int max_distance);

/* ------------------------------------------------------------------ RMSNorm */

/* y[M,d] = x * rstd * w with rstd[M] = 1/sqrt(mean(x^2) + eps) saved for the backward. */
void t5pt_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int M, int d, float eps);
/* dx[M,d] += dy * dy/dx  (needs only x and rstd; the output y is not kept). */
void t5pt_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int M, int d);

/* ------------------------------------------------------------------ residual / dropout */

/* y[M,d] = a + b */
void t5pt_residual_forward(float *y, const float *a, const float *b, size_t n);
/* dy flows unchanged to both a and b: the callers simply reuse the same gradient buffer. */

/* Inverted dropout masks: m[i] = 1 with probability 1-rate. Counter-based
 * (seed, stream, i) so filling is parallel and thread-count independent. */
void t5pt_dropout_fill(uint8_t *m, size_t n, float rate, uint64_t seed, uint64_t stream);
/* x[n] *= m ? scale : 0, with scale = 1/(1-rate). The same call is the forward
 * (on the activation) and the backward (on its gradient). m NULL = no-op. */
void t5pt_dropout_apply(float *x, const uint8_t *m, float scale, size_t n);

/* ------------------------------------------------------------------ attention core */

/* The part of an attention sublayer between the projections:
 *   S = Q K^T (NOT scaled by 1/sqrt(dk): T5 folds it into the init) + pos_bias + key_mask
 *   P = softmax(S) (then dropout), ctx = P V
 * q: [B,Tq,inner], k, v: [B,Tk,inner], ctx: [B,Tq,inner], probs: [B,H,Tq,Tk] (pre-dropout, kept).
 * Fields left 0 / NULL in a designated initialiser mean the plain case. */
typedef struct {
    int B, H, dk;            /* inner = H*dk is the row stride of q, k, v, ctx */
    int Tq, Tk;
    const float *pos_bias;   /* [H,Tq,Tk] shared relative position bias, or NULL (cross-attention) */
    const float *key_mask;   /* [B,Tk] additive 0 / T5PT_MASK_NEG, or NULL */
    int causal;              /* query i sees keys 0..q0+i only (decoder self-attention) */
    const uint8_t *drop;     /* [B,H,Tq,Tk] dropout mask of the probabilities, or NULL */
    float *drop_buf;         /* [B,H,Tq,Tk] scratch for the dropped probabilities (with drop) */
    float drop_scale;
    t5pt_precision prec;     /* T5PT_PRECISION_BF16: every product of the core (forward and backward)
                                takes bf16-rounded operands, fp32 sums (the model's precision) */
    /* Forward only, for cached decoding (the backward takes the plain layout): */
    int q0;                  /* position of query 0 (causal: query i sees keys 0..q0+i) */
    size_t kv_stride;        /* floats between batch rows of k and v (0: Tk*inner); a cache holds more rows */
    const int32_t *kv_row;   /* [B] batch row of k, v and key_mask for each query batch row (NULL: the same) */
} attn_dims;

/* One query row per (batch, head) (Tq == 1, cached decoding) is computed as dot products
 * and a weighted sum of value rows; more rows through the kernel table's attn_gemm, which
 * packs nothing and allocates nothing (layers.c). In bf16 precision every product, for any
 * Tq, is one single-threaded call of the bf16 GEMM (simd/gemm_bf16.h) per (batch, head). Each (batch, head) pair is computed by
 * one thread, so the result does not depend on the thread count. */
void t5pt_attention_forward(float *ctx, float *probs, const float *q, const float *k, const float *v,
                            const attn_dims *a);

/* Which rows of an attention backward matter, per batch row b (NULL pointers: all).
 *   qlen: queries 0..qlen[b]-1 carry gradient; dctx of later queries is never read.
 *   klen: keys 0..klen[b]-1 get dk, dv; later keys must be masked (probability 0),
 *         their dk, dv rows are left untouched.
 *   sel0: (self-attention) dq, dk, dv only for rows sel0[b] .. sel0[b]+nsel-1, which
 *         must lie below qlen[b] and klen[b]. */
typedef struct {
    const int32_t *qlen, *klen, *sel0;
    int nsel;
} attn_rows;

/* What the attention backward writes: the gradients w.r.t. its inputs and one scratch. */
typedef struct {
    float *dq;               /* [B,Tq,inner], or NULL: the queries are constants, nothing to compute */
    float *dk, *dv;          /* [B,Tk,inner] */
    float *scratch;          /* [B,H,Tq,Tk]: dP, then dS in place */
} attn_grads;

/* Gradients of the core w.r.t. q, k, v from dctx [B,Tq,inner] (rows NULL: every row), given
 * the forward's inputs and probabilities. With dropout, a->drop_buf holds the rebuilt dropped
 * probabilities. */
void t5pt_attention_backward(const attn_grads *g, const float *dctx, const float *q, const float *k, const float *v,
                             const float *probs, const attn_dims *a, const attn_rows *rows);

/* ------------------------------------------------------------------ feed-forward */

/* relu:       y = wo( drop( relu(wi x) ) )                       pre = wi x        [M,f]
 * gated-gelu: y = wo( drop( gelu_tanh(wi_0 x) * (wi_1 x) ) )     pre = wi_0 x, lin = wi_1 x
 * x [M,d], y [M,d]; act [M,f] is scratch (only the pre-activations are kept). */
void t5pt_ffn_forward(float *y, float *pre, float *lin, float *act, const float *x, const t5pt_block_weights *w,
                      int gated, int M, int f, const uint8_t *drop, float drop_scale);
/* dx[M,d] = d/dx from dy[M,d]. Scratch [M,f]: d_act (the activation's gradient; relu: then
 * the pre-activation's, in place), d_pre and d_lin (gated only: of wi_0 x and wi_1 x). */
void t5pt_ffn_backward(float *dx, float *d_act, float *d_pre, float *d_lin, const float *dy, const float *pre,
                       const float *lin, const t5pt_block_weights *w, int gated, int M, int f, const uint8_t *drop,
                       float drop_scale);

#endif
