/* neon.c — the kernels with AArch64 Advanced SIMD (NEON) intrinsics (4 floats per vector).
 *
 * NEON is part of every AArch64 CPU, so this file needs no extra flags. There are no
 * masked loads: a tail shorter than 4 is staged through a small zero-padded buffer and
 * computed with the same vector code. Same formulas as scalar.c; exp is the vector
 * version below.
 */
#include "simd/kernels.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 8 x 12 register tile: 24 q-register accumulators, 3 for the B row, 2 for the A column
 * (29 of 32 registers); each A lane is used by index (fmla v.4s, v.4s, v.s[i]). */
#define MR 8
#define NR 12

static void gemm_micro_neon(int k, const float *a, const float *b, float *c, int ldc, int accumulate) {
    float32x4_t c00 = vdupq_n_f32(0), c01 = vdupq_n_f32(0), c02 = vdupq_n_f32(0);
    float32x4_t c10 = vdupq_n_f32(0), c11 = vdupq_n_f32(0), c12 = vdupq_n_f32(0);
    float32x4_t c20 = vdupq_n_f32(0), c21 = vdupq_n_f32(0), c22 = vdupq_n_f32(0);
    float32x4_t c30 = vdupq_n_f32(0), c31 = vdupq_n_f32(0), c32 = vdupq_n_f32(0);
    float32x4_t c40 = vdupq_n_f32(0), c41 = vdupq_n_f32(0), c42 = vdupq_n_f32(0);
    float32x4_t c50 = vdupq_n_f32(0), c51 = vdupq_n_f32(0), c52 = vdupq_n_f32(0);
    float32x4_t c60 = vdupq_n_f32(0), c61 = vdupq_n_f32(0), c62 = vdupq_n_f32(0);
    float32x4_t c70 = vdupq_n_f32(0), c71 = vdupq_n_f32(0), c72 = vdupq_n_f32(0);

#define ROW(av, lane, cr0, cr1, cr2)                     \
    do {                                                 \
        cr0 = vfmaq_laneq_f32(cr0, b0, av, lane);        \
        cr1 = vfmaq_laneq_f32(cr1, b1, av, lane);        \
        cr2 = vfmaq_laneq_f32(cr2, b2, av, lane);        \
    } while (0)

    for (int p = 0; p < k; p++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        ROW(a0, 0, c00, c01, c02);
        ROW(a0, 1, c10, c11, c12);
        ROW(a0, 2, c20, c21, c22);
        ROW(a0, 3, c30, c31, c32);
        ROW(a1, 0, c40, c41, c42);
        ROW(a1, 1, c50, c51, c52);
        ROW(a1, 2, c60, c61, c62);
        ROW(a1, 3, c70, c71, c72);
        a += MR;
        b += NR;
    }
#undef ROW

#define STORE(r, cr0, cr1, cr2)                                  \
    do {                                                         \
        float *cp = c + (size_t)(r) * ldc;                       \
        if (accumulate) {                                        \
            cr0 = vaddq_f32(cr0, vld1q_f32(cp));                 \
            cr1 = vaddq_f32(cr1, vld1q_f32(cp + 4));             \
            cr2 = vaddq_f32(cr2, vld1q_f32(cp + 8));             \
        }                                                        \
        vst1q_f32(cp, cr0);                                      \
        vst1q_f32(cp + 4, cr1);                                  \
        vst1q_f32(cp + 8, cr2);                                  \
    } while (0)
    STORE(0, c00, c01, c02);
    STORE(1, c10, c11, c12);
    STORE(2, c20, c21, c22);
    STORE(3, c30, c31, c32);
    STORE(4, c40, c41, c42);
    STORE(5, c50, c51, c52);
    STORE(6, c60, c61, c62);
    STORE(7, c70, c71, c72);
#undef STORE
}

/* ------------------------------------------------------------------ helpers */

/* Loads min(n, 4) floats (the rest `fill`) / stores min(n, 4) floats. */
static inline float32x4_t load_n(const float *p, int n, float fill) {
    if (n >= 4) return vld1q_f32(p);
    float t[4] = {fill, fill, fill, fill};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}
