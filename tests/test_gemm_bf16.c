/* test_gemm_bf16.c — the bf16 GEMM engine (simd/gemm_bf16.h) on every bf16 kernel this
 * CPU runs, and the fp32 -> bf16 rounding it packs with.
 *
 * Rounding: fixed cases (ties to even, NaN, Inf, overflow, denormals, signed zero), an
 * independent nearest-value reference over random bit patterns, and the round trip of
 * every bf16 value.
 *
 * Products, against a float64 reference of the bf16-rounded operands. Each output
 * element is a sum of exact fp32 products (bf16 x bf16 fits in fp32) with at most
 * n = K + ceil(K / T5PT_BF16_KC) + 1 rounded additions, so the classic bound holds:
 *     |got - ref| <= gamma_n * (sum_p |a_ip b_pj| + |beta c_ij|),  gamma_n = n u / (1 - n u)
 * with u = 2^-24 for round-to-nearest (x86 kernels, emulations) and u = 2^-23 for the
 * round-to-odd of ARM's bfdot, plus one rounding of beta*c. (Rigorous, not a guess:
 * nothing looser is needed on any path.) The test also checks that the bound can tell:
 * most results differ from the fp32 product of the unrounded operands by more than it.
 *
 * Bit-identity: the x86 kernels and all emulations perform the same fp32 additions in the
 * same order (simd/bf16.h), so their results must equal, bit for bit, a model of that
 * order written here; the ARM bfdot kernel is held to the bound only.
 * T5PT_TEST_SMALL=1 (emulators) keeps only the small shapes.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "simd/bf16.h"
#include "simd/gemm_bf16.h"
#include "simd/kernels.h"
#include "t5pt.h"

static int small_mode(void) {
    const char *s = getenv("T5PT_TEST_SMALL");
    return s && s[0] && strcmp(s, "0") != 0;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ------------------------------------------------------------------ rounding */

