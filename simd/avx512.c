/* avx512.c — the kernels with AVX-512 F/BW/DQ/VL intrinsics (16 floats per vector).
 *
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c (Makefile) and
 * only ever called after dispatch.c has checked the CPU and the OS for those features.
 * Tails use masked loads/stores, so there is no scalar remainder loop. Same formulas
 * as scalar.c; the transcendental functions are the vector versions below.
 * With -DT5PT_AVX512_SIMDE (test-only, see simd/avx512_simde.h) the same code is built
 * with the AVX2 flags and SIMDe's implementations of the intrinsics.
 */
#include "simd/kernels.h"

#if defined(__x86_64__) && defined(T5PT_AVX512_SIMDE) && defined(__AVX2__) && defined(__FMA__)
/* the test-only emulated build (make test-avx512-emulated): same code, intrinsics from SIMDe */
#include "simd/avx512_simde.h"
#define T5PT_HAVE_AVX512 1
#elif defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__FMA__)
#include <immintrin.h>
#define T5PT_HAVE_AVX512 1
#endif

#ifdef T5PT_HAVE_AVX512

#include <math.h>

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 14 x 32 register tile: 28 zmm accumulators, 2 for the B row, 1 for the A element
 * broadcast from memory (vbroadcastss). 28 independent FMA chains cover the FMA
 * latency x throughput (4 cycles x 2 units) several times over, and each k step does
 * 16 loads for 28 FMAs. In L1 it runs at the machine's peak (`t5pt bench peak`). */
#define MR 14
#define NR 32

/* Software prefetch distances (0 = off), in k steps: B panel ahead, A panel ahead, and
 * the C tile at entry. Tuned on the benchmark machine (BENCHMARKS.md). */
#ifndef PFB
#define PFB 8
#endif
#ifndef PFA
#define PFA 8
#endif
#ifndef PFC
#define PFC 1
#endif

static void gemm_micro_avx512(int k, const float *a, const float *b, float *c, int ldc, int accumulate) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 cA0 = _mm512_setzero_ps(), cA1 = _mm512_setzero_ps();
    __m512 cB0 = _mm512_setzero_ps(), cB1 = _mm512_setzero_ps();
    __m512 cC0 = _mm512_setzero_ps(), cC1 = _mm512_setzero_ps();
    __m512 cD0 = _mm512_setzero_ps(), cD1 = _mm512_setzero_ps();

#define ROW(r, cr0, cr1)                                   \
    do {                                                   \
        __m512 av = _mm512_set1_ps(a[r]);                  \
        cr0 = _mm512_fmadd_ps(av, b0, cr0);                \
        cr1 = _mm512_fmadd_ps(av, b1, cr1);                \
    } while (0)

    /* the C tile is needed at the end: start fetching its 2 x 14 lines now */
#if PFC
    for (int r = 0; r < MR; r++) {
        _mm_prefetch((const char *)(c + (size_t)r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)r * ldc + 16), _MM_HINT_T0);
    }
#endif
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = _mm512_loadu_ps(b + 16);
#if PFB
        _mm_prefetch((const char *)(b + PFB * NR), _MM_HINT_T0);
#endif
#if PFA
        _mm_prefetch((const char *)(a + PFA * MR), _MM_HINT_T0);
#endif
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        ROW(4, c40, c41);
        ROW(5, c50, c51);
        ROW(6, c60, c61);
        ROW(7, c70, c71);
        ROW(8, c80, c81);
        ROW(9, c90, c91);
        ROW(10, cA0, cA1);
        ROW(11, cB0, cB1);
        ROW(12, cC0, cC1);
        ROW(13, cD0, cD1);
        a += MR;
        b += NR;
    }
#undef ROW

