/* gemm_pack.h — packing one full A micro-panel, for an ISA's t5pt_gemm_kernel.
 *
 * simd/gemm.c packs A per call into micro-panels [kc][MR] (kernels.h). The copy of a
 * full panel is the hot part of packing, and runs much faster when MR is a compile-time
 * constant (the row loop unrolls, the transposed copy vectorises), so each ISA file
 * defines its MR and then includes this header, which gives it gemm_pack_a and
 * gemm_pack_at for its table. (BLIS likewise gives each configuration its own packing
 * kernels.) Edge panels, with fewer than MR rows, are packed by the portable code in
 * gemm.c.
 */
#ifndef T5PT_GEMM_PACK_H
#define T5PT_GEMM_PACK_H

#if !defined(MR) || !defined(NR)
#error "define the ISA's MR and NR before including simd/gemm_pack.h"
#endif

#include <stddef.h>

/* Row-major A: dst[p*MR + i] = alpha * src[i*lda + p]. Eight depth steps at a time, so
 * each of the MR source rows is read in runs of 8 floats while the written block
 * (8*MR floats) stays in L1. */
static void gemm_pack_a(float *dst, const float *src, size_t lda, int kc, float alpha) {
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
        float *d = dst + (size_t)p * MR;
        for (int i = 0; i < MR; i++) {
            const float *s = src + (size_t)i * lda + p;
            for (int q = 0; q < 8; q++) d[q * MR + i] = alpha * s[q];
        }
    }
    for (; p < kc; p++) {
        float *d = dst + (size_t)p * MR;
        for (int i = 0; i < MR; i++) d[i] = alpha * src[(size_t)i * lda + p];
    }
}

/* Transposed A (op(A) column-major): dst[p*MR + i] = alpha * src[p*lda + i], a plain
 * scaled copy of MR contiguous floats per depth step. */
static void gemm_pack_at(float *dst, const float *src, size_t lda, int kc, float alpha) {
    for (int p = 0; p < kc; p++) {
        const float *s = src + (size_t)p * lda;
        float *d = dst + (size_t)p * MR;
        for (int i = 0; i < MR; i++) d[i] = alpha * s[i];
    }
}

/* The forward B operand of a frozen linear, W^T, from NR rows of W: dst[p*NR + j] =
 * src[j*lds + p], j < NR, p < k. The same copy as gemm_pack_a with NR rows and no scale
 * (the weights are never scaled, so the packed floats are W's own bits). */
static void gemm_pack_bt(float *dst, const float *src, size_t lds, int k) {
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        float *d = dst + (size_t)p * NR;
        for (int j = 0; j < NR; j++) {
            const float *s = src + (size_t)j * lds + p;
            for (int q = 0; q < 8; q++) d[q * NR + j] = s[q];
        }
    }
    for (; p < k; p++) {
        float *d = dst + (size_t)p * NR;
        for (int j = 0; j < NR; j++) d[j] = src[(size_t)j * lds + p];
    }
}

#endif