START_TEST(test_round_cases) {
    static const struct {
        uint32_t in;
        uint16_t out;
        const char *what;
    } cases[] = {
        {0x3f800000u, 0x3f80, "1.0 exact"},
        {0x3f808000u, 0x3f80, "tie 1 + 2^-8 -> even (down)"},
        {0x3f818000u, 0x3f82, "tie -> even (up)"},
        {0x3f808001u, 0x3f81, "just above the tie -> up"},
        {0x3f807fffu, 0x3f80, "just below the tie -> down"},
        {0xbf808000u, 0xbf80, "negative tie -> even"},
        {0xbf818000u, 0xbf82, "negative tie -> even (away)"},
        {0x3fffffffu, 0x4000, "carry into the exponent"},
        {0x7f7fffffu, 0x7f80, "FLT_MAX rounds to +Inf"},
        {0xff7fffffu, 0xff80, "-FLT_MAX rounds to -Inf"},
        {0x7f7f7fffu, 0x7f7f, "largest value that stays finite"},
        {0x7f800000u, 0x7f80, "+Inf"},
        {0xff800000u, 0xff80, "-Inf"},
        {0x7fc00000u, 0x7fc0, "quiet NaN"},
        {0x7f800001u, 0x7fc0, "NaN with payload only in the low bits stays NaN"},
        {0x7fbfffffu, 0x7fff, "signalling NaN becomes quiet, keeps top payload"},
        {0xffc00001u, 0xffc0, "negative NaN keeps its sign"},
        {0x00000000u, 0x0000, "+0"},
        {0x80000000u, 0x8000, "-0"},
        {0x00000001u, 0x0000, "smallest denormal -> +0"},
        {0x80000001u, 0x8000, "smallest negative denormal -> -0"},
        {0x00008000u, 0x0000, "denormal tie -> even (0)"},
        {0x00018000u, 0x0002, "denormal tie -> even (2)"},
        {0x00010000u, 0x0001, "bf16 denormal is exact (not flushed)"},
        {0x007fffffu, 0x0080, "largest denormal rounds up to the smallest normal"},
        {0x807fffffu, 0x8080, "same, negative"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = t5pt_f32_to_bf16(from_bits(cases[i].in));
        ck_assert_msg(got == cases[i].out, "%s: 0x%08x -> 0x%04x, expected 0x%04x", cases[i].what, cases[i].in, got,
                      cases[i].out);
    }
}
END_TEST

/* Independent reference: the nearer of the two bf16 neighbours in double, the even one
 * on a tie. Above the largest bf16 the next value is Inf, counted as 2^128 (as if the
 * exponent went on), so overflow follows the same nearest/tie rule. */
static uint16_t ref_round(uint32_t u) {
    float f = from_bits(u);
    if (isinf(f)) return (uint16_t)(u >> 16);
    uint32_t sign = u & 0x80000000u, mag = u & 0x7fffffffu;
    uint32_t lo = mag & 0xffff0000u, hi = lo + 0x10000u;
    double x = from_bits(mag), vlo = from_bits(lo), vhi = hi == 0x7f800000u ? 0x1p128 : (double)from_bits(hi);
    uint32_t pick;
    if (x - vlo < vhi - x) pick = lo;
    else if (vhi - x < x - vlo) pick = hi;
    else pick = ((lo >> 16) & 1u) ? hi : lo;
    return (uint16_t)((sign | pick) >> 16);
}

START_TEST(test_round_random) {
    t5pt_rng r;
    t5pt_rng_seed(&r, 7);
    int n = small_mode() ? 200000 : 2000000;
    for (int i = 0; i < n; i++) {
        uint32_t u = (uint32_t)(t5pt_rng_uniform(&r) * 4294967296.0);
        if (i % 4 == 1) u = (u & 0xffff0000u) | 0x8000u; /* every fourth a tie */
        float f = from_bits(u);
        uint16_t got = t5pt_f32_to_bf16(f);
        if (isnan(f)) {
            ck_assert_msg(isnan(t5pt_bf16_to_f32(got)) && (got & 0x8000) == ((u >> 16) & 0x8000),
                          "NaN 0x%08x -> 0x%04x is not a NaN of the same sign", u, got);
            continue;
        }
        ck_assert_msg(got == ref_round(u), "0x%08x -> 0x%04x, expected 0x%04x", u, got, ref_round(u));
    }
    /* the row conversion is the same function */
    float src[37];
    uint16_t dst[37];
    for (int i = 0; i < 37; i++) src[i] = (float)(t5pt_rng_uniform(&r) * 1e3 - 500.0);
    t5pt_f32_to_bf16_row(dst, src, 37);
    for (int i = 0; i < 37; i++) ck_assert_uint_eq(dst[i], t5pt_f32_to_bf16(src[i]));
}
END_TEST

START_TEST(test_round_trip_every_bf16) {
    for (uint32_t h = 0; h < 65536u; h++) {
        float f = t5pt_bf16_to_f32((uint16_t)h);
        ck_assert_uint_eq(to_bits(f), h << 16); /* widening is exact */
        if (isnan(f)) continue;
        ck_assert_msg(t5pt_f32_to_bf16(f) == h, "bf16 0x%04x does not round-trip", h);
    }
}
END_TEST

/* ------------------------------------------------------------------ products */

static float *rand_buf(t5pt_rng *r, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2.0 * t5pt_rng_uniform(r) - 1.0);
    return p;
}

/* The kernels to test: every one this CPU and build runs. */
static int kernels(const t5pt_bf16_kernel *out[8]) {
    const char *p = t5pt_bf16_kernels_available();
    int n = 0;
    while (*p && n < 8) {
        while (*p == ' ') p++;
        int len = 0;
        while (p[len] && p[len] != ' ') len++;
        if (len == 0) break;
        char name[32];
        snprintf(name, sizeof name, "%.*s", len, p);
        out[n] = t5pt_bf16_kernel_named(name);
        ck_assert_msg(out[n] != NULL, "listed bf16 kernel %s cannot be looked up", name);
        n++;
        p += len;
    }
    ck_assert_msg(n >= 1, "no bf16 kernel available");
    return n;
}

/* Element (i, p) of op(X) as the engine sees it: rounded to bf16 (after scaling). */
static float op_elem(const void *X, int is16, int trans, int ld, int i, int p, float scale) {
    size_t idx = trans ? (size_t)p * ld + i : (size_t)i * ld + p;
    float v = is16 ? t5pt_bf16_to_f32(((const uint16_t *)X)[idx]) : ((const float *)X)[idx];
    return t5pt_bf16_to_f32(t5pt_f32_to_bf16(scale * v));
}

