/* layers.c — T5 layers: each xxx_forward next to its xxx_backward (see layers.h).
 *
 * Only activation gradients: the weights are frozen, so a linear y = x W^T has just
 * dx = dy W in its backward, and nothing that feeds only a weight gradient (a linear
 * layer's input, a norm's output) needs to be kept from the forward pass.
 */
#include "model/layers.h"

#include <math.h>
#include <string.h>

#include "simd/gemm.h"
#include "simd/gemm_bf16.h"
#include "simd/kernels.h"
#include "base/internal.h"

/* ------------------------------------------------------------------ relative position */

int t5pt_relative_bucket(int rel, int bidirectional, int num_buckets, int max_distance) {
    int bucket = 0;
    int n = num_buckets;
    if (bidirectional) {
        n /= 2;                         /* half the buckets for keys after the query */
        if (rel > 0) bucket += n;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0;       /* -min(rel, 0): only the past is visible */
    }
    int max_exact = n / 2;
    if (rel < max_exact) return bucket + rel;   /* exact buckets for small distances */
    /* Logarithmic buckets up to max_distance, in float32 like torch:
     * log(float(rel) / max_exact) / log(max_distance / max_exact) * (n - max_exact), truncated.
     * torch divides by the Python double log(...) converted to float32. */
    float ratio = (float)rel / (float)max_exact;
    float den = (float)log((double)max_distance / (double)max_exact);
    float v = logf(ratio) / den * (float)(n - max_exact);
    int large = max_exact + (int)v;     /* v >= 0 here: truncation == floor */
    if (large > n - 1) large = n - 1;
    return bucket + large;
}

void t5pt_position_bias_forward(float *bias, int32_t *diag, const float *table, int H, int Tq, int Tk, int q0,
                                int bidirectional, int num_buckets, int max_distance) {
    /* The bucket depends only on j - i: one bucket per diagonal, diag[j - i + Tq - 1], of the
     * relative position j - (q0 + i). */
    for (int r = -(Tq - 1); r <= Tk - 1; r++)
        diag[r + Tq - 1] = t5pt_relative_bucket(r - q0, bidirectional, num_buckets, max_distance);
    T5PT_OMP_FOR_IF((size_t)H * Tq * Tk >= T5PT_OMP_MIN_FLOATS)
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Tq; i++) {
            float *row = bias + ((size_t)h * Tq + i) * Tk;
            const int32_t *dg = diag + (Tq - 1 - i);   /* dg[j] = bucket(j - i) */
            for (int j = 0; j < Tk; j++) row[j] = table[(size_t)dg[j] * H + h];
        }
    /* No backward: the bias table is a frozen weight and does not depend on the prompt. */
}

/* ------------------------------------------------------------------ RMSNorm */

void t5pt_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int M, int d, float eps) {
    const t5pt_kernels *k = t5pt_kern();
    T5PT_OMP_FOR_IF((size_t)M * d >= T5PT_OMP_MIN_FLOATS)
    for (int r = 0; r < M; r++)
        rstd[r] = k->rmsnorm_forward(y + (size_t)r * d, x + (size_t)r * d, w, d, eps);
}

void t5pt_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int M, int d) {
    const t5pt_kernels *k = t5pt_kern();
    T5PT_OMP_FOR_IF((size_t)M * d >= T5PT_OMP_MIN_FLOATS)
    for (int r = 0; r < M; r++)
        k->rmsnorm_backward(dx + (size_t)r * d, dy + (size_t)r * d, x + (size_t)r * d, w, rstd[r], d);
}

/* ------------------------------------------------------------------ residual / dropout */

void t5pt_residual_forward(float *y, const float *a, const float *b, size_t n) {
    const t5pt_kernels *k = t5pt_kern();
    const size_t chunk = 4096;
    long nchunks = (long)((n + chunk - 1) / chunk);
    T5PT_OMP_FOR_IF(n >= T5PT_OMP_MIN_FLOATS)
    for (long c = 0; c < nchunks; c++) {
        size_t i0 = (size_t)c * chunk, len = n - i0 < chunk ? n - i0 : chunk;
        k->add(y + i0, a + i0, b + i0, (int)len);
    }
}