#define STORE(r, cr0, cr1)                                                            \
    do {                                                                              \
        float *cp = c + (size_t)(r) * ldc;                                            \
        if (accumulate) {                                                             \
            cr0 = _mm512_add_ps(cr0, _mm512_loadu_ps(cp));                            \
            cr1 = _mm512_add_ps(cr1, _mm512_loadu_ps(cp + 16));                       \
        }                                                                             \
        _mm512_storeu_ps(cp, cr0);                                                    \
        _mm512_storeu_ps(cp + 16, cr1);                                               \
    } while (0)
    STORE(0, c00, c01);
    STORE(1, c10, c11);
    STORE(2, c20, c21);
    STORE(3, c30, c31);
    STORE(4, c40, c41);
    STORE(5, c50, c51);
    STORE(6, c60, c61);
    STORE(7, c70, c71);
    STORE(8, c80, c81);
    STORE(9, c90, c91);
    STORE(10, cA0, cA1);
    STORE(11, cB0, cB1);
    STORE(12, cC0, cC1);
    STORE(13, cD0, cD1);
#undef STORE
}

/* ------------------------------------------------------------------ helpers */

/* Mask of the first n (< 16) lanes. */
static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }

/* exp(x) for 16 lanes, ~1 ulp on the float range (Cephes expf polynomial):
 * x = n ln2 + r, |r| <= ln2/2, exp(r) = 1 + r + r^2 P(r), then scale by 2^n with
 * vscalefps, which also produces the right overflow (inf) and underflow (0/denormal). */
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* ------------------------------------------------------------------ RMSNorm */

static float rmsnorm_forward_avx512(float *y, const float *x, const float *w, int n, float eps) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 16) {
        __m512 a = _mm512_maskz_loadu_ps(n - i >= 16 ? 0xffff : tail_mask(n - i), x + i);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    float rstd = 1.0f / sqrtf(ss / (float)n + eps);
    __m512 r = _mm512_set1_ps(rstd);
    for (i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r), _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
    return rstd;
}

static void rmsnorm_backward_avx512(float *dx, const float *dy, const float *x, const float *w, float rstd, int n) {
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i), wv = _mm512_maskz_loadu_ps(m, w + i);
        s = _mm512_fmadd_ps(_mm512_mul_ps(xv, wv), _mm512_maskz_loadu_ps(m, dy + i), s);
    }
    float dot = _mm512_reduce_add_ps(s);
    __m512 c = _mm512_set1_ps(rstd * rstd * rstd * dot / (float)n);
    __m512 r = _mm512_set1_ps(rstd);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i), wv = _mm512_maskz_loadu_ps(m, w + i);
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(wv, _mm512_maskz_loadu_ps(m, dy + i)), r);
        __m512 d = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dx + i), _mm512_fnmadd_ps(xv, c, g));
        _mm512_mask_storeu_ps(dx + i, m, d);
    }
}

/* ------------------------------------------------------------------ softmax */

static void softmax_forward_avx512(float *s, const float *bias, const float *mask, int n) {
    if (n <= 0) return;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mx = ninf;
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, s + i);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
        if (mask) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, mask + i));
        _mm512_mask_storeu_ps(s + i, m, v);
        mx = _mm512_mask_max_ps(mx, m, mx, v);
    }
    float vmax = _mm512_reduce_max_ps(mx);
    if (vmax == -INFINITY) {
        for (int i = 0; i < n; i++) s[i] = 0.0f;
        return;
    }
    __m512 mv = _mm512_set1_ps(vmax), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), mv));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(s + i, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(s + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i), inv));
    }
}

static void softmax_backward_avx512(float *ds, const float *p, const float *dp, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + i), _mm512_maskz_loadu_ps(m, dp + i), acc);
    }
    __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + i), _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + i), dot));
        _mm512_mask_storeu_ps(ds + i, m, v);
    }
}

/* ------------------------------------------------------------------ activations */

static void relu_forward_avx512(float *y, const float *x, int n) {
    const __m512 z = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), z));
    }
}

static void relu_backward_avx512(float *dx, const float *dy, const float *x, int n) {
    const __m512 z = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, x + i), z, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_maskz_loadu_ps(pos & m, dy + i));
    }
}

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

/* s = 1 / (1 + e), e = exp(min(-2u, 88)): see scalar.c for why this form. */
static inline __m512 gelu_s(__m512 x, __m512 *e_out) {
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_C), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_A), x2), x, x));
    __m512 e = exp512(_mm512_min_ps(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f)), _mm512_set1_ps(88.0f)));
    *e_out = e;
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 gelu_v(__m512 x) {
    __m512 e;
    return _mm512_mul_ps(x, gelu_s(x, &e));
}

