/* vec_neon.h — the vector layer for AArch64 Advanced SIMD (NEON): 4 floats per vector.
 *
 * The same operations as vec_avx2.h (see there). Included only by simd/neon.c. NEON has
 * no masked loads or stores: a partial vector is staged through a small zero-padded
 * buffer, so lanes past n are never read or written in memory.
 */
#ifndef T5PT_VEC_NEON_H
#define T5PT_VEC_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#define VLEN 4
typedef float32x4_t vfloat;

static inline vfloat vset1(float x) { return vdupq_n_f32(x); }
static inline vfloat vzero(void) { return vdupq_n_f32(0.0f); }
static inline vfloat vload(const float *p) { return vld1q_f32(p); }
static inline void vstore(float *p, vfloat v) { vst1q_f32(p, v); }

static inline vfloat vload_n(const float *p, int n) {
    if (n >= VLEN) return vld1q_f32(p);
    float t[VLEN] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}
static inline void vstore_n(float *p, vfloat v, int n) {
    if (n >= VLEN) {
        vst1q_f32(p, v);
        return;
    }
    float t[VLEN];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}
/* Lanes j < n all-ones. */
static inline uint32x4_t vtail_mask(int n) {
    static const uint32_t idx[VLEN] = {0, 1, 2, 3};
    return vcltq_u32(vld1q_u32(idx), vdupq_n_u32((uint32_t)(n < 0 ? 0 : n)));
}
static inline vfloat vkeep_n(vfloat v, int n, float fill) {
    if (n >= VLEN) return v;
    return vbslq_f32(vtail_mask(n), v, vdupq_n_f32(fill));
}

static inline vfloat vadd(vfloat a, vfloat b) { return vaddq_f32(a, b); }
static inline vfloat vsub(vfloat a, vfloat b) { return vsubq_f32(a, b); }
static inline vfloat vmul(vfloat a, vfloat b) { return vmulq_f32(a, b); }
static inline vfloat vdiv(vfloat a, vfloat b) { return vdivq_f32(a, b); }
static inline vfloat vmax(vfloat a, vfloat b) { return vmaxq_f32(a, b); }
static inline vfloat vmin(vfloat a, vfloat b) { return vminq_f32(a, b); }
static inline vfloat vfma(vfloat a, vfloat b, vfloat c) { return vfmaq_f32(c, a, b); }  /* a b + c */
static inline vfloat vfnma(vfloat a, vfloat b, vfloat c) { return vfmsq_f32(c, a, b); } /* c - a b */
static inline vfloat vwhere_pos(vfloat x, vfloat y) {
    return vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(x, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(y)));
}
static inline vfloat vround(vfloat x) { return vrndnq_f32(x); }
/* y * 2^n for integral n in [-150, 128], in two normal factors 2^h * 2^(n-h), h = n/2 */
static inline vfloat vldexp(vfloat y, vfloat n) {
    int32x4_t ni = vcvtq_s32_f32(n), h = vshrq_n_s32(ni, 1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(y, s1), s2);
}

static inline float vhsum(vfloat v) { return vaddvq_f32(v); }
static inline float vhmax(vfloat v) { return vmaxvq_f32(v); }

static inline vfloat vload_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline vfloat vload_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline vfloat vload_bf16_n(const uint16_t *p, int n) {
    uint16_t t[VLEN] = {0, 0, 0, 0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vload_bf16(t);
}
static inline vfloat vload_f16_n(const uint16_t *p, int n) {
    uint16_t t[VLEN] = {0, 0, 0, 0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vload_f16(t);
}

/* Each lane rounded to bf16 (nearest, ties to even) and kept as an f32: the bits of
 * t5pt_f32_to_bf16 (simd/bf16.h) with 16 zero bits appended, NaN made quiet. */
static inline vfloat vround_bf16(vfloat x) {
    const uint32x4_t u = vreinterpretq_u32_f32(x), hi = vdupq_n_u32(0xffff0000u);
    uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    uint32x4_t r = vandq_u32(vaddq_u32(u, vaddq_u32(lsb, vdupq_n_u32(0x7fff))), hi);
    uint32x4_t qnan = vorrq_u32(vandq_u32(u, hi), vdupq_n_u32(0x00400000));
    uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
    return vreinterpretq_f32_u32(vbslq_u32(nan, qnan, r));
}

/* dst[c*ldd + r] = src[r*lds + c], r, c < 4: a 4 x 4 register transpose (trn1/trn2 of
 * row pairs, then the 64-bit halves recombined). Copies only. */
static inline void vtranspose_tile(float *dst, size_t ldd, const float *src, size_t lds) {
    float32x4x2_t p01 = vtrnq_f32(vld1q_f32(src), vld1q_f32(src + lds));
    float32x4x2_t p23 = vtrnq_f32(vld1q_f32(src + 2 * lds), vld1q_f32(src + 3 * lds));
    vst1q_f32(dst, vcombine_f32(vget_low_f32(p01.val[0]), vget_low_f32(p23.val[0])));
    vst1q_f32(dst + ldd, vcombine_f32(vget_low_f32(p01.val[1]), vget_low_f32(p23.val[1])));
    vst1q_f32(dst + 2 * ldd, vcombine_f32(vget_high_f32(p01.val[0]), vget_high_f32(p23.val[0])));
    vst1q_f32(dst + 3 * ldd, vcombine_f32(vget_high_f32(p01.val[1]), vget_high_f32(p23.val[1])));
}

#endif
