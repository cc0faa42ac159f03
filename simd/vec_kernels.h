/* vec_kernels.h — the elementwise kernels, written once over the vector layer.
 *
 * Each vector ISA file (simd/avx2.c, simd/avx512.c, simd/neon.c) includes its vector
 * layer (simd/vec_<isa>.h: the type vfloat, VLEN lanes, and the v* operations) and then
 * this header, so the functions below are compiled once per ISA with that ISA's flags,
 * and the ISA's table takes them with VEC_KERNEL_ENTRIES. The formulas, and the order of
 * every floating-point operation, are those of the readable reference simd/scalar.c,
 * except that sums are split across the lanes (and two accumulators where a loop is
 * long) and exp is the polynomial vexp below; tests/test_kernels.c states the bounds.
 *
 * Loops walk a row VLEN floats at a time; the last, partial vector goes through
 * vload_n / vstore_n, which neither read nor write past the row.
 */
#ifndef T5PT_VEC_KERNELS_H
#define T5PT_VEC_KERNELS_H

#ifndef VLEN
#error "include the ISA's vector layer (simd/vec_<isa>.h) before simd/vec_kernels.h"
#endif

#include <math.h>
#include <string.h>

#include "simd/kernels.h"

/* ------------------------------------------------------------------ exp */

/* exp(x), ~1 ulp over the float range (the Cephes expf polynomial): x = n ln2 + r with
 * |r| <= ln2/2 (ln2 split in two constants so that n ln2 is exact enough), exp(r) =
 * 1 + r + r^2 P(r), then scaled by 2^n. x is clamped to [-104, 89], beyond which the
 * result is 0 or inf anyway, so that n stays in vldexp's range. */
static inline vfloat vexp(vfloat x) {
    x = vmax(vmin(x, vset1(89.0f)), vset1(-104.0f));
    vfloat n = vround(vmul(x, vset1(1.44269504088896341f)));
    vfloat r = vfnma(n, vset1(0.693359375f), x);
    r = vfnma(n, vset1(-2.12194440e-4f), r);
    vfloat p = vset1(1.9875691500E-4f);
    p = vfma(p, r, vset1(1.3981999507E-3f));
    p = vfma(p, r, vset1(8.3334519073E-3f));
    p = vfma(p, r, vset1(4.1665795894E-2f));
    p = vfma(p, r, vset1(1.6666665459E-1f));
    p = vfma(p, r, vset1(5.0000001201E-1f));
    vfloat y = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
    return vldexp(y, n);
}

/* ------------------------------------------------------------------ sums */

static float vec_dot(const float *a, const float *b, int n) {
    vfloat s0 = vzero(), s1 = vzero();
    int i = 0;
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        s0 = vfma(vload(a + i), vload(b + i), s0);
        s1 = vfma(vload(a + i + VLEN), vload(b + i + VLEN), s1);
    }
    for (; i < n; i += VLEN) s0 = vfma(vload_n(a + i, n - i), vload_n(b + i, n - i), s0);
    return vhsum(vadd(s0, s1));
}

/* ------------------------------------------------------------------ RMSNorm */

static float vec_rmsnorm_forward(float *y, const float *x, const float *w, int n, float eps) {
    float rstd = 1.0f / sqrtf(vec_dot(x, x, n) / (float)n + eps);
    vfloat r = vset1(rstd);
    for (int i = 0; i < n; i += VLEN)
        vstore_n(y + i, vmul(vmul(vload_n(x + i, n - i), r), vload_n(w + i, n - i)), n - i);
    return rstd;
}

static void vec_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, float rstd, int n) {
    vfloat s = vzero();
    for (int i = 0; i < n; i += VLEN)
        s = vfma(vmul(vload_n(x + i, n - i), vload_n(w + i, n - i)), vload_n(dy + i, n - i), s);
    vfloat c = vset1(rstd * rstd * rstd * vhsum(s) / (float)n);
    vfloat r = vset1(rstd);
    for (int i = 0; i < n; i += VLEN) {
        int m = n - i;
        vfloat g = vmul(vmul(vload_n(w + i, m), vload_n(dy + i, m)), r);
        vstore_n(dx + i, vadd(vload_n(dx + i, m), vfnma(vload_n(x + i, m), c, g)), m);
    }
}