/* Float64 reference of the rounded operands, the magnitude sum for the bound, and the
 * fp32-operand product (no rounding) to show the rounding matters. */
static void reference(int tA, int tB, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
                      int b16, int ldb, float beta, const float *C0, int ldc, double *ref, double *mag,
                      double *unrounded) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0, m = 0.0, s32 = 0.0;
            for (int p = 0; p < K; p++) {
                double a = op_elem(A, a16, tA, lda, i, p, alpha);
                double b = op_elem(B, b16, !tB, ldb, j, p, 1.0f); /* op(B)[p][j] seen as row j */
                s += a * b;
                m += fabs(a * b);
                size_t ia = tA ? (size_t)p * lda + i : (size_t)i * lda + p;
                size_t ib = tB ? (size_t)j * ldb + p : (size_t)p * ldb + j;
                double a32 = a16 ? t5pt_bf16_to_f32(((const uint16_t *)A)[ia]) * (double)alpha
                                 : (double)((const float *)A)[ia] * alpha;
                double b32 = b16 ? t5pt_bf16_to_f32(((const uint16_t *)B)[ib]) : ((const float *)B)[ib];
                s32 += a32 * b32;
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            ref[(size_t)i * N + j] = s + c;
            mag[(size_t)i * N + j] = m + fabs(c);
            unrounded[(size_t)i * N + j] = s32 + c;
        }
}

/* gamma_n for a kernel: u = 2^-24 (round to nearest even) or 2^-23 (round to odd). */
static double gamma_n(const t5pt_bf16_kernel *k, int K) {
    double u = strcmp(k->name, "armbf16") == 0 ? 0x1p-23 : 0x1p-24;
    double n = K + (K + T5PT_BF16_KC - 1) / T5PT_BF16_KC + 2; /* + beta*c rounding and its addition */
    return n * u / (1.0 - n * u);
}

/* Model of the documented arithmetic (simd/bf16.h): per block of T5PT_BF16_KC, from 0,
 * per pair the odd product then the even one, each a rounded fp32 addition; then the
 * block sum is added to C (or is C, first block with beta 0). volatile keeps every
 * addition a separate rounded fp32 operation. */
static void model(int tA, int tB, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
                  int b16, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float *c = C + (size_t)i * ldc + j;
            volatile float out = beta == 0.0f ? 0.0f : beta == 1.0f ? *c : beta * *c;
            for (int pc = 0; pc < K; pc += T5PT_BF16_KC) {
                int kc = K - pc < T5PT_BF16_KC ? K - pc : T5PT_BF16_KC;
                volatile float s = 0.0f;
                for (int p = pc; p < pc + kc; p += 2) {
                    float ao = p + 1 < K ? op_elem(A, a16, tA, lda, i, p + 1, alpha) : 0.0f;
                    float bo = p + 1 < K ? op_elem(B, b16, !tB, ldb, j, p + 1, 1.0f) : 0.0f;
                    float ae = op_elem(A, a16, tA, lda, i, p, alpha), be = op_elem(B, b16, !tB, ldb, j, p, 1.0f);
                    volatile float po = ao * bo, pe = ae * be; /* exact */
                    s = s + po;
                    s = s + pe;
                }
                out = (pc == 0 && beta == 0.0f) ? s : out + s;
            }
            *c = out;
        }
}

typedef struct {
    int M, N, K;
} shape;

/* One product on one kernel, checked against the bound (and the model, bit for bit, for
 * every kernel but bfdot). Returns the largest error in units of the bound. */
