/* kernels.h — the table of compute kernels every ISA fills in.
 *
 * simd/scalar.c is the readable reference. The vector paths simd/avx2.c, simd/avx512.c
 * and simd/neon.c each hold what truly differs per ISA — the vector layer
 * (simd/vec_<isa>.h), the GEMM micro-kernel and its blocking — and take the elementwise
 * kernels from simd/vec_kernels.h, written once over the vector layer and compiled with
 * each ISA's flags. simd/dispatch.c picks one table at start-up (CPU detection,
 * T5PT_SIMD override). All pointers are plain float arrays; n is the row length. "+="
 * kernels accumulate.
 */
#ifndef T5PT_KERNELS_H
#define T5PT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* gelu_new's constants: gelu(x) = 0.5 x (1 + tanh(C (x + A x^3))). */
#define T5PT_GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define T5PT_GELU_A 0.044715f

/* Largest register tile any ISA may declare (simd/gemm.c keeps an edge tile of this size). */
#define T5PT_GEMM_MAX_MR 32
#define T5PT_GEMM_MAX_NR 64

/* One ISA's single-precision GEMM, in BLIS's terms: simd/gemm.c does the cache blocking
 * and packing around the register micro-kernel; each ISA declares its tile and blocking. */
typedef struct t5pt_gemm_kernel {
    int mr, nr; /* register tile: MR rows x NR columns of C */
    int kc;     /* depth of a packed block (the micro-kernel's k, except at the end) */
    int mc;     /* rows of a packed A block (mc x kc floats, meant to stay in L2); a multiple of mr */
    /* C[MR,NR] (row stride ldc) = (accumulate ? C : 0) + sum_p a[p*MR + i] * b[p*ldb + j], p < k.
     * a: packed A micro-panel [k][MR] (64-byte aligned); b: NR floats per depth step, ldb
     * floats apart: a packed B micro-panel (ldb = NR, aligned) or the rows of a weight read
     * in place (ldb = its row length; b aligned only to 4 bytes). */
    void (*micro)(int k, const float *a, const float *b, size_t ldb, float *c, int ldc, int accumulate);
    /* One full A micro-panel of depth kc: dst[p*MR + i] = alpha * op(A)[i, p], i < MR, from a
     * row-major A (pack_a: src[i*lda + p]) or a transposed one (pack_at: src[p*lda + i]).
     * Per ISA only so that MR is a constant in the copy loops (simd/gemm_pack.h). */
    void (*pack_a)(float *dst, const float *src, size_t lda, int kc, float alpha);
    void (*pack_at)(float *dst, const float *src, size_t lda, int kc, float alpha);
    /* One full B micro-panel of a weight's transpose: dst[p*NR + j] = src[j*lds + p], j < NR,
     * p < k (the forward y = x W^T packs W^T per call with it; simd/gemm_pack.h). */
    void (*pack_bt)(float *dst, const float *src, size_t lds, int k);
} t5pt_gemm_kernel;

typedef struct t5pt_kernels {
    const char *name;                 /* "scalar", "avx2", "avx512", "neon" */
    t5pt_gemm_kernel gemm;

    /* RMSNorm (T5LayerNorm): y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps). Returns rstd. */
    float (*rmsnorm_forward)(float *y, const float *x, const float *w, int n, float eps);
    /* dx += (w*dy)*rstd - x * rstd^3 * mean(x * w * dy) */
    void (*rmsnorm_backward)(float *dx, const float *dy, const float *x, const float *w, float rstd, int n);

    /* In-place softmax of s[n] + bias[n] + mask[n] (bias, mask may be NULL). */
    void (*softmax_forward)(float *s, const float *bias, const float *mask, int n);
    /* ds[i] = p[i] * (dp[i] - sum_j p[j] dp[j]) */
    void (*softmax_backward)(float *ds, const float *p, const float *dp, int n);

    void (*relu_forward)(float *y, const float *x, int n);
    void (*relu_backward)(float *dx, const float *dy, const float *x, int n);           /* dx = dy * (x > 0) */
    /* gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    void (*gelu_forward)(float *y, const float *x, int n);
    void (*gelu_backward)(float *dx, const float *dy, const float *x, int n);           /* dx = dy * gelu'(x) */
    /* gated: h = gelu(a) * b */
    void (*gated_gelu_forward)(float *h, const float *a, const float *b, int n);
    void (*gated_gelu_backward)(float *da, float *db, const float *dh, const float *a, const float *b, int n);

    void (*add)(float *y, const float *a, const float *b, int n);    /* y = a + b */
    void (*acc)(float *y, const float *x, int n);                    /* y += x */
    void (*scale)(float *y, const float *x, float s, int n);         /* y = s * x */
    void (*axpy)(float *y, float a, const float *x, int n);          /* y += a * x */
    float (*dot)(const float *a, const float *b, int n);

    /* Cross-entropy pieces: log(sum exp(x)) computed stably, and
     * dx[i] = scale * (exp(x[i] - lse) - (i == target)). */
    float (*logsumexp)(const float *x, int n);
    void (*xent_backward)(float *dx, const float *x, float lse, int target, float scale, int n);

    /* The small products of the attention core (d_kv columns, or a block of keys), with
     * nothing packed and nothing allocated: B's rows are read in place.
     *   C[M,N] (row stride ldc) = sum_{p<K} A[i*ai + p*ap] * B[p*ldb + j]
     * A row-major: ai = lda, ap = 1; A transposed: ai = 1, ap = lda. Each C element is
     * summed over p in order on every path (fused multiply-adds on the vector paths). */
    void (*attn_gemm)(int M, int N, int K, const float *A, size_t ai, size_t ap, const float *B, size_t ldb,
                      float *C, size_t ldc);

    /* dst[c*ldd + r] = src[r*lds + c], r < rows, c < cols (the keys of Q K^T, d C V^T, as
     * the rows of attn_gemm's B): register tiles of VLEN x VLEN on the vector paths. */
    void (*transpose)(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols);

    void (*bf16_to_f32)(float *y, const uint16_t *x, size_t n);
    void (*f16_to_f32)(float *y, const uint16_t *x, size_t n);
    /* dst[i] = src[i] rounded to bf16 (nearest, ties to even; NaN quiet) and widened back to
     * fp32, exactly t5pt_f32_to_bf16 of simd/bf16.h; dst may be src. */
    void (*bf16_round)(float *dst, const float *src, size_t n);
} t5pt_kernels;

/* The selected table (never NULL after the first call). */
const t5pt_kernels *t5pt_kern(void);

/* Tables per ISA; NULL when not compiled in for this architecture. (Functions, not
 * exported data: the library exports no variables.) */
const t5pt_kernels *t5pt_kernels_scalar(void);
const t5pt_kernels *t5pt_kernels_avx2(void);
const t5pt_kernels *t5pt_kernels_avx512(void);
const t5pt_kernels *t5pt_kernels_neon(void);

#endif
