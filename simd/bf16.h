/* bf16.h — bfloat16 values and the bf16 GEMM micro-kernel table.
 *
 * A bf16 is the top half of an IEEE fp32: sign, the same 8-bit exponent, 7 mantissa
 * bits. fp32 -> bf16 rounds to nearest, ties to even (as torch's .to(torch.bfloat16)
 * does); bf16 -> fp32 is exact (append 16 zero bits).
 *
 * The micro-kernels of simd/gemm_bf16.c all read one packed layout, K-pairs
 * interleaved: element (row i, depth 2q) is the low half and (i, 2q+1) the high half
 * of one uint32. A micro-panel of A is [kp][MR] such pairs, one of B is [kp][NR]
 * (kp = depth / 2, rounded up, the missing odd element zero). This is the layout
 * `vdpbf16ps` (x86 AVX512_BF16) and `bfdot` by element (ARM BF16) multiply directly,
 * and the emulations widen it with one AND (high half) and one shift (low half).
 *
 * The arithmetic every x86 kernel and every emulation performs, per output element and
 * per K-pair q, in fp32 with round-to-nearest-even (the order of the Intel SDM's
 * pseudocode for VDPBF16PS: the odd element first):
 *     acc = acc + a[2q+1]*b[2q+1];   acc = acc + a[2q]*b[2q];
 * A product of two bf16 values has at most 16 significant bits, so it is exact in fp32
 * and each step is one correctly rounded addition, whether a kernel uses FMA, a multiply
 * and an add, or vdpbf16ps. The ARM BF16 kernel (bfdot) differs by design of the
 * instruction: it adds the two products of a pair first and rounds each addition to
 * odd (Arm ARM, BFDOT, FEAT_EBF16 absent), so its results are not bit-identical to the
 * others; see simd/gemm_bf16.h for what the tests hold each path to.
 */
#ifndef T5PT_BF16_H
#define T5PT_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* fp32 -> bf16, round to nearest even. NaN stays NaN (quiet, sign and top payload
 * bits kept); +-Inf stays Inf; overflow past the largest bf16 gives Inf; fp32 denormals
 * round like any other value (no flush to zero). */
static inline uint16_t t5pt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bf16 -> fp32, exact. */
static inline float t5pt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* One ISA's bf16 micro-kernel: C[MR,NR] (row stride ldc) = (accumulate ? C : 0) +
 * sum over kp K-pairs of a[q*MR + i] . b[q*NR + j] (the pair products above), or with
 * a_split the pair (a[2(q*MR + i)], a[2(q*MR + i) + 1]) read as the odd and even floats,
 * and with b_split b[2q*NR + j] (odd) and b[(2q+1)*NR + j] (even).
 * a, b: packed pair micro-panels, 64-byte aligned. */
typedef struct t5pt_bf16_kernel {
    const char *name; /* "avx512bf16", "armbf16" (native); "avx2-emul", "neon-emul", "scalar-emul" */
    int native;       /* 1 when the CPU multiplies bf16 pairs itself */
    int mr, nr;       /* register tile */
    int mc;           /* rows of a packed A block (a multiple of mr) */
    int a_split;      /* 0: A micro-panel [kp][MR] pairs; 1: [kp][MR][2] floats, each pair widened
                         to fp32 (odd element, then even), for emulations that broadcast
                         the A element straight from memory */
    int b_split;      /* 0: B micro-panel [kp][NR] pairs; 1: [kp][2][NR] floats, per pair the row
                         of odd elements widened to fp32, then the row of even ones */
    void (*micro)(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int accumulate);
} t5pt_bf16_kernel;

/* Largest register tile a bf16 kernel may declare. */
#define T5PT_BF16_MAX_MR 16
#define T5PT_BF16_MAX_NR 32

/* Depth of a packed block, the same for every kernel (even): the K loop is cut at the
 * same places on every path, which the bit-identity of the paths needs. */
#define T5PT_BF16_KC 512

/* Tables per kernel; NULL when not compiled for this architecture (simd/bf16_<isa>.c). */
const t5pt_bf16_kernel *t5pt_bf16_kernel_scalar(void);
const t5pt_bf16_kernel *t5pt_bf16_kernel_avx2(void);
const t5pt_bf16_kernel *t5pt_bf16_kernel_avx512bf16(void);
const t5pt_bf16_kernel *t5pt_bf16_kernel_neon(void);
const t5pt_bf16_kernel *t5pt_bf16_kernel_armbf16(void);

/* The kernel for the selected SIMD path (simd/dispatch.c): the native one when the path
 * is avx512 and the CPU has AVX512_BF16, or neon with ARM BF16; otherwise that path's
 * emulation (avx512 and avx2: avx2-emul; neon: neon-emul; scalar: scalar-emul). */
const t5pt_bf16_kernel *t5pt_bf16_kern(void);
/* The kernel called `name` if this build has it and the CPU runs it, else NULL. */
const t5pt_bf16_kernel *t5pt_bf16_kernel_named(const char *name);
/* Space-separated names of the bf16 kernels this CPU and build can run, native first. */
const char *t5pt_bf16_kernels_available(void);

#endif
