/* avx2.c — the kernels with AVX2 + FMA (+ F16C) intrinsics (8 floats per vector).
 *
 * Compiled with -mavx2 -mfma -mf16c (Makefile) and only called after dispatch.c has
 * checked the CPU and the OS for those features. Tails use vmaskmov loads/stores
 * (lanes past n are neither read nor written). Same formulas as scalar.c; exp is the
 * vector version below.
 */
#include "simd/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <math.h>

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 6 x 16 register tile: 12 ymm accumulators, 2 for the B row, 1 broadcast (15 of the
 * 16 ymm registers): 12 independent FMA chains per k step, 8 loads per 12 FMAs. */
#define MR 6
#define NR 16

static void gemm_micro_avx2(int k, const float *a, const float *b, float *c, int ldc, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define ROW(r, cr0, cr1)                                   \
    do {                                                   \
        __m256 av = _mm256_broadcast_ss(a + (r));          \
        cr0 = _mm256_fmadd_ps(av, b0, cr0);                \
        cr1 = _mm256_fmadd_ps(av, b1, cr1);                \
    } while (0)

    for (int p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        ROW(4, c40, c41);
        ROW(5, c50, c51);
        a += MR;
        b += NR;
    }
#undef ROW

#define STORE(r, cr0, cr1)                                                            \
    do {                                                                              \
        float *cp = c + (size_t)(r) * ldc;                                            \
        if (accumulate) {                                                             \
            cr0 = _mm256_add_ps(cr0, _mm256_loadu_ps(cp));                            \
            cr1 = _mm256_add_ps(cr1, _mm256_loadu_ps(cp + 8));                        \
        }                                                                             \
        _mm256_storeu_ps(cp, cr0);                                                    \
        _mm256_storeu_ps(cp + 8, cr1);                                                \
    } while (0)
    STORE(0, c00, c01);
    STORE(1, c10, c11);
    STORE(2, c20, c21);
    STORE(3, c30, c31);
    STORE(4, c40, c41);
    STORE(5, c50, c51);
#undef STORE
}

/* ------------------------------------------------------------------ helpers */

/* Lane mask for vmaskmov: lane j active iff j < n (n may exceed 8). */
static inline __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Loads lanes j < n (the rest 0) / stores them. */
static inline __m256 load_n(const float *p, int n) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask(n));
}
static inline void store_n(float *p, __m256 v, int n) {
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, tail_mask(n), v);
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp(x) for 8 lanes, ~1 ulp (Cephes expf polynomial, as in avx512.c). 2^n is built
 * in the exponent field as 2^h * 2^(n-h), h = n/2, so n may run from -150 (result
 * denormal or 0, like expf) to 128 (inf). */
static inline __m256 exp256(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(89.0f)), _mm256_set1_ps(-104.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i h = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

/* ------------------------------------------------------------------ RMSNorm */

static float rmsnorm_forward_avx2(float *y, const float *x, const float *w, int n, float eps) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 8) {
        __m256 a = load_n(x + i, n - i);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    float ss = hsum(_mm256_add_ps(s0, s1));
    float rstd = 1.0f / sqrtf(ss / (float)n + eps);
    __m256 r = _mm256_set1_ps(rstd);
    for (i = 0; i < n; i += 8)
        store_n(y + i, _mm256_mul_ps(_mm256_mul_ps(load_n(x + i, n - i), r), load_n(w + i, n - i)), n - i);
    return rstd;
}

static void rmsnorm_backward_avx2(float *dx, const float *dy, const float *x, const float *w, float rstd, int n) {
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        s = _mm256_fmadd_ps(_mm256_mul_ps(load_n(x + i, n - i), load_n(w + i, n - i)), load_n(dy + i, n - i), s);
    float dot = hsum(s);
    __m256 c = _mm256_set1_ps(rstd * rstd * rstd * dot / (float)n);
    __m256 r = _mm256_set1_ps(rstd);
    for (int i = 0; i < n; i += 8) {
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(load_n(w + i, n - i), load_n(dy + i, n - i)), r);
        __m256 d = _mm256_add_ps(load_n(dx + i, n - i), _mm256_fnmadd_ps(load_n(x + i, n - i), c, g));
        store_n(dx + i, d, n - i);
    }
}

/* ------------------------------------------------------------------ softmax */

