/* bf16_avx2.c — the bf16 micro-kernel emulated with AVX2 + FMA, for x86 CPUs without
 * AVX512_BF16 (and for the avx2 path).
 *
 * Each packed uint32 holds a K-pair (simd/bf16.h); AND with 0xffff0000 gives the odd
 * element as an fp32, a left shift by 16 the even one. One FMA per element and pair
 * member, odd first: the product is exact in fp32, so fma(a, b, acc) rounds once, as
 * vdpbf16ps does, and the result is bit-identical to the native kernel's.
 */
#include "simd/bf16.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

/* 4 x 16 tile: 8 accumulators, 4 widened B vectors, 2 widened A broadcasts (14 of 16 ymm). */
#define MR 4
#define NR 16

static void bf16_micro_avx2(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate) {
    const __m256i hi_mask = _mm256_set1_epi32((int)0xffff0000u);
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();

#define ROW(r, cr0, cr1)                                                            \
    do {                                                                            \
        __m256i ap = _mm256_set1_epi32((int)a[r]);                                  \
        __m256 ao = _mm256_castsi256_ps(_mm256_and_si256(ap, hi_mask));             \
        __m256 ae = _mm256_castsi256_ps(_mm256_slli_epi32(ap, 16));                 \
        cr0 = _mm256_fmadd_ps(ao, bo0, cr0);                                        \
        cr1 = _mm256_fmadd_ps(ao, bo1, cr1);                                        \
        cr0 = _mm256_fmadd_ps(ae, be0, cr0);                                        \
        cr1 = _mm256_fmadd_ps(ae, be1, cr1);                                        \
    } while (0)

    for (int q = 0; q < kp; q++) {
        __m256i b0 = _mm256_load_si256((const __m256i *)b);
        __m256i b1 = _mm256_load_si256((const __m256i *)(b + 8));
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        __m256 bo0 = _mm256_castsi256_ps(_mm256_and_si256(b0, hi_mask));
        __m256 bo1 = _mm256_castsi256_ps(_mm256_and_si256(b1, hi_mask));
        __m256 be0 = _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16));
        __m256 be1 = _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16));
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        a += MR;
        b += NR;
    }
#undef ROW

#define STORE(r, cr0, cr1)                                                          \
    do {                                                                            \
        float *cp = c + (size_t)(r) * ldc;                                          \
        if (accumulate) {                                                           \
            cr0 = _mm256_add_ps(_mm256_loadu_ps(cp), cr0);                          \
            cr1 = _mm256_add_ps(_mm256_loadu_ps(cp + 8), cr1);                      \
        }                                                                           \
        _mm256_storeu_ps(cp, cr0);                                                  \
        _mm256_storeu_ps(cp + 8, cr1);                                              \
    } while (0)
    STORE(0, c00, c01);
    STORE(1, c10, c11);
    STORE(2, c20, c21);
    STORE(3, c30, c31);
#undef STORE
}

static const t5pt_bf16_kernel kernel = {
    .name = "avx2-emul", .native = 0, .mr = MR, .nr = NR, .mc = 24 * MR, .micro = bf16_micro_avx2};

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx2(void) { return &kernel; }

#else

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx2(void) { return 0; }

#endif
