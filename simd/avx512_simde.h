/* avx512_simde.h — the AVX-512 intrinsics through SIMDe, for the test-only emulated build.
 *
 * `make test-avx512-emulated` compiles the AVX-512 kernels with -DT5PT_AVX512_SIMDE and
 * only the AVX2 flags, so that a CPU without AVX-512 runs them: SIMDe (Debian
 * libsimde-dev, header-only) implements each _mm512_* intrinsic with AVX2 or plain C
 * under its native name (SIMDE_ENABLE_NATIVE_ALIASES). The kernel sources stay exactly
 * the code the native build compiles.
 *
 * SIMDe 0.7.4 lacks a few intrinsics the kernels use; they are defined below in plain C
 * over SIMDe's public loads and stores, under the native names (a macro shadows the
 * compiler's own always-inline function, which needs -mavx512f). Masked loads read only
 * the lanes whose mask bit is set and masked stores write only those, as the hardware
 * does, so a kernel that reads or writes past its row is caught here too (guard words in
 * the tests, the sanitizer build). The reductions add and compare in the tree order of
 * GCC's <avx512fintrin.h> (upper half + lower half, down to one lane), so the emulated
 * path gives the bits a GCC-built native AVX-512 path gives.
 *
 * To use a further intrinsic SIMDe lacks (compile error "inlining failed ... target
 * specific option mismatch" in the emulated build), add it here the same way.
 */
#ifndef T5PT_AVX512_SIMDE_H
#define T5PT_AVX512_SIMDE_H

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include <stdint.h>
#include <string.h>

/* Lane i of a 16-lane mask. */
#define T5PT_SIMDE_LANE(k, i) (((unsigned)(k) >> (i)) & 1u)

static inline simde__m512 t5pt_simde_mm512_maskz_loadu_ps(simde__mmask16 k, const void *p) {
    const float *src = (const float *)p;
    float lanes[16];
    for (int i = 0; i < 16; i++) lanes[i] = T5PT_SIMDE_LANE(k, i) ? src[i] : 0.0f;
    return simde_mm512_loadu_ps(lanes);
}

static inline void t5pt_simde_mm512_mask_storeu_ps(void *p, simde__mmask16 k, simde__m512 v) {
    float *dst = (float *)p;
    float lanes[16];
    simde_mm512_storeu_ps(lanes, v);
    for (int i = 0; i < 16; i++)
        if (T5PT_SIMDE_LANE(k, i)) dst[i] = lanes[i];
}

/* 16 lanes of uint16, the lanes whose bit is clear are 0. */
static inline simde__m256i t5pt_simde_mm256_maskz_loadu_epi16(simde__mmask16 k, const void *p) {
    const uint16_t *src = (const uint16_t *)p;
    uint16_t lanes[16];
    for (int i = 0; i < 16; i++) lanes[i] = T5PT_SIMDE_LANE(k, i) ? src[i] : 0;
    return simde_mm256_loadu_si256(lanes);
}

/* GCC's order: t = v[0:8] + v[8:16]; u = t[0:4] + t[4:8]; (u0 + u2) + (u1 + u3). */
static inline float t5pt_simde_mm512_reduce_add_ps(simde__m512 v) {
    float x[16], t[8], u[4];
    simde_mm512_storeu_ps(x, v);
    for (int i = 0; i < 8; i++) t[i] = x[i + 8] + x[i];
    for (int i = 0; i < 4; i++) u[i] = t[i + 4] + t[i];
    return (u[0] + u[2]) + (u[1] + u[3]);
}

static inline float t5pt_simde_maxf(float a, float b) { return a > b ? a : b; } /* maxps: b on ties/NaN */

static inline float t5pt_simde_mm512_reduce_max_ps(simde__m512 v) {
    float x[16], t[8], u[4];
    simde_mm512_storeu_ps(x, v);
    for (int i = 0; i < 8; i++) t[i] = t5pt_simde_maxf(x[i + 8], x[i]);
    for (int i = 0; i < 4; i++) u[i] = t5pt_simde_maxf(t[i + 4], t[i]);
    return t5pt_simde_maxf(t5pt_simde_maxf(u[0], u[2]), t5pt_simde_maxf(u[1], u[3]));
}