void t5pt_dropout_fill(uint8_t *m, size_t n, float rate, uint64_t seed, uint64_t stream) {
    uint64_t key = t5pt_splitmix64(seed ^ t5pt_splitmix64(stream));
    /* keep iff the top 24 bits of the hash are >= rate * 2^24 */
    uint64_t thresh = (uint64_t)((double)rate * 16777216.0);
    long nn = (long)n;
    T5PT_OMP_FOR
    for (long i = 0; i < nn; i++) m[i] = (uint8_t)((t5pt_splitmix64(key + (uint64_t)i) >> 40) >= thresh);
}

void t5pt_dropout_apply(float *x, const uint8_t *m, float scale, size_t n) {
    if (!m) return;
    long nn = (long)n;
    T5PT_OMP_FOR
    for (long i = 0; i < nn; i++) x[i] = m[i] ? x[i] * scale : 0.0f;
}

/* ------------------------------------------------------------------ attention core */

/* The attention products are small (d_kv = 64 columns, a few hundred keys) and there are
 * B*H of each: the BLIS path of simd/gemm.c (pack both operands into freshly allocated
 * panels, a parallel region per call) cost more than the arithmetic. Here each (batch,
 * head) pair is computed whole by one thread (one parallel loop per core call, so the
 * result does not depend on the thread count), and every product goes through the kernel
 * table's attn_gemm, which reads its operands in place:
 *   P V, dS K        A row-major (the probabilities), B = rows of V, K
 *   Pd^T dC, dS^T Q  A transposed, B = rows of dC, Q
 *   Q K^T, dC V^T    B^T is needed: a block of keys is transposed into a 16 KB stack tile
 *                    (attn_product_nt).
 * (attn_gemm itself copies strided rows of B, 16 KB at a time, to its stack.) Nothing is
 * allocated: 32 KB of stack per thread at most.
 * The softmax (+ position bias + key mask) and the dropout of a row are one pass over
 * that row, which writes the probabilities in the [Tq,Tk] layout P V reads. */

/* Floats of the transposed-key tile (16 KB: a block of keys stays in L1 with its rows of Q). */
#define ATTN_BT_FLOATS 4096

