/* neon.c — the AArch64 Advanced SIMD (NEON) path: 4 floats per vector.
 *
 * NEON is part of every AArch64 CPU, so this file needs no extra flags. What is written
 * here is what differs per ISA: the GEMM micro-kernel and its blocking. The elementwise
 * kernels come from simd/vec_kernels.h over the NEON vector layer (simd/vec_neon.h).
 */
#include "simd/kernels.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include "simd/vec_neon.h"
#include "simd/vec_kernels.h"

/* ------------------------------------------------------------------ GEMM micro-kernel */

/* 8 x 12 register tile: 24 q-register accumulators, 3 for the B row, 2 for the A column
 * (29 of 32 registers); each A lane is used by index (fmla v.4s, v.4s, v.s[i]). */
#define MR 8
#define NR 12

#include "simd/gemm_pack.h" /* gemm_pack_a, gemm_pack_at for this MR */

static void gemm_micro_neon(int k, const float *a, const float *b, size_t ldb, float *c, int ldc, int accumulate) {
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
        b += ldb;
    }
#undef ROW

/* row r of the tile: C = acc, or C += acc */
#define STORE(r, cr0, cr1, cr2)                             \
    do {                                                    \
        float *cp = c + (size_t)(r) * ldc;                  \
        vstore_acc(cp + 0 * VLEN, cr0, accumulate);         \
        vstore_acc(cp + 1 * VLEN, cr1, accumulate);         \
        vstore_acc(cp + 2 * VLEN, cr2, accumulate);         \
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

static const t5pt_kernels table = {
    .name = "neon",
    /* 256 deep x 240 rows: an A block of 240 KB */
    .gemm = {.mr = MR, .nr = NR, .kc = 256, .mc = 30 * MR, .micro = gemm_micro_neon,
             .pack_a = gemm_pack_a, .pack_at = gemm_pack_at, .pack_bt = gemm_pack_bt},
    VEC_KERNEL_ENTRIES,
};

const t5pt_kernels *t5pt_kernels_neon(void) { return &table; }

#else /* not an AArch64 build */

const t5pt_kernels *t5pt_kernels_neon(void) { return 0; }

#endif