/* gelu'(x) = s (1 + 2 x u' e s),  u' = c (1 + 3 a x^2) */
static inline __m512 gelu_grad_v(__m512 x, __m512 *g_out) {
    __m512 e;
    __m512 s = gelu_s(x, &e);
    __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_C),
                              _mm512_fmadd_ps(_mm512_set1_ps(3.0f * GELU_A), _mm512_mul_ps(x, x), _mm512_set1_ps(1.0f)));
    __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), x), du), _mm512_mul_ps(e, s));
    if (g_out) *g_out = _mm512_mul_ps(x, s);
    return _mm512_fmadd_ps(s, t, s);
}

static void gelu_forward_avx512(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, gelu_v(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void gelu_backward_avx512(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 d = gelu_grad_v(_mm512_maskz_loadu_ps(m, x + i), NULL);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), d));
    }
}

static void gated_gelu_forward_avx512(float *h, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 g = gelu_v(_mm512_maskz_loadu_ps(m, a + i));
        _mm512_mask_storeu_ps(h + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void gated_gelu_backward_avx512(float *da, float *db, const float *dh, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 g;
        __m512 dg = gelu_grad_v(_mm512_maskz_loadu_ps(m, a + i), &g);
        __m512 dhv = _mm512_maskz_loadu_ps(m, dh + i);
        _mm512_mask_storeu_ps(da + i, m, _mm512_mul_ps(_mm512_mul_ps(dhv, _mm512_maskz_loadu_ps(m, b + i)), dg));
        _mm512_mask_storeu_ps(db + i, m, _mm512_mul_ps(dhv, g));
    }
}

/* ------------------------------------------------------------------ elementwise */

static void add_avx512(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void acc_avx512(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void scale_avx512(float *y, const float *x, float s, int n) {
    __m512 sv = _mm512_set1_ps(s);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
    }
}

static void axpy_avx512(float *y, float a, const float *x, int n) {
    __m512 av = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* ------------------------------------------------------------------ cross-entropy */

static float logsumexp_avx512(const float *x, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i));
    }
    float vmax = _mm512_reduce_max_ps(mx);
    if (vmax == -INFINITY) return -INFINITY;
    __m512 mv = _mm512_set1_ps(vmax), s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_add_ps(s0, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv)));
        s1 = _mm512_add_ps(s1, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mv)));
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv));
        s0 = _mm512_add_ps(s0, _mm512_maskz_mov_ps(m, e));
    }
    return vmax + logf(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
}

static void xent_backward_avx512(float *dx, const float *x, float lse, int target, float scale, int n) {
    __m512 l = _mm512_set1_ps(lse), sc = _mm512_set1_ps(scale);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), l));
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(sc, e));
    }
    if (target >= 0 && target < n) dx[target] -= scale;
}

/* ------------------------------------------------------------------ conversions */

static void bf16_to_f32_avx512(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
}

static void f16_to_f32_avx512(float *y, const uint16_t *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

static const t5pt_kernels table = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .gemm_micro = gemm_micro_avx512,
    .rmsnorm_forward = rmsnorm_forward_avx512,
    .rmsnorm_backward = rmsnorm_backward_avx512,
    .softmax_forward = softmax_forward_avx512,
    .softmax_backward = softmax_backward_avx512,
    .relu_forward = relu_forward_avx512,
    .relu_backward = relu_backward_avx512,
    .gelu_forward = gelu_forward_avx512,
    .gelu_backward = gelu_backward_avx512,
    .gated_gelu_forward = gated_gelu_forward_avx512,
    .gated_gelu_backward = gated_gelu_backward_avx512,
    .add = add_avx512,
    .acc = acc_avx512,
    .scale = scale_avx512,
    .axpy = axpy_avx512,
    .dot = dot_avx512,
    .logsumexp = logsumexp_avx512,
    .xent_backward = xent_backward_avx512,
    .bf16_to_f32 = bf16_to_f32_avx512,
    .f16_to_f32 = f16_to_f32_avx512,
};

const t5pt_kernels *t5pt_kernels_avx512(void) { return &table; }

#else /* not an x86-64 build with the AVX-512 flags */

const t5pt_kernels *t5pt_kernels_avx512(void) { return 0; }

#endif