static inline void store_n(float *p, float32x4_t v, int n) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

/* Lanes j < n all-ones. */
static inline uint32x4_t lanes_lt(int n) {
    static const uint32_t idx[4] = {0, 1, 2, 3};
    return vcltq_u32(vld1q_u32(idx), vdupq_n_u32((uint32_t)(n < 0 ? 0 : n)));
}

/* exp(x) for 4 lanes, ~1 ulp (Cephes expf polynomial, as in avx512.c); 2^n is built in
 * the exponent field as 2^h * 2^(n-h), h = n/2, so n runs from -150 (0/denormal) to 128 (inf). */
static inline float32x4_t exp4(float32x4_t x) {
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(89.0f)), vdupq_n_f32(-104.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500E-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894E-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459E-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201E-1f), p, r);
    float32x4_t y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t h = vshrq_n_s32(ni, 1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(y, s1), s2);
}

/* ------------------------------------------------------------------ RMSNorm */

static float rmsnorm_forward_neon(float *y, const float *x, const float *w, int n, float eps) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        s0 = vfmaq_f32(s0, a, a);
        s1 = vfmaq_f32(s1, b, b);
    }
    for (; i < n; i += 4) {
        float32x4_t a = load_n(x + i, n - i, 0.0f);
        s0 = vfmaq_f32(s0, a, a);
    }
    float ss = vaddvq_f32(vaddq_f32(s0, s1));
    float rstd = 1.0f / sqrtf(ss / (float)n + eps);
    float32x4_t r = vdupq_n_f32(rstd);
    for (i = 0; i < n; i += 4)
        store_n(y + i, vmulq_f32(vmulq_f32(load_n(x + i, n - i, 0), r), load_n(w + i, n - i, 0)), n - i);
    return rstd;
}

static void rmsnorm_backward_neon(float *dx, const float *dy, const float *x, const float *w, float rstd, int n) {
    float32x4_t s = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4)
        s = vfmaq_f32(s, vmulq_f32(load_n(x + i, n - i, 0), load_n(w + i, n - i, 0)), load_n(dy + i, n - i, 0));
    float dot = vaddvq_f32(s);
    float32x4_t c = vdupq_n_f32(rstd * rstd * rstd * dot / (float)n);
    float32x4_t r = vdupq_n_f32(rstd);
    for (int i = 0; i < n; i += 4) {
        float32x4_t g = vmulq_f32(vmulq_f32(load_n(w + i, n - i, 0), load_n(dy + i, n - i, 0)), r);
        float32x4_t d = vaddq_f32(load_n(dx + i, n - i, 0), vfmsq_f32(g, load_n(x + i, n - i, 0), c));
        store_n(dx + i, d, n - i);
    }
}

/* ------------------------------------------------------------------ softmax */

static void softmax_forward_neon(float *s, const float *bias, const float *mask, int n) {
    if (n <= 0) return;
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    for (int i = 0; i < n; i += 4) {
        int m = n - i;
        float32x4_t v = load_n(s + i, m, -INFINITY);
        if (bias) v = vaddq_f32(v, load_n(bias + i, m, 0));
        if (mask) v = vaddq_f32(v, load_n(mask + i, m, 0));
        store_n(s + i, v, m);
        mx = vmaxq_f32(mx, v);
    }
    float vmax = vmaxvq_f32(mx);
    if (vmax == -INFINITY) {
        for (int i = 0; i < n; i++) s[i] = 0.0f;
        return;
    }
    float32x4_t mv = vdupq_n_f32(vmax), sum = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4) {
        int m = n - i;
        float32x4_t e = exp4(vsubq_f32(load_n(s + i, m, 0), mv));
        if (m < 4) e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), lanes_lt(m)));
        store_n(s + i, e, m);
        sum = vaddq_f32(sum, e);
    }
    float32x4_t inv = vdupq_n_f32(1.0f / vaddvq_f32(sum));
    for (int i = 0; i < n; i += 4) store_n(s + i, vmulq_f32(load_n(s + i, n - i, 0), inv), n - i);
}