/* C[M,N] (row stride ldc) = A[M,dk] (row stride lda) B[N,dk]^T (row stride ldb). */
static void attn_product_nt(const t5pt_kernels *kern, int M, int N, int dk, const float *A, size_t lda,
                            const float *B, size_t ldb, float *C, size_t ldc) {
    int kb = ATTN_BT_FLOATS / dk;   /* keys per block, a multiple of 32 when it can be */
    if (kb >= 32) kb -= kb % 32;
    if (kb < 1) {   /* d_kv beyond 4096: the general GEMM */
        t5pt_sgemm(0, 1, M, N, dk, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        return;
    }
    float bt[ATTN_BT_FLOATS];   /* [dk][n]: the block of B, transposed */
    for (int j0 = 0; j0 < N; j0 += kb) {
        const int n = N - j0 < kb ? N - j0 : kb;
        kern->transpose(bt, (size_t)n, B + (size_t)j0 * ldb, ldb, n, dk);
        kern->attn_gemm(M, n, dk, A, lda, 1, bt, (size_t)n, C + j0, ldc);
    }
}

/* The bf16 precision's attention products (t5pt_precision): C[M,N] = op(A)[M,K] op(B)[K,N]
 * with both operands rounded to bf16 while packed and fp32 sums, on the calling thread
 * (the caller's loop over (batch, head) is the parallel one), overwriting C. The same
 * operands as golden/reference.py's Bf16Mode rounds: Q and K for the scores, the
 * probabilities (after dropout) and V for the context, and in the backward dC, V, P, dS,
 * K, Q as they enter their products. */
static void attn_bf16(int transA, int transB, int M, int N, int K, const float *A, size_t lda, const float *B,
                      size_t ldb, float *C, size_t ldc) {
    t5pt_bf16_gemm_ex(transA, transB, M, N, K, 1.0f, A, T5PT_BF16_SRC_F32, (int)lda, B, T5PT_BF16_SRC_F32, (int)ldb,
                      0.0f, C, (int)ldc, 1, NULL);
}

/* P*m*scale: the probabilities after dropout, rebuilt whenever needed (the saved P stays
 * undropped, the softmax backward needs it). n entries. */
static const float *dropped(float *buf, const float *P, const uint8_t *m, float scale, size_t n) {
    for (size_t e = 0; e < n; e++) buf[e] = m[e] ? P[e] * scale : 0.0f;
    return buf;
}

void t5pt_attention_forward(float *ctx, float *probs, const float *q, const float *k, const float *v,
                            const attn_dims *a) {
    const t5pt_kernels *kern = t5pt_kern();
    const int H = a->H, dk = a->dk, Tq = a->Tq, Tk = a->Tk, inner = H * dk;
    const size_t kv_stride = a->kv_stride ? a->kv_stride : (size_t)Tk * inner;
    const long BH = (long)a->B * H;
    const int bf16 = a->prec == T5PT_PRECISION_BF16;
    /* Each (batch, head) pair is independent: one thread computes it whole. */
    T5PT_OMP_FOR_DYNAMIC
    for (long bh = 0; bh < BH; bh++) {
        const int b = (int)(bh / H), h = (int)(bh % H);
        const size_t kb = (size_t)(a->kv_row ? a->kv_row[b] : b);     /* batch row of the keys */
        const float *Q = q + (size_t)b * Tq * inner + (size_t)h * dk;   /* [Tq,dk] stride inner */
        const float *K = k + kb * kv_stride + (size_t)h * dk;           /* [Tk,dk] */
        const float *V = v + kb * kv_stride + (size_t)h * dk;           /* [Tk,dk] */
        const float *mask = a->key_mask ? a->key_mask + kb * Tk : NULL; /* [Tk] */
        float *P = probs + (size_t)bh * Tq * Tk;                        /* [Tq,Tk] */
        float *C = ctx + (size_t)b * Tq * inner + (size_t)h * dk;       /* [Tq,dk] */
        const uint8_t *m = a->drop ? a->drop + (size_t)bh * Tq * Tk : NULL;
        float *Pd = m ? a->drop_buf + (size_t)bh * Tq * Tk : P;         /* what ctx uses: P*m with dropout */
        /* S = Q K^T, unscaled */
        if (bf16)
            attn_bf16(0, 1, Tq, Tk, dk, Q, (size_t)inner, K, (size_t)inner, P, (size_t)Tk);
        else if (Tq == 1)
            for (int j = 0; j < Tk; j++) P[j] = kern->dot(Q, K + (size_t)j * inner, dk);
        else
            attn_product_nt(kern, Tq, Tk, dk, Q, (size_t)inner, K, (size_t)inner, P, (size_t)Tk);
        /* one pass per row: + bias + mask, softmax, dropout */
        for (int i = 0; i < Tq; i++) {
            float *row = P + (size_t)i * Tk;
            const float *bias = a->pos_bias ? a->pos_bias + ((size_t)h * Tq + i) * Tk : NULL;
            /* causal: keys after the query get probability exactly 0 (what exp(-huge) gives) */
            const int seen = a->q0 + i + 1;
            const int n = a->causal && seen < Tk ? seen : Tk;
            kern->softmax_forward(row, bias, mask, n);
            if (n < Tk) memset(row + n, 0, (size_t)(Tk - n) * sizeof(float));
            if (m) dropped(Pd + (size_t)i * Tk, row, m + (size_t)i * Tk, a->drop_scale, (size_t)Tk);
        }
        /* ctx = Pd V */
        if (bf16) {
            attn_bf16(0, 0, Tq, dk, Tk, Pd, (size_t)Tk, V, (size_t)inner, C, (size_t)inner);
        } else if (Tq == 1) {
            memset(C, 0, (size_t)dk * sizeof(float));
            for (int j = 0; j < Tk; j++) kern->axpy(C, Pd[j], V + (size_t)j * inner, dk);
        } else {
            kern->attn_gemm(Tq, dk, Tk, Pd, (size_t)Tk, 1, V, (size_t)inner, C, (size_t)inner);
        }
    }
}

void t5pt_attention_backward(const attn_grads *g, const float *dctx, const float *q, const float *k, const float *v,
                             const float *probs, const attn_dims *a, const attn_rows *rows) {
    const t5pt_kernels *kern = t5pt_kern();
    const int H = a->H, dkv = a->dk, Tq = a->Tq, Tk = a->Tk, inner = H * dkv;
    const long BH = (long)a->B * H;
    const int bf16 = a->prec == T5PT_PRECISION_BF16;
    T5PT_OMP_FOR_DYNAMIC
    for (long bh = 0; bh < BH; bh++) {
        const int b = (int)(bh / H), h = (int)(bh % H);
        const size_t qoff = (size_t)b * Tq * inner + (size_t)h * dkv;
        const size_t koff = (size_t)b * Tk * inner + (size_t)h * dkv;
        const float *Q = q + qoff, *K = k + koff, *V = v + koff;
        const float *dC = dctx + qoff;                                  /* [Tq,dk] */
        const float *P = probs + (size_t)bh * Tq * Tk;                  /* [Tq,Tk] */
        float *dP = g->scratch + (size_t)bh * Tq * Tk;                  /* [Tq,Tk] */
        const uint8_t *m = a->drop ? a->drop + (size_t)bh * Tq * Tk : NULL;
        /* queries 0..qn-1 carry gradient, keys 0..kn-1 can receive it (the rest are masked) */
        const int qn = rows && rows->qlen ? rows->qlen[b] : Tq;
        const int kn = rows && rows->klen ? rows->klen[b] : Tk;
        if (qn <= 0 || kn <= 0) continue;
        /* rows whose dq / dk, dv are wanted */
        const int sel = rows && rows->sel0;
        const int qr0 = sel ? rows->sel0[b] : 0, qrn = sel ? rows->nsel : qn;
        const int kr0 = sel ? rows->sel0[b] : 0, krn = sel ? rows->nsel : kn;

        /* ctx = Pd V  =>  dV = Pd^T dC over the live queries (Pd = P*m with dropout) */
        const float *Pd = m ? dropped(a->drop_buf + (size_t)bh * Tq * Tk, P, m, a->drop_scale, (size_t)qn * Tk) : P;
        if (krn > 0 && bf16)
            attn_bf16(1, 0, krn, dkv, qn, Pd + kr0, (size_t)Tk, dC, (size_t)inner, g->dv + koff + (size_t)kr0 * inner,
                      (size_t)inner);
        else if (krn > 0)
            kern->attn_gemm(krn, dkv, qn, Pd + kr0, 1, (size_t)Tk, dC, (size_t)inner,
                            g->dv + koff + (size_t)kr0 * inner, (size_t)inner);

        /* dPd = dC V^T [qn,kn] */
        if (bf16)
            attn_bf16(0, 1, qn, kn, dkv, dC, (size_t)inner, V, (size_t)inner, dP, (size_t)Tk);
        else
            attn_product_nt(kern, qn, kn, dkv, dC, (size_t)inner, V, (size_t)inner, dP, (size_t)Tk);

        /* one pass per row: through the dropout mask, then the softmax backward in place,
         * dS = P * (dP - <P, dP>). Masked keys (j >= kn, or after the query when causal)
         * have P == 0 exactly, so leaving them out of <P, dP> is exact and their dS is 0.
         * Position bias and mask are constants: no gradient. */
        for (int i = 0; i < qn; i++) {
            float *row = dP + (size_t)i * Tk;
            if (m) {
                const uint8_t *mr = m + (size_t)i * Tk;
                for (int j = 0; j < kn; j++) row[j] = mr[j] ? row[j] * a->drop_scale : 0.0f;
            }
            int n = a->causal && i + 1 < kn ? i + 1 : kn;
            kern->softmax_backward(row, P + (size_t)i * Tk, row, n);
            if (n < kn) memset(row + n, 0, (size_t)(kn - n) * sizeof(float));
        }
        const float *dS = dP;   /* [qn,kn] live part */

        /* S = Q K^T  =>  dQ = dS K, dK = dS^T Q */
        if (bf16) {
            if (g->dq && qrn > 0)
                attn_bf16(0, 0, qrn, dkv, kn, dS + (size_t)qr0 * Tk, (size_t)Tk, K, (size_t)inner,
                          g->dq + qoff + (size_t)qr0 * inner, (size_t)inner);
            if (krn > 0)
                attn_bf16(1, 0, krn, dkv, qn, dS + kr0, (size_t)Tk, Q, (size_t)inner, g->dk + koff + (size_t)kr0 * inner,
                          (size_t)inner);
            continue;
        }
        if (g->dq && qrn > 0)
            kern->attn_gemm(qrn, dkv, kn, dS + (size_t)qr0 * Tk, (size_t)Tk, 1, K, (size_t)inner,
                            g->dq + qoff + (size_t)qr0 * inner, (size_t)inner);
        if (krn > 0)
            kern->attn_gemm(krn, dkv, qn, dS + kr0, 1, (size_t)Tk, Q, (size_t)inner,
                            g->dk + koff + (size_t)kr0 * inner, (size_t)inner);
    }
}

/* ------------------------------------------------------------------ feed-forward */

void t5pt_ffn_forward(float *y, float *pre, float *lin, float *act, const float *x, const t5pt_block_weights *w,
                      int gated, int M, int f, const uint8_t *drop, float drop_scale) {
    const t5pt_kernels *k = t5pt_kern();
    const int d = w->wo.N;
    if (gated) {
        float *const ys[2] = {pre, lin};                         /* a = wi_0 x, b = wi_1 x  [M,f] */
        const int ld[2] = {f, f};
        const t5pt_linear *const lins[2] = {&w->wi_0, &w->wi_1};
        t5pt_linear_forward_group(ys, ld, x, d, M, lins, 2);     /* one product (simd/gemm.h) */
        T5PT_OMP_FOR_IF((size_t)M * f >= T5PT_OMP_MIN_FLOATS)
        for (int r = 0; r < M; r++)
            k->gated_gelu_forward(act + (size_t)r * f, pre + (size_t)r * f, lin + (size_t)r * f, f);
    } else {
        t5pt_linear_forward(pre, f, x, d, M, &w->wi, 0.0f);     /* wi x         [M,f] */
        T5PT_OMP_FOR_IF((size_t)M * f >= T5PT_OMP_MIN_FLOATS)
        for (int r = 0; r < M; r++) k->relu_forward(act + (size_t)r * f, pre + (size_t)r * f, f);
    }
    t5pt_dropout_apply(act, drop, drop_scale, (size_t)M * f);
    t5pt_linear_forward(y, d, act, f, M, &w->wo, 0.0f);         /* y = wo h     [M,d] */
}

void t5pt_ffn_backward(float *dx, float *d_act, float *d_pre, float *d_lin, const float *dy, const float *pre,
                       const float *lin, const t5pt_block_weights *w, int gated, int M, int f, const uint8_t *drop,
                       float drop_scale) {
    const t5pt_kernels *k = t5pt_kern();
    const int d = w->wo.N;
    t5pt_linear_backward(d_act, f, dy, d, M, &w->wo, 0.0f);      /* dh = dy Wo   [M,f] */
    t5pt_dropout_apply(d_act, drop, drop_scale, (size_t)M * f);
    if (gated) {
        T5PT_OMP_FOR
        for (int r = 0; r < M; r++)
            k->gated_gelu_backward(d_pre + (size_t)r * f, d_lin + (size_t)r * f, d_act + (size_t)r * f,
                                   pre + (size_t)r * f, lin + (size_t)r * f, f);
        const float *const dys[2] = {d_pre, d_lin};
        const int ld[2] = {f, f};
        const t5pt_linear *const lins[2] = {&w->wi_0, &w->wi_1};
        t5pt_linear_backward_group(dx, d, dys, ld, M, lins, 2, 0.0f); /* dx = da Wi0 + db Wi1 */
    } else {
        (void)d_pre;
        (void)d_lin;
        (void)lin;
        T5PT_OMP_FOR
        for (int r = 0; r < M; r++)   /* in place: dpre = dh * (pre > 0) */
            k->relu_backward(d_act + (size_t)r * f, d_act + (size_t)r * f, pre + (size_t)r * f, f);
        t5pt_linear_backward(dx, d, d_act, f, M, &w->wi, 0.0f);     /* dx = dpre Wi */
    }
}
