/* avx2.c — the AVX2 + FMA (+ F16C) path: 8 floats per vector.
 *
 * Compiled with -mavx2 -mfma -mf16c (Makefile) and only called after dispatch.c has
 * checked the CPU and the OS for those features. What is written here is what differs
 * per ISA: the GEMM micro-kernel and its blocking. The elementwise kernels come from
 * simd/vec_kernels.h over the AVX2 vector layer (simd/vec_avx2.h).
 */
#include "simd/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include "simd/vec_avx2.h"
#include "simd/vec_kernels.h"

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 6 x 16 register tile: 12 ymm accumulators, 2 for the B row, 1 broadcast (15 of the
 * 16 ymm registers): 12 independent FMA chains per k step, 8 loads per 12 FMAs. */
#define MR 6
#define NR 16

#include "simd/gemm_pack.h" /* gemm_pack_a, gemm_pack_at for this MR */

static void gemm_micro_avx2(int k, const float *a, const float *b, size_t ldb, float *c, int ldc, int accumulate) {
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
        _mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        ROW(4, c40, c41);
        ROW(5, c50, c51);
        a += MR;
        b += ldb;
    }
#undef ROW

/* row r of the tile: C = acc, or C += acc */
#define STORE(r, cr0, cr1)                                  \
    do {                                                    \
        float *cp = c + (size_t)(r) * ldc;                  \
        vstore_acc(cp + 0 * VLEN, cr0, accumulate);         \
        vstore_acc(cp + 1 * VLEN, cr1, accumulate);         \
    } while (0)
    STORE(0, c00, c01);
    STORE(1, c10, c11);
    STORE(2, c20, c21);
    STORE(3, c30, c31);
    STORE(4, c40, c41);
    STORE(5, c50, c51);
#undef STORE
}

static const t5pt_kernels table = {
    .name = "avx2",
    /* 512 deep x 96 rows: an A block of 192 KB (BENCHMARKS.md) */
    .gemm = {.mr = MR, .nr = NR, .kc = 512, .mc = 16 * MR, .micro = gemm_micro_avx2,
             .pack_a = gemm_pack_a, .pack_at = gemm_pack_at, .pack_bt = gemm_pack_bt},
    VEC_KERNEL_ENTRIES,
};

const t5pt_kernels *t5pt_kernels_avx2(void) { return &table; }

#else /* not an x86-64 build with the AVX2 flags */

const t5pt_kernels *t5pt_kernels_avx2(void) { return 0; }

#endif