static void softmax_backward_neon(float *ds, const float *p, const float *dp, int n) {
    float32x4_t acc = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4) acc = vfmaq_f32(acc, load_n(p + i, n - i, 0), load_n(dp + i, n - i, 0));
    float32x4_t dot = vdupq_n_f32(vaddvq_f32(acc));
    for (int i = 0; i < n; i += 4)
        store_n(ds + i, vmulq_f32(load_n(p + i, n - i, 0), vsubq_f32(load_n(dp + i, n - i, 0), dot)), n - i);
}

/* ------------------------------------------------------------------ activations */

static void relu_forward_neon(float *y, const float *x, int n) {
    const float32x4_t z = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4) store_n(y + i, vmaxq_f32(load_n(x + i, n - i, 0), z), n - i);
}

static void relu_backward_neon(float *dx, const float *dy, const float *x, int n) {
    const float32x4_t z = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4) {
        uint32x4_t pos = vcgtq_f32(load_n(x + i, n - i, 0), z);
        float32x4_t d = vreinterpretq_f32_u32(vandq_u32(pos, vreinterpretq_u32_f32(load_n(dy + i, n - i, 0))));
        store_n(dx + i, d, n - i);
    }
}

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

/* s = 1 / (1 + e), e = exp(min(-2u, 88)): see scalar.c for why this form. */
static inline float32x4_t gelu_s(float32x4_t x, float32x4_t *e_out) {
    float32x4_t x2 = vmulq_f32(x, x);
    float32x4_t u = vmulq_f32(vdupq_n_f32(GELU_C), vfmaq_f32(x, vmulq_f32(vdupq_n_f32(GELU_A), x2), x));
    float32x4_t e = exp4(vminq_f32(vmulq_f32(u, vdupq_n_f32(-2.0f)), vdupq_n_f32(88.0f)));
    *e_out = e;
    return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), e));
}

static inline float32x4_t gelu_v(float32x4_t x) {
    float32x4_t e;
    return vmulq_f32(x, gelu_s(x, &e));
}

/* gelu'(x) = s (1 + 2 x u' e s),  u' = c (1 + 3 a x^2); *g_out = gelu(x) */
static inline float32x4_t gelu_grad_v(float32x4_t x, float32x4_t *g_out) {
    float32x4_t e;
    float32x4_t s = gelu_s(x, &e);
    float32x4_t du = vmulq_f32(vdupq_n_f32(GELU_C), vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(3.0f * GELU_A), vmulq_f32(x, x)));
    float32x4_t t = vmulq_f32(vmulq_f32(vmulq_f32(vdupq_n_f32(2.0f), x), du), vmulq_f32(e, s));
    if (g_out) *g_out = vmulq_f32(x, s);
    return vfmaq_f32(s, s, t);
}

static void gelu_forward_neon(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 4) store_n(y + i, gelu_v(load_n(x + i, n - i, 0)), n - i);
}

static void gelu_backward_neon(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i += 4)
        store_n(dx + i, vmulq_f32(load_n(dy + i, n - i, 0), gelu_grad_v(load_n(x + i, n - i, 0), NULL)), n - i);
}

static void gated_gelu_forward_neon(float *h, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 4)
        store_n(h + i, vmulq_f32(gelu_v(load_n(a + i, n - i, 0)), load_n(b + i, n - i, 0)), n - i);
}

static void gated_gelu_backward_neon(float *da, float *db, const float *dh, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 4) {
        int m = n - i;
        float32x4_t g;
        float32x4_t dg = gelu_grad_v(load_n(a + i, m, 0), &g);
        float32x4_t dhv = load_n(dh + i, m, 0);
        store_n(da + i, vmulq_f32(vmulq_f32(dhv, load_n(b + i, m, 0)), dg), m);
        store_n(db + i, vmulq_f32(dhv, g), m);
    }
}

/* ------------------------------------------------------------------ elementwise */

static void add_neon(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 4) store_n(y + i, vaddq_f32(load_n(a + i, n - i, 0), load_n(b + i, n - i, 0)), n - i);
}

