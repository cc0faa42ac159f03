/* bf16_avx2.c — the bf16 micro-kernel emulated with AVX2 + FMA, for x86 CPUs without
 * AVX512_BF16 (and for the avx2 path).
 *
 * Both operands arrive widened from packing (a_split, b_split: each bf16 of a K-pair
 * made an fp32 by appending 16 zero bits, simd/gemm_bf16.c), so the loop is the fp32
 * kernel's: broadcast, FMA. Widening in the loop instead (an AND and a shift per
 * vector) measured ~1.2x the fp32 kernel's time on an AMD EPYC, the integer ops taking
 * FMA pipes. One FMA per element and pair member, odd first: the product of two bf16
 * values is exact in fp32, so fma(a, b, acc) rounds once, as vdpbf16ps does, and the
 * result is bit-identical to the native kernel's (simd/bf16.h).
 */
#include "simd/bf16.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

/* 6 x 16 tile, as the fp32 AVX2 kernel: 12 accumulators, 2 B vectors, 1 A broadcast
 * (15 of 16 ymm). Per pair, all odd products are added first, then all even ones: each
 * accumulator sees odd, then even. */
#define MR 6
#define NR 16

static void bf16_micro_avx2(int kp, const uint32_t *a32, const uint32_t *b, float *c, int ldc, int accumulate) {
    const float *a = (const float *)a32; /* [kp][MR][2]: odd, even */
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

/* member 0: odd (with bo*), 1: even (with be*) */
#define ROW(r, m, v0, v1, cr0, cr1)                                                 \
    do {                                                                            \
        __m256 av = _mm256_broadcast_ss(a + 2 * (r) + (m));                         \
        cr0 = _mm256_fmadd_ps(av, v0, cr0);                                         \
        cr1 = _mm256_fmadd_ps(av, v1, cr1);                                         \
    } while (0)
#define ROWS(m, v0, v1)                                                             \
    do {                                                                            \
        ROW(0, m, v0, v1, c00, c01);                                                \
        ROW(1, m, v0, v1, c10, c11);                                                \
        ROW(2, m, v0, v1, c20, c21);                                                \
        ROW(3, m, v0, v1, c30, c31);                                                \
        ROW(4, m, v0, v1, c40, c41);                                                \
        ROW(5, m, v0, v1, c50, c51);                                                \
    } while (0)

    const float *bf = (const float *)b; /* [kp][2][NR]: odd row, even row */
    for (int q = 0; q < kp; q++) {
        _mm_prefetch((const char *)(bf + 8 * NR), _MM_HINT_T0);
        __m256 bo0 = _mm256_load_ps(bf), bo1 = _mm256_load_ps(bf + 8);
        ROWS(0, bo0, bo1);
        __m256 be0 = _mm256_load_ps(bf + NR), be1 = _mm256_load_ps(bf + NR + 8);
        ROWS(1, be0, be1);
        a += 2 * MR;
        bf += 2 * NR;
    }
#undef ROWS
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
    STORE(4, c40, c41);
    STORE(5, c50, c51);
#undef STORE
}

static const t5pt_bf16_kernel kernel = {
    .name = "avx2-emul", .native = 0, .mr = MR, .nr = NR, .mc = 16 * MR, .a_split = 1, .b_split = 1,
    .micro = bf16_micro_avx2};

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx2(void) { return &kernel; }

#else

const t5pt_bf16_kernel *t5pt_bf16_kernel_avx2(void) { return 0; }

#endif
