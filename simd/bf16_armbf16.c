/* bf16_armbf16.c — the native ARM bf16 micro-kernel: BFDOT by element (ARMv8.6 BF16,
 * optional from ARMv8.2), compiled with -march=armv8.2-a+bf16 (Makefile) and only called
 * after simd/dispatch.c has found HWCAP2_BF16.
 *
 * bfdot Vd.4S, Vn.8H, Vm.2H[lane] adds to each fp32 lane the dot product of one K-pair of
 * B with the K-pair of A in `lane`: exactly the packed pair layout (simd/bf16.h). Its
 * arithmetic is the instruction's own (Arm ARM, BFDOT, without FEAT_EBF16): the two
 * products are summed first and every addition rounds to odd, with denormals flushed.
 * So its results differ in the last bits from the x86 kernels and the emulations; the
 * tests hold it to the fp32 summation bound instead of bit-identity.
 * (BFMMLA, 2x4 blocks per instruction, would need a different packing and is not used.)
 */
#include "simd/bf16.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)

#include <arm_neon.h>

/* 8 x 8 tile: 16 accumulators, 2 B vectors (4 pairs each), 2 A vectors (4 pairs each). */
#define MR 8
#define NR 8

static void bf16_micro_armbf16(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate) {
    float32x4_t acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (int q = 0; q < kp; q++) {
        bfloat16x8_t b0 = vreinterpretq_bf16_u32(vld1q_u32(b)), b1 = vreinterpretq_bf16_u32(vld1q_u32(b + 4));
        bfloat16x8_t a0 = vreinterpretq_bf16_u32(vld1q_u32(a)), a1 = vreinterpretq_bf16_u32(vld1q_u32(a + 4));
#define ROW(r, av, lane)                                                      \
    do {                                                                      \
        acc[r][0] = vbfdotq_laneq_f32(acc[r][0], b0, av, lane);               \
        acc[r][1] = vbfdotq_laneq_f32(acc[r][1], b1, av, lane);               \
    } while (0)
        ROW(0, a0, 0);
        ROW(1, a0, 1);
        ROW(2, a0, 2);
        ROW(3, a0, 3);
        ROW(4, a1, 0);
        ROW(5, a1, 1);
        ROW(6, a1, 2);
        ROW(7, a1, 3);
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
    .name = "armbf16", .native = 1, .mr = MR, .nr = NR, .mc = 16 * MR, .micro = bf16_micro_armbf16};

const t5pt_bf16_kernel *t5pt_bf16_kernel_armbf16(void) { return &kernel; }

#else

const t5pt_bf16_kernel *t5pt_bf16_kernel_armbf16(void) { return 0; }

#endif