/* ------------------------------------------------------------------ softmax */

static void vec_softmax_forward(float *s, const float *bias, const float *mask, int n) {
    if (n <= 0) return;
    vfloat mx = vset1(-INFINITY);
    for (int i = 0; i < n; i += VLEN) {
        int m = n - i;
        vfloat v = vload_n(s + i, m);
        if (bias) v = vadd(v, vload_n(bias + i, m));
        if (mask) v = vadd(v, vload_n(mask + i, m));
        vstore_n(s + i, v, m);
        mx = vmax(mx, vkeep_n(v, m, -INFINITY));
    }
    float top = vhmax(mx);
    if (top == -INFINITY) { /* every entry -inf: zeros, as the reference */
        memset(s, 0, (size_t)n * sizeof *s);
        return;
    }
    vfloat mv = vset1(top), sum = vzero();
    for (int i = 0; i < n; i += VLEN) {
        int m = n - i;
        vfloat e = vkeep_n(vexp(vsub(vload_n(s + i, m), mv)), m, 0.0f);
        vstore_n(s + i, e, m);
        sum = vadd(sum, e);
    }
    vfloat inv = vset1(1.0f / vhsum(sum));
    for (int i = 0; i < n; i += VLEN) vstore_n(s + i, vmul(vload_n(s + i, n - i), inv), n - i);
}

static void vec_softmax_backward(float *ds, const float *p, const float *dp, int n) {
    vfloat acc = vzero();
    for (int i = 0; i < n; i += VLEN) acc = vfma(vload_n(p + i, n - i), vload_n(dp + i, n - i), acc);
    vfloat dot = vset1(vhsum(acc));
    for (int i = 0; i < n; i += VLEN)
        vstore_n(ds + i, vmul(vload_n(p + i, n - i), vsub(vload_n(dp + i, n - i), dot)), n - i);
}

/* ------------------------------------------------------------------ activations */

static void vec_relu_forward(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vmax(vload_n(x + i, n - i), vzero()), n - i);
}

static void vec_relu_backward(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i += VLEN)
        vstore_n(dx + i, vwhere_pos(vload_n(x + i, n - i), vload_n(dy + i, n - i)), n - i);
}

/* s = 1 / (1 + e), e = exp(min(-2u, 88)), u = c (x + a x^3), so that gelu(x) = x s: see
 * scalar.c for why this form. */
static inline vfloat vgelu_sigmoid(vfloat x, vfloat *e_out) {
    vfloat u = vmul(vset1(T5PT_GELU_C), vfma(vmul(vset1(T5PT_GELU_A), vmul(x, x)), x, x));
    vfloat e = vexp(vmin(vmul(u, vset1(-2.0f)), vset1(88.0f)));
    *e_out = e;
    return vdiv(vset1(1.0f), vadd(vset1(1.0f), e));
}

static inline vfloat vgelu(vfloat x) {
    vfloat e;
    return vmul(x, vgelu_sigmoid(x, &e));
}

/* gelu'(x) = s (1 + 2 x u' e s),  u' = c (1 + 3 a x^2); *g_out = gelu(x) when wanted */
static inline vfloat vgelu_grad(vfloat x, vfloat *g_out) {
    vfloat e;
    vfloat s = vgelu_sigmoid(x, &e);
    vfloat du = vmul(vset1(T5PT_GELU_C), vfma(vset1(3.0f * T5PT_GELU_A), vmul(x, x), vset1(1.0f)));
    vfloat t = vmul(vmul(vmul(vset1(2.0f), x), du), vmul(e, s));
    if (g_out) *g_out = vmul(x, s);
    return vfma(s, t, s);
}

static void vec_gelu_forward(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vgelu(vload_n(x + i, n - i)), n - i);
}