static double check_one(const t5pt_bf16_kernel *k, int tA, int tB, int a16, int b16, shape s, float alpha, float beta,
                        int threads, t5pt_rng *r, int *rounding_seen, int *model_diffs) {
    const int M = s.M, N = s.N, K = s.K;
    int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 1, ldc = N + 2;
    size_t na = (size_t)(tA ? K : M) * lda, nb = (size_t)(tB ? N : K) * ldb, nc = (size_t)M * ldc;
    float *Af = rand_buf(r, na), *Bf = rand_buf(r, nb), *C0 = rand_buf(r, nc);
    uint16_t *A16 = malloc((na ? na : 1) * 2), *B16 = malloc((nb ? nb : 1) * 2);
    t5pt_f32_to_bf16_row(A16, Af, na);
    t5pt_f32_to_bf16_row(B16, Bf, nb);
    const void *A = a16 ? (const void *)A16 : Af, *B = b16 ? (const void *)B16 : Bf;
    float *C = malloc(nc * sizeof *C), *Cm = malloc(nc * sizeof *Cm);
    memcpy(C, C0, nc * sizeof *C);
    memcpy(Cm, C0, nc * sizeof *C);
    double *ref = malloc(((size_t)M * N + 1) * sizeof *ref), *mag = malloc(((size_t)M * N + 1) * sizeof *mag);
    double *unr = malloc(((size_t)M * N + 1) * sizeof *unr);

    t5pt_bf16_gemm_ex(tA, tB, M, N, K, alpha, A, a16 ? T5PT_BF16_SRC_BF16 : T5PT_BF16_SRC_F32, lda, B,
                      b16 ? T5PT_BF16_SRC_BF16 : T5PT_BF16_SRC_F32, ldb, beta, C, ldc, threads, k);
    reference(tA, tB, M, N, K, alpha, A, a16, lda, B, b16, ldb, beta, C0, ldc, ref, mag, unr);
    /* bfdot adds a pair's products first (round to odd): within the bound, not the order's bits.
     * A real AVX512_BF16 CPU is held to the bound too: the documented order (the SDM's
     * pseudocode of VDPBF16PS: odd product first, then even, each an RNE FMA) is what the
     * emulations and SIMDe follow bit for bit, but no AVX512_BF16 machine was at hand to
     * confirm that hardware rounds the same way; its differences from the model are counted
     * and printed (test_gemm_every_kernel) so the first such run shows them. */
#ifdef T5PT_AVX512_SIMDE
    int exact = strcmp(k->name, "armbf16") != 0;
#else
    int exact = strcmp(k->name, "armbf16") != 0 && strcmp(k->name, "avx512bf16") != 0;
#endif
    model(tA, tB, M, N, K, alpha, A, a16, lda, B, b16, ldb, beta, Cm, ldc);
    double g = gamma_n(k, K), worst = 0.0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double got = C[(size_t)i * ldc + j], want = ref[(size_t)i * N + j];
            double tol = g * mag[(size_t)i * N + j] + 1e-30;
            double err = fabs(got - want);
            if (err / tol > worst) worst = err / tol;
            ck_assert_msg(err <= tol,
                          "%s tA=%d tB=%d a16=%d b16=%d %dx%dx%d alpha=%g beta=%g: C[%d,%d]=%.9g ref %.9g err %.3g > %.3g",
                          k->name, tA, tB, a16, b16, M, N, K, alpha, beta, i, j, got, want, err, tol);
            if (exact)
                ck_assert_msg(to_bits((float)got) == to_bits(Cm[(size_t)i * ldc + j]),
                              "%s tA=%d tB=%d %dx%dx%d beta=%g: C[%d,%d]=%a differs from the documented order's %a",
                              k->name, tA, tB, M, N, K, beta, i, j, got, Cm[(size_t)i * ldc + j]);
            if (fabs(got - unr[(size_t)i * N + j]) > tol) (*rounding_seen)++;
            if (to_bits((float)got) != to_bits(Cm[(size_t)i * ldc + j])) (*model_diffs)++;
        }
        /* padding between rows untouched */
        for (int j = N; j < ldc && i < M; j++)
            ck_assert_msg(to_bits(C[(size_t)i * ldc + j]) == to_bits(C0[(size_t)i * ldc + j]),
                          "%s wrote past row %d", k->name, i);
    }
    free(Af), free(Bf), free(C0), free(A16), free(B16), free(C), free(Cm), free(ref), free(mag), free(unr);
    return worst;
}