/* 16 halves -> 16 floats: each 128-bit half through the F16C conversion. */
static inline simde__m512 t5pt_simde_mm512_cvtph_ps(simde__m256i h) {
    simde__m256 lo = simde_mm256_cvtph_ps(simde_mm256_extracti128_si256(h, 0));
    simde__m256 hi = simde_mm256_cvtph_ps(simde_mm256_extracti128_si256(h, 1));
    return simde_mm512_insertf32x8(simde_mm512_castps256_ps512(lo), hi, 1);
}

/* 16 x uint16 -> 16 x uint32, zero-extended. */
static inline simde__m512i t5pt_simde_mm512_cvtepu16_epi32(simde__m256i h) {
    uint16_t in[16];
    uint32_t out[16];
    simde_mm256_storeu_si256(in, h);
    for (int i = 0; i < 16; i++) out[i] = in[i];
    return simde_mm512_loadu_si512(out);
}

/* vdpbf16ps in the order of the Intel SDM's pseudocode: per lane, the odd pair member's
 * product is added first, then the even one's, each addition rounded to nearest even
 * (SIMDe adds the even one first, or sums both products before adding them: a
 * different last bit). Products of two bf16 values are exact in fp32, so a*b + s below
 * rounds once. Denormals are kept here; the hardware flushes them (simd/gemm_bf16.h). */
static inline simde__m512 t5pt_simde_mm512_dpbf16_ps(simde__m512 src, simde__m512bh a, simde__m512bh b) {
    uint32_t ua[16], ub[16];
    float s[16];
    memcpy(ua, &a, sizeof ua);
    memcpy(ub, &b, sizeof ub);
    simde_mm512_storeu_ps(s, src);
    for (int i = 0; i < 16; i++) {
        float ao, bo, ae, be;
        uint32_t t;
        t = ua[i] & 0xffff0000u, memcpy(&ao, &t, 4);
        t = ub[i] & 0xffff0000u, memcpy(&bo, &t, 4);
        t = ua[i] << 16, memcpy(&ae, &t, 4);
        t = ub[i] << 16, memcpy(&be, &t, 4);
        s[i] = s[i] + ao * bo;
        s[i] = s[i] + ae * be;
    }
    return simde_mm512_loadu_ps(s);
}

#undef _mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#undef _mm256_maskz_loadu_epi16
#undef _mm512_reduce_add_ps
#undef _mm512_reduce_max_ps
#undef _mm512_cvtph_ps
#undef _mm512_cvtepu16_epi32
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps(src, a, b) t5pt_simde_mm512_dpbf16_ps((src), (a), (b))
#define _mm512_maskz_loadu_ps(k, p) t5pt_simde_mm512_maskz_loadu_ps((k), (p))
#define _mm512_mask_storeu_ps(p, k, v) t5pt_simde_mm512_mask_storeu_ps((p), (k), (v))
#define _mm256_maskz_loadu_epi16(k, p) t5pt_simde_mm256_maskz_loadu_epi16((k), (p))
#define _mm512_reduce_add_ps(v) t5pt_simde_mm512_reduce_add_ps(v)
#define _mm512_reduce_max_ps(v) t5pt_simde_mm512_reduce_max_ps(v)
#define _mm512_cvtph_ps(h) t5pt_simde_mm512_cvtph_ps(h)
#define _mm512_cvtepu16_epi32(h) t5pt_simde_mm512_cvtepu16_epi32(h)

/* vshuff32x4 (the lane shuffle of the 16 x 16 transpose, simd/vec_avx512.h): result lane l
 * is lane imm[2l+1:2l] of a (l < 2) or of b (l >= 2). */
static inline simde__m512 t5pt_simde_mm512_shuffle_f32x4(simde__m512 a, simde__m512 b, int imm) {
    float fa[16], fb[16], r[16];
    simde_mm512_storeu_ps(fa, a);
    simde_mm512_storeu_ps(fb, b);
    for (int l = 0; l < 4; l++) memcpy(r + 4 * l, (l < 2 ? fa : fb) + 4 * ((imm >> (2 * l)) & 3), 4 * sizeof(float));
    return simde_mm512_loadu_ps(r);
}
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, imm) t5pt_simde_mm512_shuffle_f32x4((a), (b), (imm))

#endif