static void vec_gelu_backward(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i += VLEN)
        vstore_n(dx + i, vmul(vload_n(dy + i, n - i), vgelu_grad(vload_n(x + i, n - i), NULL)), n - i);
}

static void vec_gated_gelu_forward(float *h, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += VLEN) vstore_n(h + i, vmul(vgelu(vload_n(a + i, n - i)), vload_n(b + i, n - i)), n - i);
}

static void vec_gated_gelu_backward(float *da, float *db, const float *dh, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += VLEN) {
        int m = n - i;
        vfloat g;
        vfloat dg = vgelu_grad(vload_n(a + i, m), &g);
        vfloat dhv = vload_n(dh + i, m);
        vstore_n(da + i, vmul(vmul(dhv, vload_n(b + i, m)), dg), m);
        vstore_n(db + i, vmul(dhv, g), m);
    }
}

/* ------------------------------------------------------------------ elementwise */

static void vec_add(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vadd(vload_n(a + i, n - i), vload_n(b + i, n - i)), n - i);
}

static void vec_acc(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vadd(vload_n(y + i, n - i), vload_n(x + i, n - i)), n - i);
}

static void vec_scale(float *y, const float *x, float s, int n) {
    vfloat sv = vset1(s);
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vmul(vload_n(x + i, n - i), sv), n - i);
}

static void vec_axpy(float *y, float a, const float *x, int n) {
    vfloat av = vset1(a);
    for (int i = 0; i < n; i += VLEN) vstore_n(y + i, vfma(av, vload_n(x + i, n - i), vload_n(y + i, n - i)), n - i);
}

/* ------------------------------------------------------------------ cross-entropy */

static float vec_logsumexp(const float *x, int n) {
    vfloat mx = vset1(-INFINITY);
    for (int i = 0; i < n; i += VLEN) mx = vmax(mx, vkeep_n(vload_n(x + i, n - i), n - i, -INFINITY));
    float top = vhmax(mx);
    if (top == -INFINITY) return -INFINITY;
    vfloat mv = vset1(top), s0 = vzero(), s1 = vzero();
    int i = 0;
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        s0 = vadd(s0, vexp(vsub(vload(x + i), mv)));
        s1 = vadd(s1, vexp(vsub(vload(x + i + VLEN), mv)));
    }
    for (; i < n; i += VLEN) s0 = vadd(s0, vkeep_n(vexp(vsub(vload_n(x + i, n - i), mv)), n - i, 0.0f));
    return top + logf(vhsum(vadd(s0, s1)));
}

static void vec_xent_backward(float *dx, const float *x, float lse, int target, float scale, int n) {
    vfloat l = vset1(lse), sc = vset1(scale);
    for (int i = 0; i < n; i += VLEN) vstore_n(dx + i, vmul(sc, vexp(vsub(vload_n(x + i, n - i), l))), n - i);
    if (target >= 0 && target < n) dx[target] -= scale;
}

/* ------------------------------------------------------------------ conversions */

static void vec_bf16_to_f32(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstore(y + i, vload_bf16(x + i));
    if (i < n) vstore_n(y + i, vload_bf16_n(x + i, (int)(n - i)), (int)(n - i));
}

static void vec_f16_to_f32(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstore(y + i, vload_f16(x + i));
    if (i < n) vstore_n(y + i, vload_f16_n(x + i, (int)(n - i)), (int)(n - i));
}

/* dst[i] = src[i] rounded to bf16, as an f32 (the bf16 GEMV's operands, simd/gemm.c). */
static void vec_bf16_round(float *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) vstore(dst + i, vround_bf16(vload(src + i)));
    if (i < n) vstore_n(dst + i, vround_bf16(vload_n(src + i, (int)(n - i))), (int)(n - i));
}

/* ------------------------------------------------------------------ attention products */