static void acc_neon(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 4) store_n(y + i, vaddq_f32(load_n(y + i, n - i, 0), load_n(x + i, n - i, 0)), n - i);
}

static void scale_neon(float *y, const float *x, float s, int n) {
    for (int i = 0; i < n; i += 4) store_n(y + i, vmulq_n_f32(load_n(x + i, n - i, 0), s), n - i);
}

static void axpy_neon(float *y, float a, const float *x, int n) {
    float32x4_t av = vdupq_n_f32(a);
    for (int i = 0; i < n; i += 4)
        store_n(y + i, vfmaq_f32(load_n(y + i, n - i, 0), av, load_n(x + i, n - i, 0)), n - i);
}

static float dot_neon(const float *a, const float *b, int n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    for (; i < n; i += 4) s0 = vfmaq_f32(s0, load_n(a + i, n - i, 0), load_n(b + i, n - i, 0));
    return vaddvq_f32(vaddq_f32(s0, s1));
}

/* ------------------------------------------------------------------ cross-entropy */

static float logsumexp_neon(const float *x, int n) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    for (int i = 0; i < n; i += 4) mx = vmaxq_f32(mx, load_n(x + i, n - i, -INFINITY));
    float vmax = vmaxvq_f32(mx);
    if (vmax == -INFINITY) return -INFINITY;
    float32x4_t mv = vdupq_n_f32(vmax), s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vaddq_f32(s0, exp4(vsubq_f32(vld1q_f32(x + i), mv)));
        s1 = vaddq_f32(s1, exp4(vsubq_f32(vld1q_f32(x + i + 4), mv)));
    }
    for (; i < n; i += 4) {
        int m = n - i;
        float32x4_t e = exp4(vsubq_f32(load_n(x + i, m, 0), mv));
        if (m < 4) e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), lanes_lt(m)));
        s0 = vaddq_f32(s0, e);
    }
    return vmax + logf(vaddvq_f32(vaddq_f32(s0, s1)));
}

static void xent_backward_neon(float *dx, const float *x, float lse, int target, float scale, int n) {
    float32x4_t l = vdupq_n_f32(lse);
    for (int i = 0; i < n; i += 4)
        store_n(dx + i, vmulq_n_f32(exp4(vsubq_f32(load_n(x + i, n - i, 0), l)), scale), n - i);
    if (target >= 0 && target < n) dx[target] -= scale;
}

/* ------------------------------------------------------------------ conversions */

static void bf16_to_f32_neon(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + i), 16)));
    for (; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(&y[i], &u, sizeof u);
    }
}

static void f16_to_f32_neon(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    if (i < n) {
        uint16_t t[4] = {0, 0, 0, 0};
        float out[4];
        memcpy(t, x + i, (n - i) * sizeof(uint16_t));
        vst1q_f32(out, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(t))));
        memcpy(y + i, out, (n - i) * sizeof(float));
    }
}

static const t5pt_kernels table = {
    .name = "neon",
    .mr = MR,
    .nr = NR,
    .gemm_micro = gemm_micro_neon,
    .rmsnorm_forward = rmsnorm_forward_neon,
    .rmsnorm_backward = rmsnorm_backward_neon,
    .softmax_forward = softmax_forward_neon,
    .softmax_backward = softmax_backward_neon,
    .relu_forward = relu_forward_neon,
    .relu_backward = relu_backward_neon,
    .gelu_forward = gelu_forward_neon,
    .gelu_backward = gelu_backward_neon,
    .gated_gelu_forward = gated_gelu_forward_neon,
    .gated_gelu_backward = gated_gelu_backward_neon,
    .add = add_neon,
    .acc = acc_neon,
    .scale = scale_neon,
    .axpy = axpy_neon,
    .dot = dot_neon,
    .logsumexp = logsumexp_neon,
    .xent_backward = xent_backward_neon,
    .bf16_to_f32 = bf16_to_f32_neon,
    .f16_to_f32 = f16_to_f32_neon,
};

const t5pt_kernels *t5pt_kernels_neon(void) { return &table; }

#else /* not an AArch64 build */

const t5pt_kernels *t5pt_kernels_neon(void) { return 0; }

#endif