static void softmax_forward_avx2(float *s, const float *bias, const float *mask, int n) {
    if (n <= 0) return;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    for (int i = 0; i < n; i += 8) {
        int m = n - i;
        __m256 v = load_n(s + i, m);
        if (bias) v = _mm256_add_ps(v, load_n(bias + i, m));
        if (mask) v = _mm256_add_ps(v, load_n(mask + i, m));
        store_n(s + i, v, m);
        if (m < 8) v = _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(tail_mask(m)));
        mx = _mm256_max_ps(mx, v);
    }
    float vmax = hmax(mx);
    if (vmax == -INFINITY) {
        for (int i = 0; i < n; i++) s[i] = 0.0f;
        return;
    }
    __m256 mv = _mm256_set1_ps(vmax), sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        int m = n - i;
        __m256 e = exp256(_mm256_sub_ps(load_n(s + i, m), mv));
        if (m < 8) e = _mm256_and_ps(e, _mm256_castsi256_ps(tail_mask(m)));
        store_n(s + i, e, m);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (int i = 0; i < n; i += 8) store_n(s + i, _mm256_mul_ps(load_n(s + i, n - i), inv), n - i);
}

static void softmax_backward_avx2(float *ds, const float *p, const float *dp, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(load_n(p + i, n - i), load_n(dp + i, n - i), acc);
    __m256 dot = _mm256_set1_ps(hsum(acc));
    for (int i = 0; i < n; i += 8)
        store_n(ds + i, _mm256_mul_ps(load_n(p + i, n - i), _mm256_sub_ps(load_n(dp + i, n - i), dot)), n - i);
}

/* ------------------------------------------------------------------ activations */

static void relu_forward_avx2(float *y, const float *x, int n) {
    const __m256 z = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) store_n(y + i, _mm256_max_ps(load_n(x + i, n - i), z), n - i);
}

static void relu_backward_avx2(float *dx, const float *dy, const float *x, int n) {
    const __m256 z = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256 pos = _mm256_cmp_ps(load_n(x + i, n - i), z, _CMP_GT_OQ);
        store_n(dx + i, _mm256_and_ps(pos, load_n(dy + i, n - i)), n - i);
    }
}

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

/* s = 1 / (1 + e), e = exp(min(-2u, 88)): see scalar.c for why this form. */
static inline __m256 gelu_s(__m256 x, __m256 *e_out) {
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_C), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_A), x2), x, x));
    __m256 e = exp256(_mm256_min_ps(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)), _mm256_set1_ps(88.0f)));
    *e_out = e;
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 gelu_v(__m256 x) {
    __m256 e;
    return _mm256_mul_ps(x, gelu_s(x, &e));
}

/* gelu'(x) = s (1 + 2 x u' e s),  u' = c (1 + 3 a x^2); *g_out = gelu(x) */
static inline __m256 gelu_grad_v(__m256 x, __m256 *g_out) {
    __m256 e;
    __m256 s = gelu_s(x, &e);
    __m256 du = _mm256_mul_ps(_mm256_set1_ps(GELU_C),
                              _mm256_fmadd_ps(_mm256_set1_ps(3.0f * GELU_A), _mm256_mul_ps(x, x), _mm256_set1_ps(1.0f)));
    __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), x), du), _mm256_mul_ps(e, s));
    if (g_out) *g_out = _mm256_mul_ps(x, s);
    return _mm256_fmadd_ps(s, t, s);
}

static void gelu_forward_avx2(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 8) store_n(y + i, gelu_v(load_n(x + i, n - i)), n - i);
}

static void gelu_backward_avx2(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i += 8)
        store_n(dx + i, _mm256_mul_ps(load_n(dy + i, n - i), gelu_grad_v(load_n(x + i, n - i), NULL)), n - i);
}

static void gated_gelu_forward_avx2(float *h, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 8)
        store_n(h + i, _mm256_mul_ps(gelu_v(load_n(a + i, n - i)), load_n(b + i, n - i)), n - i);
}

static void gated_gelu_backward_avx2(float *da, float *db, const float *dh, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 8) {
        int m = n - i;
        __m256 g;
        __m256 dg = gelu_grad_v(load_n(a + i, m), &g);
        __m256 dhv = load_n(dh + i, m);
        store_n(da + i, _mm256_mul_ps(_mm256_mul_ps(dhv, load_n(b + i, m)), dg), m);
        store_n(db + i, _mm256_mul_ps(dhv, g), m);
    }
}

