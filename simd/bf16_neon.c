/* bf16_neon.c — the bf16 micro-kernel emulated with AArch64 Advanced SIMD, for ARM CPUs
 * without the BF16 extension (and for the neon path when it is absent).
 *
 * As simd/bf16_avx2.c: the odd member of each packed K-pair is the pair AND 0xffff0000,
 * the even one the pair shifted left by 16; one fused multiply-add per member, odd first,
 * each rounding once because the product of two bf16 values is exact in fp32. The result
 * is bit-identical to the x86 kernels' (simd/bf16.h), not to bfdot's.
 */
#include "simd/bf16.h"

#if defined(__aarch64__)

#include <arm_neon.h>

/* 8 x 8 tile: 16 accumulators, 4 widened B vectors, 4 widened A vectors (of 32). */
#define MR 8
#define NR 8

static void bf16_micro_neon(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate) {
    const uint32x4_t hi_mask = vdupq_n_u32(0xffff0000u);
    float32x4_t acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (int q = 0; q < kp; q++) {
        uint32x4_t b0 = vld1q_u32(b), b1 = vld1q_u32(b + 4);
        uint32x4_t a0 = vld1q_u32(a), a1 = vld1q_u32(a + 4);
        float32x4_t bo0 = vreinterpretq_f32_u32(vandq_u32(b0, hi_mask));
        float32x4_t bo1 = vreinterpretq_f32_u32(vandq_u32(b1, hi_mask));
        float32x4_t be0 = vreinterpretq_f32_u32(vshlq_n_u32(b0, 16));
        float32x4_t be1 = vreinterpretq_f32_u32(vshlq_n_u32(b1, 16));
        float32x4_t ao0 = vreinterpretq_f32_u32(vandq_u32(a0, hi_mask));
        float32x4_t ao1 = vreinterpretq_f32_u32(vandq_u32(a1, hi_mask));
        float32x4_t ae0 = vreinterpretq_f32_u32(vshlq_n_u32(a0, 16));
        float32x4_t ae1 = vreinterpretq_f32_u32(vshlq_n_u32(a1, 16));
#define ROW(r, ao, ae, lane)                                                  \
    do {                                                                      \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], bo0, ao, lane);                \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], bo1, ao, lane);                \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], be0, ae, lane);                \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], be1, ae, lane);                \
    } while (0)
        ROW(0, ao0, ae0, 0);
        ROW(1, ao0, ae0, 1);
        ROW(2, ao0, ae0, 2);
        ROW(3, ao0, ae0, 3);
        ROW(4, ao1, ae1, 0);
        ROW(5, ao1, ae1, 1);
        ROW(6, ao1, ae1, 2);
        ROW(7, ao1, ae1, 3);
#undef ROW
        a += MR;
        b += NR;
    }
    for (int i = 0; i < MR; i++) {
        float *cp = c + (size_t)i * ldc;
        float32x4_t r0 = acc[i][0], r1 = acc[i][1];
        if (accumulate) {
            r0 = vaddq_f32(vld1q_f32(cp), r0);
            r1 = vaddq_f32(vld1q_f32(cp + 4), r1);
        }
        vst1q_f32(cp, r0);
        vst1q_f32(cp + 4, r1);
    }
}

static const t5pt_bf16_kernel kernel = {
    .name = "neon-emul", .native = 0, .mr = MR, .nr = NR, .mc = 16 * MR, .micro = bf16_micro_neon};

const t5pt_bf16_kernel *t5pt_bf16_kernel_neon(void) { return &kernel; }

#else

const t5pt_bf16_kernel *t5pt_bf16_kernel_neon(void) { return 0; }

#endif
