/* vec_avx2.h — the vector layer for AVX2 + FMA + F16C: 8 floats per vector.
 *
 * One of the per-ISA mappings (vec_avx2.h, vec_avx512.h, vec_neon.h) that
 * simd/vec_kernels.h writes the elementwise kernels over: the same small set of static
 * inline operations, each a line or two of intrinsics. Included only by simd/avx2.c,
 * which is compiled with -mavx2 -mfma -mf16c.
 * Partial vectors (the tail of a row) use vmaskmov: lanes past n are neither read nor
 * written, and read as 0.
 */
#ifndef T5PT_VEC_AVX2_H
#define T5PT_VEC_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define VLEN 8
typedef __m256 vfloat;

static inline vfloat vset1(float x) { return _mm256_set1_ps(x); }
static inline vfloat vzero(void) { return _mm256_setzero_ps(); }
static inline vfloat vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vfloat v) { _mm256_storeu_ps(p, v); }

/* Lane mask for vmaskmov: lane j active iff j < n. */
static inline __m256i vtail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* Lanes j < n (n may exceed VLEN: then the whole vector); the rest read as 0 / are not written. */
static inline vfloat vload_n(const float *p, int n) {
    return n >= VLEN ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, vtail_mask(n));
}
static inline void vstore_n(float *p, vfloat v, int n) {
    if (n >= VLEN)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, vtail_mask(n), v);
}
/* v in lanes j < n, fill in the others. */
static inline vfloat vkeep_n(vfloat v, int n, float fill) {
    if (n >= VLEN) return v;
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(vtail_mask(n)));
}

static inline vfloat vadd(vfloat a, vfloat b) { return _mm256_add_ps(a, b); }
static inline vfloat vsub(vfloat a, vfloat b) { return _mm256_sub_ps(a, b); }
static inline vfloat vmul(vfloat a, vfloat b) { return _mm256_mul_ps(a, b); }
static inline vfloat vdiv(vfloat a, vfloat b) { return _mm256_div_ps(a, b); }
static inline vfloat vmax(vfloat a, vfloat b) { return _mm256_max_ps(a, b); }
static inline vfloat vmin(vfloat a, vfloat b) { return _mm256_min_ps(a, b); }
static inline vfloat vfma(vfloat a, vfloat b, vfloat c) { return _mm256_fmadd_ps(a, b, c); }   /* a b + c */
static inline vfloat vfnma(vfloat a, vfloat b, vfloat c) { return _mm256_fnmadd_ps(a, b, c); } /* c - a b */
/* y where x > 0, else +0 (ReLU's gradient gate) */
static inline vfloat vwhere_pos(vfloat x, vfloat y) {
    return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), y);
}
/* nearest integer, ties to even */
static inline vfloat vround(vfloat x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* y * 2^n for integral n in [-150, 128]: 2^n is built in the exponent field in two halves,
 * 2^h * 2^(n-h) with h = n/2, so that each factor is a normal float. */
static inline vfloat vldexp(vfloat y, vfloat n) {
    __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

/* Horizontal sum / max: halves folded onto each other down to one lane. */
static inline float vhsum(vfloat v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float vhmax(vfloat v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* bf16 (the top half of an f32) and IEEE f16 -> f32: VLEN values, or the first n. */
static inline vfloat vload_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline vfloat vload_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline vfloat vload_bf16_n(const uint16_t *p, int n) {
    uint16_t t[VLEN] = {0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vload_bf16(t);
}
static inline vfloat vload_f16_n(const uint16_t *p, int n) {
    uint16_t t[VLEN] = {0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vload_f16(t);
}

/* Each lane rounded to bf16 (nearest, ties to even) and kept as an f32: the bits of
 * t5pt_f32_to_bf16 (simd/bf16.h) with 16 zero bits appended, NaN made quiet. */
static inline vfloat vround_bf16(vfloat x) {
    const __m256i u = _mm256_castps_si256(x), hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_and_si256(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), hi);
    __m256i qnan = _mm256_or_si256(_mm256_and_si256(u, hi), _mm256_set1_epi32(0x00400000));
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(r, qnan, nan));
}

/* dst[c*ldd + r] = src[r*lds + c], r, c < 8: an 8 x 8 register transpose (pairs of rows
 * interleaved, then pairs of pairs, then the 128-bit halves exchanged). Copies only. */
static inline void vtranspose_tile(float *dst, size_t ldd, const float *src, size_t lds) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)i * lds);
    for (int i = 0; i < 4; i++) { /* per 128-bit lane l: row pair (2i, 2i+1), columns 4l..4l+3 */
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) { /* u[4g + c], lane l: column 4l + c of rows 4g .. 4g+3 */
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        _mm256_storeu_ps(dst + (size_t)c * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
        _mm256_storeu_ps(dst + (size_t)(4 + c) * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
}

#endif