/* One tile of vec_attn_gemm: MR rows (1..6) x NV vectors (1, 2) of C; cols = valid columns
 * of the last vector (VLEN when full). Called with constant mr, nv and full (cols == VLEN),
 * and the row loops are unrolled (GCC unroll, which clang honours too) so that the
 * accumulators live in registers. acc: continue the sums already in C (the next
 * block of p), else start from 0. Each C element is the sum over p in order, one fma per
 * step, as attn_gemm_scalar. */
#define ATTN_MR 6
static inline __attribute__((always_inline)) void attn_tile(int mr, int nv, int full, int cols, int acc, int K,
                                                            const float *A, size_t ai, size_t ap, const float *B,
                                                            size_t ldb, float *C, size_t ldc) {
    vfloat c0[ATTN_MR], c1[ATTN_MR];
_Pragma("GCC unroll 6")
    for (int r = 0; r < ATTN_MR; r++) c0[r] = c1[r] = vzero();
    if (acc)
_Pragma("GCC unroll 6")
        for (int r = 0; r < mr; r++) {
            const float *c = C + (size_t)r * ldc;
            if (nv == 1) {
                c0[r] = full ? vload(c) : vload_n(c, cols);
            } else {
                c0[r] = vload(c);
                c1[r] = full ? vload(c + VLEN) : vload_n(c + VLEN, cols);
            }
        }
    for (int p = 0; p < K; p++) {
        const float *b = B + (size_t)p * ldb;
        const float *a = A + (size_t)p * ap;
        vfloat b0, b1 = vzero();
        if (nv == 1) {
            b0 = full ? vload(b) : vload_n(b, cols);
        } else {
            b0 = vload(b);
            b1 = full ? vload(b + VLEN) : vload_n(b + VLEN, cols);
        }
_Pragma("GCC unroll 6")
        for (int r = 0; r < mr; r++) {
            vfloat x = vset1(a[(size_t)r * ai]);
            c0[r] = vfma(x, b0, c0[r]);
            if (nv == 2) c1[r] = vfma(x, b1, c1[r]);
        }
    }
_Pragma("GCC unroll 6")
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        if (nv == 1) {
            if (full) vstore(c, c0[r]); else vstore_n(c, c0[r], cols);
        } else {
            vstore(c, c0[r]);
            if (full) vstore(c + VLEN, c1[r]); else vstore_n(c + VLEN, c1[r], cols);
        }
    }
}

/* Rows 0 .. mr-1 of C, every column: tiles of 2 vectors, then the rest. */
static inline __attribute__((always_inline)) void attn_rows(int mr, int acc, int N, int K, const float *A, size_t ai,
                                                            size_t ap, const float *B, size_t ldb, float *C,
                                                            size_t ldc) {
    int j = 0;
    for (; j + 2 * VLEN <= N; j += 2 * VLEN) attn_tile(mr, 2, 1, VLEN, acc, K, A, ai, ap, B + j, ldb, C + j, ldc);
    const int rest = N - j;
    if (rest > VLEN)
        attn_tile(mr, 2, 0, rest - VLEN, acc, K, A, ai, ap, B + j, ldb, C + j, ldc);
    else if (rest == VLEN)
        attn_tile(mr, 1, 1, VLEN, acc, K, A, ai, ap, B + j, ldb, C + j, ldc);
    else if (rest > 0)
        attn_tile(mr, 1, 0, rest, acc, K, A, ai, ap, B + j, ldb, C + j, ldc);
}

/* Floats of the stack copy of a block of B's rows (16 KB: stays in L1 while every row tile
 * of C passes over it). */
#define ATTN_B_FLOATS 4096

