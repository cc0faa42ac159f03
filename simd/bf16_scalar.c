/* bf16_scalar.c — the bf16 micro-kernel in plain C: the readable reference of the
 * arithmetic every x86 kernel and emulation performs (simd/bf16.h), and the kernel of
 * the scalar path. Each product of two bf16 values is exact in fp32, so each line below
 * is one correctly rounded fp32 addition, as in vdpbf16ps.
 */
#include "simd/bf16.h"

#define MR 4
#define NR 8

static inline float hi_half(uint32_t pr) { return t5pt_bf16_to_f32((uint16_t)(pr >> 16)); } /* depth 2q+1 */
static inline float lo_half(uint32_t pr) { return t5pt_bf16_to_f32((uint16_t)pr); }         /* depth 2q */

static void bf16_micro_scalar(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate) {
    float acc[MR][NR] = {{0}};
    for (int q = 0; q < kp; q++) {
        for (int i = 0; i < MR; i++) {
            float ao = hi_half(a[i]), ae = lo_half(a[i]);
            for (int j = 0; j < NR; j++) {
                acc[i][j] += ao * hi_half(b[j]); /* the odd element first, as vdpbf16ps */
                acc[i][j] += ae * lo_half(b[j]);
            }
        }
        a += MR;
        b += NR;
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[(size_t)i * ldc + j] = accumulate ? c[(size_t)i * ldc + j] + acc[i][j] : acc[i][j];
}

static const t5pt_bf16_kernel kernel = {
    .name = "scalar-emul", .native = 0, .mr = MR, .nr = NR, .mc = 16 * MR, .micro = bf16_micro_scalar};

const t5pt_bf16_kernel *t5pt_bf16_kernel_scalar(void) { return &kernel; }
