/* bf16_avx512.c — the native x86 bf16 micro-kernel: AVX512_BF16 `vdpbf16ps`.
 *
 * Compiled with the AVX-512 flags plus -mavx512bf16 (Makefile) and only called after
 * simd/dispatch.c has found AVX512_BF16 (CPUID.(EAX=7,ECX=1):EAX[5]) next to the AVX-512
 * path's features. vdpbf16ps multiplies 16 K-pairs of bf16 and adds both products to 16
 * fp32 lanes, the odd element first, each addition rounded to nearest even (Intel SDM,
 * VDPBF16PS): the arithmetic of the emulations (simd/bf16.h) at twice the FMA rate.
 * With -DT5PT_AVX512_SIMDE (test only, `make test-avx512-emulated`) the same code runs
 * through SIMDe on an AVX2 CPU (simd/avx512_simde.h).
 */
#include "simd/bf16.h"

#if defined(__x86_64__) && defined(T5PT_AVX512_SIMDE) && defined(__AVX2__) && defined(__FMA__)
#define T5PT_HAVE_AVX512BF16 1 /* emulated */
#include "simd/avx512_simde.h"
#elif defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BF16__)
#define T5PT_HAVE_AVX512BF16 1
#include <immintrin.h>
#endif

#ifdef T5PT_HAVE_AVX512BF16

/* 14 x 32 register tile, as the fp32 AVX-512 kernel: 28 zmm accumulators, 2 B vectors
 * (16 pairs each), 1 broadcast A pair. */
#define MR 14
#define NR 32

static void bf16_micro_avx512(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate) {
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

#define ROW(r, cr0, cr1)                                                      \
    do {                                                                      \
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);                 \
        cr0 = _mm512_dpbf16_ps(cr0, av, b0);                                  \
        cr1 = _mm512_dpbf16_ps(cr1, av, b1);                                  \
    } while (0)

    for (int q = 0; q < kp; q++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b);
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(b + 16));
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + 8 * MR), _MM_HINT_T0);
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

#define STORE(r, cr0, cr1)                                                    \
    do {                                                                      \
        float *cp = c + (size_t)(r) * ldc;                                    \
        if (accumulate) {                                                     \
            cr0 = _mm512_add_ps(_mm512_loadu_ps(cp), cr0);                    \
            cr1 = _mm512_add_ps(_mm512_loadu_ps(cp + 16), cr1);               \
        }                                                                     \
        _mm512_storeu_ps(cp, cr0);                                            \
        _mm512_storeu_ps(cp + 16, cr1);                                       \
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

static const t5pt_bf16_kernel kernel = {
    .name = "avx512bf16", .native = 1, .mr = MR, .nr = NR, .mc = 8 * MR, .micro = bf16_micro_avx512};

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx512bf16(void) { return &kernel; }

#else /* not an x86-64 build with the AVX512_BF16 flags */

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx512bf16(void) { return 0; }

#endif
