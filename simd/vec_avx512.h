/* vec_avx512.h — the vector layer for AVX-512 F/BW/DQ/VL: 16 floats per vector.
 *
 * The same operations as vec_avx2.h (see there), over zmm registers. Included only by
 * simd/avx512.c, compiled with the AVX-512 flags, or, in the test-only emulated build
 * (-DT5PT_AVX512_SIMDE), with the AVX2 flags against SIMDe (simd/avx512_simde.h).
 * Partial vectors use masked loads and stores: lanes past n are neither read nor
 * written, and read as 0.
 */
#ifndef T5PT_VEC_AVX512_H
#define T5PT_VEC_AVX512_H

#ifdef T5PT_AVX512_SIMDE
#include "simd/avx512_simde.h"
#else
#include <immintrin.h>
#endif
#include <stdint.h>

#define VLEN 16
typedef __m512 vfloat;

static inline vfloat vset1(float x) { return _mm512_set1_ps(x); }
static inline vfloat vzero(void) { return _mm512_setzero_ps(); }
static inline vfloat vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vfloat v) { _mm512_storeu_ps(p, v); }

/* Mask of the lanes j < n (all 16 when n >= 16). */
static inline __mmask16 vtail_mask(int n) { return n >= VLEN ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }
static inline vfloat vload_n(const float *p, int n) {
    return n >= VLEN ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(vtail_mask(n), p);
}
static inline void vstore_n(float *p, vfloat v, int n) {
    if (n >= VLEN)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, vtail_mask(n), v);
}
static inline vfloat vkeep_n(vfloat v, int n, float fill) {
    if (n >= VLEN) return v;
    return _mm512_mask_mov_ps(_mm512_set1_ps(fill), vtail_mask(n), v);
}

static inline vfloat vadd(vfloat a, vfloat b) { return _mm512_add_ps(a, b); }
static inline vfloat vsub(vfloat a, vfloat b) { return _mm512_sub_ps(a, b); }
static inline vfloat vmul(vfloat a, vfloat b) { return _mm512_mul_ps(a, b); }
static inline vfloat vdiv(vfloat a, vfloat b) { return _mm512_div_ps(a, b); }
static inline vfloat vmax(vfloat a, vfloat b) { return _mm512_max_ps(a, b); }
static inline vfloat vmin(vfloat a, vfloat b) { return _mm512_min_ps(a, b); }
static inline vfloat vfma(vfloat a, vfloat b, vfloat c) { return _mm512_fmadd_ps(a, b, c); }   /* a b + c */
static inline vfloat vfnma(vfloat a, vfloat b, vfloat c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a b */
static inline vfloat vwhere_pos(vfloat x, vfloat y) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), y);
}
static inline vfloat vround(vfloat x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* y * 2^n in one step (vscalefps: also the right overflow to inf and underflow to 0/denormal) */
static inline vfloat vldexp(vfloat y, vfloat n) { return _mm512_scalef_ps(y, n); }

static inline float vhsum(vfloat v) { return _mm512_reduce_add_ps(v); }
static inline float vhmax(vfloat v) { return _mm512_reduce_max_ps(v); }

static inline vfloat vload_bf16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
static inline vfloat vload_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline vfloat vload_bf16_n(const uint16_t *p, int n) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(vtail_mask(n), p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
static inline vfloat vload_f16_n(const uint16_t *p, int n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(vtail_mask(n), p));
}

/* Each lane rounded to bf16 (nearest, ties to even) and kept as an f32: the bits of
 * t5pt_f32_to_bf16 (simd/bf16.h) with 16 zero bits appended, NaN made quiet. */
static inline vfloat vround_bf16(vfloat x) {
    const __m512i u = _mm512_castps_si512(x), hi = _mm512_set1_epi32((int)0xffff0000u);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_and_si512(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), hi);
    __m512i qnan = _mm512_or_si512(_mm512_and_si512(u, hi), _mm512_set1_epi32(0x00400000));
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(nan, r, qnan));
}

/* dst[c*ldd + r] = src[r*lds + c], r, c < 16: a 16 x 16 register transpose (within each
 * 128-bit lane as on AVX2, then a 4 x 4 transpose of the lanes by two rounds of
 * vshuff32x4). Copies only. */
static inline void vtranspose_tile(float *dst, size_t ldd, const float *src, size_t lds) {
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* u[4g + c], lane l: column 4l + c of rows 4g .. 4g+3 */
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) { /* output row 4l + c: lane g = lane l of u[4g + c] */
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);      /* lanes 0, 1 of rows 0-3, 4-7 */
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);      /* lanes 2, 3 */
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44); /* the same of rows 8-15 */
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        _mm512_storeu_ps(dst + (size_t)c * ldd, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_storeu_ps(dst + (size_t)(4 + c) * ldd, _mm512_shuffle_f32x4(v0, v2, 0xDD));
        _mm512_storeu_ps(dst + (size_t)(8 + c) * ldd, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_storeu_ps(dst + (size_t)(12 + c) * ldd, _mm512_shuffle_f32x4(v1, v3, 0xDD));
    }
}

#endif