START_TEST(test_gemm_every_kernel) {
    const t5pt_bf16_kernel *ks[8];
    int nk = kernels(ks);
    t5pt_rng r;
    t5pt_rng_seed(&r, 11);
    /* edges of every tile (1, 13, 33 rows/columns), odd K, K past one and two KC blocks */
    shape big[] = {{1, 1, 1}, {3, 5, 7}, {13, 33, 64}, {30, 17, 513}, {29, 70, 1100}, {64, 96, 256}};
    shape small[] = {{1, 1, 1}, {3, 5, 7}, {13, 33, 64}, {17, 9, 600}};
    shape *sh = small_mode() ? small : big;
    int nsh = small_mode() ? 4 : 6;
    const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int kk = 0; kk < nk; kk++) {
        int seen = 0, total = 0, diffs = 0;
        double worst = 0.0;
        for (int si = 0; si < nsh; si++)
            for (int tA = 0; tA < 2; tA++)
                for (int tB = 0; tB < 2; tB++)
                    for (int bi = 0; bi < 3; bi++) {
                        int a16 = (si + bi) % 2 == 1 && !tA, b16 = (si + tB + bi) % 2 == 0;
                        float alpha = bi == 2 ? 0.75f : 1.0f;
                        double w = check_one(ks[kk], tA, tB, a16, b16, sh[si], alpha, betas[bi], 1, &r, &seen, &diffs);
                        if (w > worst) worst = w;
                        total += sh[si].M * sh[si].N;
                    }
        fprintf(stderr,
                "bf16 kernel %-12s worst error %.3f of the bound; %d of %d elements far from the unrounded product; "
                "%d differ from the documented order's bits\n",
                ks[kk]->name, worst, seen, total, diffs);
        ck_assert_msg(seen > total / 2, "%s: results look like unrounded fp32 products", ks[kk]->name);
    }
}
END_TEST

/* Every tile is one thread's: 1 and 2 threads give the same bits. */
START_TEST(test_thread_bit_identity) {
    const t5pt_bf16_kernel *ks[8];
    int nk = kernels(ks);
    t5pt_rng r;
    t5pt_rng_seed(&r, 3);
    int M = small_mode() ? 70 : 300, N = small_mode() ? 60 : 200, K = small_mode() ? 600 : 1100;
    float *A = rand_buf(&r, (size_t)M * K), *B = rand_buf(&r, (size_t)N * K);
    float *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2);
    for (int kk = 0; kk < nk; kk++) {
        t5pt_bf16_gemm_ex(0, 1, M, N, K, 1.0f, A, T5PT_BF16_SRC_F32, K, B, T5PT_BF16_SRC_F32, K, 0.0f, C1, N, 1, ks[kk]);
        t5pt_bf16_gemm_ex(0, 1, M, N, K, 1.0f, A, T5PT_BF16_SRC_F32, K, B, T5PT_BF16_SRC_F32, K, 0.0f, C2, N, 2, ks[kk]);
        ck_assert_msg(memcmp(C1, C2, (size_t)M * N * sizeof *C1) == 0, "%s: 1 and 2 threads differ", ks[kk]->name);
    }
    free(A), free(B), free(C1), free(C2);
}
END_TEST

/* The linear entry points are the general product with W's layout, and a weight stored
 * in bf16 gives the bits of the same weight in fp32 rounded while packing. */
START_TEST(test_linear_entry_points) {
    t5pt_rng r;
    t5pt_rng_seed(&r, 5);
    const int M = 37, N = 45, K = 70;
    float *x = rand_buf(&r, (size_t)M * K), *W = rand_buf(&r, (size_t)N * K), *dy = rand_buf(&r, (size_t)M * N);
    uint16_t *W16 = malloc((size_t)N * K * 2);
    t5pt_f32_to_bf16_row(W16, W, (size_t)N * K);
    float *y1 = malloc((size_t)M * N * 4), *y2 = malloc((size_t)M * N * 4), *y3 = malloc((size_t)M * N * 4);
    float *d1 = malloc((size_t)M * K * 4), *d2 = malloc((size_t)M * K * 4), *d3 = malloc((size_t)M * K * 4);
    t5pt_bf16_linear_forward(y1, N, x, K, M, W, N, K, 0.0f);
    t5pt_bf16_linear_forward_w16(y2, N, x, K, M, W16, N, K, 0.0f);
    t5pt_bf16_sgemm(0, 1, M, N, K, 1.0f, x, K, W, K, 0.0f, y3, N);
    ck_assert(memcmp(y1, y2, (size_t)M * N * 4) == 0);
    ck_assert(memcmp(y1, y3, (size_t)M * N * 4) == 0);
    t5pt_bf16_linear_backward(d1, K, dy, N, M, W, N, K, 0.0f);
    t5pt_bf16_linear_backward_w16(d2, K, dy, N, M, W16, N, K, 0.0f);
    t5pt_bf16_sgemm_parallel(0, 0, M, K, N, 1.0f, dy, N, W, K, 0.0f, d3, K);
    ck_assert(memcmp(d1, d2, (size_t)M * K * 4) == 0);
    ck_assert(memcmp(d1, d3, (size_t)M * K * 4) == 0);
    /* beta = 1 accumulates: y1 + x W^T == 2 * (x W^T) exactly (doubling is exact) */
    t5pt_bf16_linear_forward(y1, N, x, K, M, W, N, K, 1.0f);
    for (int i = 0; i < M * N; i++) ck_assert_float_eq(y1[i], 2.0f * y3[i]);
    free(x), free(W), free(dy), free(W16), free(y1), free(y2), free(y3), free(d1), free(d2), free(d3);
}
END_TEST