/* ------------------------------------------------------------------ elementwise */

static void add_avx2(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 8) store_n(y + i, _mm256_add_ps(load_n(a + i, n - i), load_n(b + i, n - i)), n - i);
}

static void acc_avx2(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 8) store_n(y + i, _mm256_add_ps(load_n(y + i, n - i), load_n(x + i, n - i)), n - i);
}

static void scale_avx2(float *y, const float *x, float s, int n) {
    __m256 sv = _mm256_set1_ps(s);
    for (int i = 0; i < n; i += 8) store_n(y + i, _mm256_mul_ps(load_n(x + i, n - i), sv), n - i);
}

static void axpy_avx2(float *y, float a, const float *x, int n) {
    __m256 av = _mm256_set1_ps(a);
    for (int i = 0; i < n; i += 8)
        store_n(y + i, _mm256_fmadd_ps(av, load_n(x + i, n - i), load_n(y + i, n - i)), n - i);
}

static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i < n; i += 8) s0 = _mm256_fmadd_ps(load_n(a + i, n - i), load_n(b + i, n - i), s0);
    return hsum(_mm256_add_ps(s0, s1));
}

/* ------------------------------------------------------------------ cross-entropy */

static float logsumexp_avx2(const float *x, int n) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    for (int i = 0; i < n; i += 8) {
        int m = n - i;
        __m256 v = load_n(x + i, m);
        if (m < 8) v = _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(tail_mask(m)));
        mx = _mm256_max_ps(mx, v);
    }
    float vmax = hmax(mx);
    if (vmax == -INFINITY) return -INFINITY;
    __m256 mv = _mm256_set1_ps(vmax), s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv)));
        s1 = _mm256_add_ps(s1, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv)));
    }
    for (; i < n; i += 8) {
        int m = n - i;
        __m256 e = exp256(_mm256_sub_ps(load_n(x + i, m), mv));
        if (m < 8) e = _mm256_and_ps(e, _mm256_castsi256_ps(tail_mask(m)));
        s0 = _mm256_add_ps(s0, e);
    }
    return vmax + logf(hsum(_mm256_add_ps(s0, s1)));
}

static void xent_backward_avx2(float *dx, const float *x, float lse, int target, float scale, int n) {
    __m256 l = _mm256_set1_ps(lse), sc = _mm256_set1_ps(scale);
    for (int i = 0; i < n; i += 8)
        store_n(dx + i, _mm256_mul_ps(sc, exp256(_mm256_sub_ps(load_n(x + i, n - i), l))), n - i);
    if (target >= 0 && target < n) dx[target] -= scale;
}

/* ------------------------------------------------------------------ conversions */

static void bf16_to_f32_avx2(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        float f;
        __builtin_memcpy(&f, &u, sizeof f);
        y[i] = f;
    }
}

static void f16_to_f32_avx2(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    if (i < n) {
        uint16_t tmp[8] = {0};
        float out[8];
        for (size_t j = 0; i + j < n; j++) tmp[j] = x[i + j];
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tmp)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = out[j];
    }
}

static const t5pt_kernels table = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .gemm_micro = gemm_micro_avx2,
    .rmsnorm_forward = rmsnorm_forward_avx2,
    .rmsnorm_backward = rmsnorm_backward_avx2,
    .softmax_forward = softmax_forward_avx2,
    .softmax_backward = softmax_backward_avx2,
    .relu_forward = relu_forward_avx2,
    .relu_backward = relu_backward_avx2,
    .gelu_forward = gelu_forward_avx2,
    .gelu_backward = gelu_backward_avx2,
    .gated_gelu_forward = gated_gelu_forward_avx2,
    .gated_gelu_backward = gated_gelu_backward_avx2,
    .add = add_avx2,
    .acc = acc_avx2,
    .scale = scale_avx2,
    .axpy = axpy_avx2,
    .dot = dot_avx2,
    .logsumexp = logsumexp_avx2,
    .xent_backward = xent_backward_avx2,
    .bf16_to_f32 = bf16_to_f32_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
};

const t5pt_kernels *t5pt_kernels_avx2(void) { return &table; }

#else /* not an x86-64 build with the AVX2 flags */

const t5pt_kernels *t5pt_kernels_avx2(void) { return 0; }

#endif