static void vec_attn_gemm(int M, int N, int K, const float *A, size_t ai, size_t ap, const float *B, size_t ldb,
                          float *C, size_t ldc) {
    /* B's rows are often a head's slice of a wider row (stride H*d_kv): walking them for
     * each row tile would miss L1 on every row, so a block of kb rows is copied together
     * first (kept only when the rows are contiguous already or too wide to copy). The sums
     * continue across blocks in the same order of p. */
    float buf[ATTN_B_FLOATS];
    const int copy = ldb != (size_t)N && N <= ATTN_B_FLOATS;
    const int kb = copy ? ATTN_B_FLOATS / N : (K > 0 ? K : 1);
    if (K <= 0) {
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    for (int p0 = 0; p0 < K; p0 += kb) {
        const int k = K - p0 < kb ? K - p0 : kb;
        const int acc = p0 > 0;
        const float *Bb = B + (size_t)p0 * ldb, *Ab = A + (size_t)p0 * ap;
        size_t ldbb = ldb;
        if (copy) {
            for (int p = 0; p < k; p++) memcpy(buf + (size_t)p * N, Bb + (size_t)p * ldb, (size_t)N * sizeof(float));
            Bb = buf;
            ldbb = (size_t)N;
        }
        int i = 0;
        for (; i + ATTN_MR <= M; i += ATTN_MR)
            attn_rows(ATTN_MR, acc, N, k, Ab + (size_t)i * ai, ai, ap, Bb, ldbb, C + (size_t)i * ldc, ldc);
        const float *Ai = Ab + (size_t)i * ai;
        float *Ci = C + (size_t)i * ldc;
        switch (M - i) {
        case 5: attn_rows(5, acc, N, k, Ai, ai, ap, Bb, ldbb, Ci, ldc); break;
        case 4: attn_rows(4, acc, N, k, Ai, ai, ap, Bb, ldbb, Ci, ldc); break;
        case 3: attn_rows(3, acc, N, k, Ai, ai, ap, Bb, ldbb, Ci, ldc); break;
        case 2: attn_rows(2, acc, N, k, Ai, ai, ap, Bb, ldbb, Ci, ldc); break;
        case 1: attn_rows(1, acc, N, k, Ai, ai, ap, Bb, ldbb, Ci, ldc); break;
        default: break;
        }
    }
}

/* dst[c*ldd + r] = src[r*lds + c], r < rows, c < cols: VLEN x VLEN register tiles
 * (vtranspose_tile of the ISA's vector layer), the edges one element at a time. */
static void vec_transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols) {
    int r = 0;
    for (; r + VLEN <= rows; r += VLEN) {
        int c = 0;
        for (; c + VLEN <= cols; c += VLEN)
            vtranspose_tile(dst + (size_t)c * ldd + r, ldd, src + (size_t)r * lds + c, lds);
        for (; c < cols; c++)
            for (int i = 0; i < VLEN; i++) dst[(size_t)c * ldd + r + i] = src[(size_t)(r + i) * lds + c];
    }
    for (; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

/* ------------------------------------------------------------------ GEMM micro-kernel store */

/* The micro-kernels are per ISA (simd/<isa>.c); what they share is how a C tile is
 * written back: c[0..VLEN) = acc, or c += acc when accumulating. */
static inline void vstore_acc(float *c, vfloat acc, int accumulate) {
    vstore(c, accumulate ? vadd(acc, vload(c)) : acc);
}

/* The entries of a t5pt_kernels table these functions fill (designated initialisers). */
#define VEC_KERNEL_ENTRIES                                                                                \
    .rmsnorm_forward = vec_rmsnorm_forward, .rmsnorm_backward = vec_rmsnorm_backward,                     \
    .softmax_forward = vec_softmax_forward, .softmax_backward = vec_softmax_backward,                     \
    .relu_forward = vec_relu_forward, .relu_backward = vec_relu_backward,                                 \
    .gelu_forward = vec_gelu_forward, .gelu_backward = vec_gelu_backward,                                 \
    .gated_gelu_forward = vec_gated_gelu_forward, .gated_gelu_backward = vec_gated_gelu_backward,         \
    .add = vec_add, .acc = vec_acc, .scale = vec_scale, .axpy = vec_axpy, .dot = vec_dot,                 \
    .logsumexp = vec_logsumexp, .xent_backward = vec_xent_backward, .bf16_to_f32 = vec_bf16_to_f32,       \
    .f16_to_f32 = vec_f16_to_f32, .bf16_round = vec_bf16_round, .attn_gemm = vec_attn_gemm,             \
    .transpose = vec_transpose

#endif
