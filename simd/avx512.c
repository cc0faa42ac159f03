/* avx512.c — the AVX-512 F/BW/DQ/VL path: 16 floats per vector.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c (Makefile) and
 * only ever called after dispatch.c has checked the CPU and the OS for those features.
 * What is written here is what differs per ISA: the GEMM micro-kernel and its blocking.
 * The elementwise kernels come from simd/vec_kernels.h over the AVX-512 vector layer
 * (simd/vec_avx512.h). With -DT5PT_AVX512_SIMDE (test only, `make
 * test-avx512-emulated`) the same code is built with the AVX2 flags and SIMDe's
 * implementations of the intrinsics (simd/avx512_simde.h).
 */
#include "simd/kernels.h"

#if defined(__x86_64__) && defined(T5PT_AVX512_SIMDE) && defined(__AVX2__) && defined(__FMA__)
#define T5PT_HAVE_AVX512 1 /* emulated */
#elif defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__FMA__)
#define T5PT_HAVE_AVX512 1
#endif

#ifdef T5PT_HAVE_AVX512

#include "simd/vec_avx512.h"
#include "simd/vec_kernels.h"

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 14 x 32 register tile: 28 zmm accumulators, 2 for the B row, 1 for the A element
 * broadcast from memory (vbroadcastss). 28 independent FMA chains cover the FMA
 * latency x throughput (4 cycles x 2 units) several times over, and each k step does
 * 16 loads for 28 FMAs. In L1 it runs at the machine's peak (`t5pt bench peak`). */
#define MR 14
#define NR 32

#include "simd/gemm_pack.h" /* gemm_pack_a, gemm_pack_at for this MR */

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

static void gemm_micro_avx512(int k, const float *a, const float *b, size_t ldb, float *c, int ldc, int accumulate) {
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
        _mm_prefetch((const char *)(b + PFB * ldb), _MM_HINT_T0);
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

static const t5pt_kernels table = {
    .name = "avx512",
    /* 1024 deep x 112 rows: an A block of 448 KB (BENCHMARKS.md) */
    .gemm = {.mr = MR, .nr = NR, .kc = 1024, .mc = 8 * MR, .micro = gemm_micro_avx512,
             .pack_a = gemm_pack_a, .pack_at = gemm_pack_at, .pack_bt = gemm_pack_bt},
    VEC_KERNEL_ENTRIES,
};

const t5pt_kernels *t5pt_kernels_avx512(void) { return &table; }

#else /* not an x86-64 build with the AVX-512 flags */

const t5pt_kernels *t5pt_kernels_avx512(void) { return 0; }

#endif