START_TEST(test_degenerate) {
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, B[1] = {0};
    t5pt_bf16_sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 1.0f, C, 3); /* K = 0, beta 1: unchanged */
    for (int i = 0; i < 6; i++) ck_assert_float_eq(C[i], (float)(i + 1));
    t5pt_bf16_sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3); /* beta 0.5: scaled */
    for (int i = 0; i < 6; i++) ck_assert_float_eq(C[i], 0.5f * (float)(i + 1));
    t5pt_bf16_sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.0f, C, 3); /* beta 0: zero */
    for (int i = 0; i < 6; i++) ck_assert_float_eq(C[i], 0.0f);
    C[0] = 9;
    t5pt_bf16_sgemm(0, 0, 0, 3, 4, 1.0f, A, 4, B, 3, 0.0f, C, 3); /* M = 0: nothing written */
    ck_assert_float_eq(C[0], 9.0f);
}
END_TEST

/* The selected kernel follows the selected SIMD path; the native one only when the CPU
 * multiplies bf16 pairs. */
START_TEST(test_selection) {
    const char *cur = t5pt_simd_path();
    ck_assert_int_eq(t5pt_simd_select("scalar"), T5PT_OK);
    ck_assert_str_eq(t5pt_bf16_kern()->name, "scalar-emul");
    if (t5pt_simd_select("avx2") == T5PT_OK) ck_assert_str_eq(t5pt_bf16_kern()->name, "avx2-emul");
    if (t5pt_simd_select("avx512") == T5PT_OK) {
        const char *want = t5pt_bf16_kernel_named("avx512bf16") ? "avx512bf16" : "avx2-emul";
        ck_assert_str_eq(t5pt_bf16_kern()->name, want);
    }
    if (t5pt_simd_select("neon") == T5PT_OK) {
        const char *want = t5pt_bf16_kernel_named("armbf16") ? "armbf16" : "neon-emul";
        ck_assert_str_eq(t5pt_bf16_kern()->name, want);
    }
    ck_assert_int_eq(t5pt_simd_select(cur), T5PT_OK);
    ck_assert_ptr_null(t5pt_bf16_kernel_named("no-such-kernel"));
    /* the native kernels say so */
    const t5pt_bf16_kernel *k = t5pt_bf16_kernel_named("avx512bf16");
    if (k) ck_assert_int_eq(k->native, 1);
    k = t5pt_bf16_kernel_named("armbf16");
    if (k) ck_assert_int_eq(k->native, 1);
    ck_assert_int_eq(t5pt_bf16_kernel_named("scalar-emul")->native, 0);
    fprintf(stderr, "bf16 kernels available: %s (selected: %s)\n", t5pt_bf16_kernels_available(),
            t5pt_bf16_kern()->name);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm_bf16");
    TCase *tc = tcase_create("gemm_bf16");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_round_cases);
    tcase_add_test(tc, test_round_random);
    tcase_add_test(tc, test_round_trip_every_bf16);
    tcase_add_test(tc, test_gemm_every_kernel);
    tcase_add_test(tc, test_thread_bit_identity);
    tcase_add_test(tc, test_linear_entry_points);
    tcase_add_test(tc, test_degenerate);
    tcase_add_test(tc, test_selection);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
