/* test_kernels.c — every kernel of every SIMD path this CPU runs against the scalar
 * reference (simd/scalar.c) on random inputs, at awkward sizes.
 *
 * Tolerances (|vector - scalar| <= bound, per element):
 *   exact (bitwise):         relu fwd/bwd, add, acc, scale, bf16/f16 -> f32, and
 *                            axpy up to one FMA rounding (1 ulp of the result)
 *   transcendental (exp):    xent_backward 2e-6 * |scalar| + 1e-9 * scale;
 *                            gelu (and gated) 2e-6 relative, plus 2e-7 |2u| for x < 0 where
 *                            exp(-2u) amplifies the rounding of u (gelu_tol below); the
 *                            gradients twice that, relative to the size of their two terms
 *   reductions (reordered sums: dot, rmsnorm, softmax, logsumexp):
 *                            2e-6 * sum of |terms| for n <= 1000 (the scalar reference sums
 *                            sequentially, its own error grows ~sqrt(n) ulp), 1e-5 above.
 *   gemm micro-kernel, attention products (attn_gemm):
 *                            1e-6 * sum_p |a_p b_p| against a double reference;
 *                            the A-panel packers exact, the declared blocking consistent.
 * Sizes: 1, 3, 17, 63, 65, 511 and non-multiples of every vector width / tile
 * (7, 15, 31, 33, 100, 1000, 4099).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "simd/kernels.h"
#include "simd/bf16.h"
#include "t5pt.h"

static const int SIZES[] = {1, 3, 7, 15, 17, 31, 33, 63, 65, 100, 511, 1000, 4099};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))
#define MAXN 4099

static t5pt_rng rng;

/* Relative bound for results of a reordered float sum of n terms. */
static double sum_tol(int n) { return n <= 1000 ? 2e-6 : 1e-5; }

static float urand(float lo, float hi) { return lo + (hi - lo) * (float)t5pt_rng_uniform(&rng); }

static void fill(float *p, int n, float lo, float hi) {
    for (int i = 0; i < n; i++) p[i] = urand(lo, hi);
}

/* Tables to test: every path of this CPU except scalar itself. */
static int vector_tables(const t5pt_kernels *out[8]) {
    const char *all = t5pt_simd_paths();
    const char *saved = t5pt_simd_path();
    char keep[16];
    snprintf(keep, sizeof keep, "%s", saved);
    int n = 0;
    char name[16];
    const char *p = all;
    while (*p) {
        while (*p == ' ') p++;
        int len = 0;
        while (p[len] && p[len] != ' ') len++;
        if (!len) break;
        snprintf(name, sizeof name, "%.*s", len, p);
        p += len;
        if (strcmp(name, "scalar") == 0) continue;
        ck_assert_int_eq(t5pt_simd_select(name), T5PT_OK);
        out[n++] = t5pt_kern();
    }
    t5pt_simd_select(keep);
    return n;
}

#define EXPECT_NEAR(what, k, n, i, got, want, tol)                                                           \
    do {                                                                                                     \
        double g_ = (got), w_ = (want), t_ = (tol);                                                          \
        if (!(fabs(g_ - w_) <= t_) && !(isnan(g_) && isnan(w_)))                                             \
            ck_abort_msg("%s [%s] n=%d i=%d: got %.9g want %.9g (|d|=%.3g > tol %.3g)", what, (k)->name, n, i, \
                         g_, w_, fabs(g_ - w_), t_);                                                         \
    } while (0)

static void expect_bits(const char *what, const t5pt_kernels *k, int n, const float *got, const float *want) {
    for (int i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0 && !(isnan(got[i]) && isnan(want[i])))
            ck_abort_msg("%s [%s] n=%d i=%d: got %.9g want %.9g (must be exact)", what, k->name, n, i, got[i],
                         want[i]);
}

/* Buffers with a guard word after n elements: kernels must not write past n. */
static float X[MAXN + 1], Y[MAXN + 1], W[MAXN + 1], D[MAXN + 1], R1[MAXN + 1], R2[MAXN + 1], R3[MAXN + 1],
    R4[MAXN + 1];
static const float GUARD = 12345.0f;

static void guard(float *p, int n) { p[n] = GUARD; }
static void check_guard(const char *what, const t5pt_kernels *k, const float *p, int n) {
    if (p[n] != GUARD) ck_abort_msg("%s [%s] n=%d: wrote past the end", what, k->name, n);
}

START_TEST(test_elementwise_exact) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            fill(X, n, -3, 3), fill(Y, n, -3, 3), fill(D, n, -2, 2);
            X[0] = 0.0f; /* relu at exactly 0 */
            guard(R1, n), guard(R2, n);
            s->relu_forward(R1, X, n), k->relu_forward(R2, X, n);
            expect_bits("relu_forward", k, n, R2, R1), check_guard("relu_forward", k, R2, n);
            s->relu_backward(R1, D, X, n), k->relu_backward(R2, D, X, n);
            expect_bits("relu_backward", k, n, R2, R1), check_guard("relu_backward", k, R2, n);
            s->add(R1, X, Y, n), k->add(R2, X, Y, n);
            expect_bits("add", k, n, R2, R1), check_guard("add", k, R2, n);
            memcpy(R1, Y, n * sizeof(float)), memcpy(R2, Y, n * sizeof(float));
            s->acc(R1, X, n), k->acc(R2, X, n);
            expect_bits("acc", k, n, R2, R1), check_guard("acc", k, R2, n);
            s->scale(R1, X, 0.37f, n), k->scale(R2, X, 0.37f, n);
            expect_bits("scale", k, n, R2, R1), check_guard("scale", k, R2, n);
            memcpy(R1, Y, n * sizeof(float)), memcpy(R2, Y, n * sizeof(float));
            s->axpy(R1, -0.61f, X, n), k->axpy(R2, -0.61f, X, n);
            for (int i = 0; i < n; i++) /* fused vs separate multiply-add: 1 rounding of the product */
                EXPECT_NEAR("axpy", k, n, i, R2[i], R1[i], 1.2e-7 * (fabs(R1[i]) + fabs(0.61 * X[i])));
            check_guard("axpy", k, R2, n);
        }
    }
}
END_TEST

START_TEST(test_reductions) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            fill(X, n, -2, 2), fill(Y, n, -2, 2), fill(W, n, 0.5f, 1.5f), fill(D, n, -1, 1);
            double mag = 0;
            for (int i = 0; i < n; i++) mag += fabs((double)X[i] * Y[i]);
            EXPECT_NEAR("dot", k, n, -1, k->dot(X, Y, n), s->dot(X, Y, n), sum_tol(n) * mag + 1e-30);

            /* RMSNorm forward: rstd from sum x^2 (all positive terms) */
            guard(R1, n), guard(R2, n);
            float r1 = s->rmsnorm_forward(R1, X, W, n, 1e-6f), r2 = k->rmsnorm_forward(R2, X, W, n, 1e-6f);
            EXPECT_NEAR("t5pt_rmsnorm_forward rstd", k, n, -1, r2, r1, sum_tol(n) * r1);
            for (int i = 0; i < n; i++)
                EXPECT_NEAR("t5pt_rmsnorm_forward", k, n, i, R2[i], R1[i], sum_tol(n) * fabs(R1[i]) + 1e-30);
            check_guard("t5pt_rmsnorm_forward", k, R2, n);
            /* backward accumulates: start from the same random dx */
            fill(R1, n, -1, 1), memcpy(R2, R1, n * sizeof(float));
            s->rmsnorm_backward(R1, D, X, W, r1, n), k->rmsnorm_backward(R2, D, X, W, r1, n);
            double dmag = 0;
            for (int i = 0; i < n; i++) dmag += fabs((double)X[i] * W[i] * D[i]);
            for (int i = 0; i < n; i++) {
                double term = fabs(X[i]) * (double)r1 * r1 * r1 * dmag / n + fabs(W[i] * D[i] * r1) + fabs(R1[i]);
                EXPECT_NEAR("t5pt_rmsnorm_backward", k, n, i, R2[i], R1[i], sum_tol(n) * term);
            }
            check_guard("t5pt_rmsnorm_backward", k, R2, n);
        }
    }
}
END_TEST

START_TEST(test_softmax) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            for (int variant = 0; variant < 4; variant++) {
                /* variant 0: plain; 1: bias; 2: bias + mask with masked entries; 3: wide range */
                float lo = variant == 3 ? -60.0f : -8.0f, hi = variant == 3 ? 60.0f : 8.0f;
                fill(X, n, lo, hi), fill(Y, n, -3, 3);
                for (int i = 0; i < n; i++) W[i] = (i % 5 == 3 && i != 0) ? -1e9f : 0.0f;
                const float *bias = variant >= 1 ? Y : NULL, *mask = variant == 2 ? W : NULL;
                memcpy(R1, X, n * sizeof(float)), memcpy(R2, X, n * sizeof(float));
                guard(R1, n), guard(R2, n);
                s->softmax_forward(R1, bias, mask, n), k->softmax_forward(R2, bias, mask, n);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("softmax_forward", k, n, i, R2[i], R1[i], sum_tol(n) * fabs(R1[i]) + 1e-9 / n);
                check_guard("softmax_forward", k, R2, n);
                /* backward: ds = p (dp - p.dp) */
                fill(D, n, -1, 1);
                guard(R3, n), guard(R4, n);
                s->softmax_backward(R3, R1, D, n), k->softmax_backward(R4, R1, D, n);
                double dot = 0;
                for (int i = 0; i < n; i++) dot += fabs((double)R1[i] * D[i]);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("softmax_backward", k, n, i, R4[i], R3[i],
                                sum_tol(n) * fabs(R1[i]) * (fabs(D[i]) + dot) + 1e-30);
                check_guard("softmax_backward", k, R4, n);
            }
        }
        /* a fully -inf row gives zeros, not NaN */
        for (int i = 0; i < 20; i++) X[i] = -INFINITY;
        k->softmax_forward(X, NULL, NULL, 20);
        for (int i = 0; i < 20; i++) ck_assert_msg(X[i] == 0.0f, "[%s] softmax of -inf row", k->name);
    }
}
END_TEST

/* Relative bound for gelu-type results at x: exp(-2u) amplifies the rounding of u
 * (computed in a different operation order) by |2u| where the sigmoid is not saturated
 * at 1, i.e. for x < 0: up to 2e-5 in the far negative tail, where gelu is ~1e-30. */
static double gelu_tol(float x) {
    double u = 0.7978845608 * (x + 0.044715 * (double)x * x * x);
    double a = fabs(2 * u);
    return 2e-6 + (x < 0 ? 2e-7 * (a < 88 ? a : 88) : 0.0);
}

START_TEST(test_gelu) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            for (int range = 0; range < 2; range++) {
                float lim = range ? 30.0f : 4.0f; /* 30: the saturated tails */
                fill(X, n, -lim, lim), fill(Y, n, -2, 2), fill(D, n, -1, 1);
                guard(R1, n), guard(R2, n);
                s->gelu_forward(R1, X, n), k->gelu_forward(R2, X, n);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("gelu_forward", k, n, i, R2[i], R1[i], gelu_tol(X[i]) * fabs(R1[i]) + 1e-37);
                check_guard("gelu_forward", k, R2, n);
                s->gelu_backward(R1, D, X, n), k->gelu_backward(R2, D, X, n);
                /* gelu' = s (1 + 2 x u' e s): the two terms can cancel near x = -0.75,
                 * so the bound is relative to the size of the terms, not of the sum */
                for (int i = 0; i < n; i++) {
                    double x = X[i], u = 0.7978845608 * (x + 0.044715 * x * x * x);
                    double sg = 1.0 / (1.0 + exp(-2 * u)), du = 0.7978845608 * (1 + 3 * 0.044715 * x * x);
                    double terms = sg + fabs(2 * x * du * sg * (1 - sg));
                    EXPECT_NEAR("gelu_backward", k, n, i, R2[i], R1[i], 2 * gelu_tol(X[i]) * fabs(D[i]) * terms + 1e-37);
                }
                check_guard("gelu_backward", k, R2, n);
                s->gated_gelu_forward(R1, X, Y, n), k->gated_gelu_forward(R2, X, Y, n);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("gated_gelu_forward", k, n, i, R2[i], R1[i], gelu_tol(X[i]) * fabs(R1[i]) + 1e-37);
                check_guard("gated_gelu_forward", k, R2, n);
                guard(R3, n), guard(R4, n);
                s->gated_gelu_backward(R1, R3, D, X, Y, n), k->gated_gelu_backward(R2, R4, D, X, Y, n);
                for (int i = 0; i < n; i++) {
                    double x = X[i], u = 0.7978845608 * (x + 0.044715 * x * x * x);
                    double sg = 1.0 / (1.0 + exp(-2 * u)), du = 0.7978845608 * (1 + 3 * 0.044715 * x * x);
                    double terms = sg + fabs(2 * x * du * sg * (1 - sg));
                    EXPECT_NEAR("gated_gelu_backward da", k, n, i, R2[i], R1[i],
                                2 * gelu_tol(X[i]) * fabs(D[i] * Y[i]) * terms + 1e-37);
                    EXPECT_NEAR("gated_gelu_backward db", k, n, i, R4[i], R3[i], gelu_tol(X[i]) * fabs(R3[i]) + 1e-37);
                }
                check_guard("gated_gelu_backward da", k, R2, n);
                check_guard("gated_gelu_backward db", k, R4, n);
            }
        }
    }
}
END_TEST

START_TEST(test_cross_entropy) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            for (int range = 0; range < 2; range++) {
                float lim = range ? 80.0f : 10.0f;
                fill(X, n, -lim, lim);
                float l1 = s->logsumexp(X, n), l2 = k->logsumexp(X, n);
                /* lse = max + log(sum): the sum is reordered (relative 2e-6) */
                EXPECT_NEAR("logsumexp", k, n, -1, l2, l1, sum_tol(n) * (fabs(l1) + 1.0));
                int target = (int)(t5pt_rng_next(&rng) % (uint64_t)n);
                guard(R1, n), guard(R2, n);
                s->xent_backward(R1, X, l1, target, 0.125f, n), k->xent_backward(R2, X, l1, target, 0.125f, n);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("xent_backward", k, n, i, R2[i], R1[i], 2e-6 * fabs(R1[i]) + 1e-9 * 0.125);
                check_guard("xent_backward", k, R2, n);
                /* target out of range (ignored label): no subtraction */
                s->xent_backward(R1, X, l1, -100, 1.0f, n), k->xent_backward(R2, X, l1, -100, 1.0f, n);
                for (int i = 0; i < n; i++)
                    EXPECT_NEAR("xent_backward (no target)", k, n, i, R2[i], R1[i], 2e-6 * fabs(R1[i]) + 1e-30);
            }
        }
    }
}
END_TEST

/* All 65536 half values, and bf16 on random bit patterns: exact. */
START_TEST(test_conversions) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    const t5pt_kernels *s = t5pt_kernels_scalar();
    static uint16_t h[65536 + 7];
    static float f1[65536 + 8], f2[65536 + 8];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            int n = SIZES[si];
            size_t off = (size_t)(t5pt_rng_next(&rng) % (65536 - MAXN));
            guard(f2, n);
            s->f16_to_f32(f1, h + off, (size_t)n), k->f16_to_f32(f2, h + off, (size_t)n);
            expect_bits("f16_to_f32", k, n, f2, f1), check_guard("f16_to_f32", k, f2, n);
            s->bf16_to_f32(f1, h + off, (size_t)n), k->bf16_to_f32(f2, h + off, (size_t)n);
            expect_bits("bf16_to_f32", k, n, f2, f1), check_guard("bf16_to_f32", k, f2, n);
        }
        s->f16_to_f32(f1, h, 65536), k->f16_to_f32(f2, h, 65536);
        expect_bits("f16_to_f32 (all values)", k, 65536, f2, f1);
        s->bf16_to_f32(f1, h, 65536), k->bf16_to_f32(f2, h, 65536);
        expect_bits("bf16_to_f32 (all values)", k, 65536, f2, f1);
    }
    /* spot values of the scalar reference itself */
    uint16_t sp[6] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x8000};
    s->f16_to_f32(f1, sp, 6);
    ck_assert(f1[0] == 1.0f && f1[1] == -2.0f && f1[2] == 0x1p-24f && isinf(f1[3]));
    ck_assert(fabsf(f1[4] - 0.333251953125f) == 0.0f && f1[5] == 0.0f && signbit(f1[5]));
    uint16_t bb[2] = {0x3f80, 0xc040};
    s->bf16_to_f32(f1, bb, 2);
    ck_assert(f1[0] == 1.0f && f1[1] == -3.0f);
}
END_TEST

/* bf16_round on every path against t5pt_f32_to_bf16 (simd/bf16.h), bit for bit NaN payloads
 * included: ties both ways, values next to ties, signalling and quiet NaNs, infinities,
 * overflow to infinity, denormals, zeros, and random bit patterns of every exponent; in
 * place and not, at every length (no write past n). */
static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

START_TEST(test_bf16_round) {
    const t5pt_kernels *ks[9];
    int nk = vector_tables(ks);
    ks[nk++] = t5pt_kernels_scalar();
    static const uint32_t special[] = {
        0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f807fffu, 0x3f808001u, 0x3f817fffu, 0x7f800001u, 0xff800001u,
        0x7fc00000u, 0x7fa5a5a5u, 0xffffffffu, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u,
        0x00000001u, 0x80008000u, 0x00018000u, 0x007fffffu, 0x00000000u, 0x80000000u, 0x3f800000u, 0x4049fdb0u};
    const int ns = (int)(sizeof special / sizeof special[0]);
    static float src[MAXN + 1], want[MAXN + 1];
    for (int i = 0; i < MAXN; i++) {
        uint32_t u = i < ns ? special[i] : (uint32_t)t5pt_rng_next(&rng);
        memcpy(&src[i], &u, sizeof u);
        want[i] = t5pt_bf16_to_f32(t5pt_f32_to_bf16(src[i]));
    }
    /* the reference itself: ties to even, NaN quiet with its payload's top bits, overflow */
    ck_assert_uint_eq(f32_to_bits(want[0]), 0x3f800000u);
    ck_assert_uint_eq(f32_to_bits(want[1]), 0x3f820000u);
    ck_assert_uint_eq(f32_to_bits(want[6]), 0x7fc00000u);
    ck_assert_uint_eq(f32_to_bits(want[9]), 0x7fe50000u);
    ck_assert_uint_eq(f32_to_bits(want[13]), 0x7f800000u);
    ck_assert_uint_eq(f32_to_bits(want[16]), 0x00000000u);
    ck_assert_uint_eq(f32_to_bits(want[18]), 0x00020000u);
    int bad = 0, first = -1;
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (int si = 0; si < NSIZES; si++) {
            const int n = SIZES[si];
            guard(R1, n);
            k->bf16_round(R1, src, (size_t)n);
            check_guard("bf16_round", k, R1, n);
            memcpy(R2, src, (size_t)n * sizeof(float));
            k->bf16_round(R2, R2, (size_t)n); /* in place */
            for (int i = 0; i < n; i++)
                if (f32_to_bits(R1[i]) != f32_to_bits(want[i]) || f32_to_bits(R2[i]) != f32_to_bits(want[i])) {
                    if (first < 0) first = i;
                    bad++;
                }
            ck_assert_msg(bad == 0, "bf16_round [%s] n=%d: %d values differ from t5pt_f32_to_bf16 (first at %d: "
                          "0x%08x -> 0x%08x, want 0x%08x)", k->name, n, bad, first, f32_to_bits(src[first]),
                          f32_to_bits(R1[first]), f32_to_bits(want[first]));
        }
    }
}
END_TEST

/* The micro-kernel of every path (scalar included) against a double reference, with
 * and without accumulate, for depths that are not multiples of any unroll; B both as a
 * packed panel (ldb = NR, aligned) and as weight rows read in place (ldb > NR, b only
 * 4-byte aligned, as in a mapped checkpoint). */
START_TEST(test_gemm_micro) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    ks[nk++] = t5pt_kernels_scalar();
    static const int depths[] = {1, 2, 3, 17, 63, 65, 256, 511};
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        int mr = k->gemm.mr, nr = k->gemm.nr, ldc = nr + 5;
        for (size_t di = 0; di < sizeof depths / sizeof depths[0]; di++)
            for (int in_place = 0; in_place < 2; in_place++) {
                int kd = depths[di];
                size_t ldb = in_place ? (size_t)nr + 3 : (size_t)nr;
                float *a = t5pt_alloc_aligned((size_t)kd * mr * sizeof(float));
                float *bbuf = t5pt_alloc_aligned(((size_t)kd * ldb + 1) * sizeof(float));
                float *b = bbuf + in_place;
                float *c = malloc((size_t)mr * ldc * sizeof(float)), *c0 = malloc((size_t)mr * ldc * sizeof(float));
                fill(a, kd * mr, -1, 1), fill(b, (int)(kd * ldb), -1, 1), fill(c0, mr * ldc, -1, 1);
                for (int acc = 0; acc < 2; acc++) {
                    memcpy(c, c0, (size_t)mr * ldc * sizeof(float));
                    k->gemm.micro(kd, a, b, ldb, c, ldc, acc);
                    for (int i = 0; i < mr; i++) {
                        for (int j = 0; j < nr; j++) {
                            double ref = acc ? c0[i * ldc + j] : 0.0, mag = fabs(ref);
                            for (int p = 0; p < kd; p++) {
                                ref += (double)a[p * mr + i] * b[p * ldb + j];
                                mag += fabs((double)a[p * mr + i] * b[p * ldb + j]);
                            }
                            EXPECT_NEAR("gemm_micro", k, kd, i * nr + j, c[i * ldc + j], ref, 1e-6 * mag + 1e-30);
                        }
                        for (int j = nr; j < ldc; j++)
                            ck_assert_msg(c[i * ldc + j] == c0[i * ldc + j], "[%s] gemm_micro wrote past NR", k->name);
                    }
                }
                t5pt_free_aligned(a), t5pt_free_aligned(bbuf), free(c), free(c0);
            }
    }
}
END_TEST

/* The attention products of every path (scalar included) against a double reference:
 * A row-major and transposed, B and C with row strides wider than N (the columns past N
 * must stay untouched), every row and column remainder of the 4 x 2-vector tiles. */
START_TEST(test_attn_gemm) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    ks[nk++] = t5pt_kernels_scalar();
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 16, 18};
    static const int Ns[] = {1, 3, 4, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100};
    static const int Ks[] = {1, 3, 16, 64, 229};
    const int maxM = 18, maxN = 100, maxK = 229, pad = 3;
    float *A = malloc((size_t)maxM * maxK * sizeof(float)), *B = malloc((size_t)maxK * (maxN + pad) * sizeof(float));
    float *C = malloc((size_t)maxM * (maxN + pad) * sizeof(float));
    fill(A, maxM * maxK, -1, 1), fill(B, maxK * (maxN + pad), -1, 1);
    for (int t = 0; t < nk; t++) {
        const t5pt_kernels *k = ks[t];
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                    for (int trans = 0; trans < 2; trans++) {
                        const int M = Ms[mi], N = Ns[ni], K = Ks[ki];
                        const size_t ldb = (size_t)N + pad, ldc = (size_t)N + pad;
                        const size_t ai = trans ? 1 : (size_t)K, ap = trans ? (size_t)M : 1;
                        for (size_t e = 0; e < (size_t)M * ldc; e++) C[e] = GUARD;
                        k->attn_gemm(M, N, K, A, ai, ap, B, ldb, C, ldc);
                        for (int i = 0; i < M; i++) {
                            for (int j = 0; j < N; j++) {
                                double ref = 0.0, mag = 0.0;
                                for (int p = 0; p < K; p++) {
                                    double term = (double)A[i * ai + p * ap] * B[p * ldb + j];
                                    ref += term, mag += fabs(term);
                                }
                                EXPECT_NEAR(trans ? "attn_gemm (A transposed)" : "attn_gemm", k, M * 1000 + N,
                                            i * N + j, C[i * ldc + j], ref, 1e-6 * mag + 1e-30);
                            }
                            for (size_t j = (size_t)N; j < ldc; j++)
                                ck_assert_msg(C[i * ldc + j] == GUARD, "[%s] attn_gemm M=%d N=%d wrote past N",
                                              k->name, M, N);
                        }
                    }
    }
    free(A), free(B), free(C);
}
END_TEST

/* The register transposes (8 x 8 AVX2, 16 x 16 AVX-512, 4 x 4 NEON) and their edges: every
 * element lands where it belongs with its own bits, nothing past rows or cols is written. */
START_TEST(test_transpose) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    ks[nk++] = t5pt_kernels_scalar();
    static const int sizes[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]), maxn = 64, pad = 5;
    float *src = malloc((size_t)maxn * (maxn + pad) * sizeof(float));
    float *dst = malloc((size_t)maxn * (maxn + pad) * sizeof(float));
    fill(src, maxn * (maxn + pad), -1, 1);
    for (int t = 0; t < nk; t++)
        for (int a = 0; a < ns; a++)
            for (int b = 0; b < ns; b++) {
                const int rows = sizes[a], cols = sizes[b];
                const size_t lds = (size_t)cols + pad, ldd = (size_t)rows + 2;
                for (size_t e = 0; e < (size_t)cols * ldd; e++) dst[e] = GUARD;
                ks[t]->transpose(dst, ldd, src, lds, rows, cols);
                for (int c = 0; c < cols; c++)
                    for (size_t r = 0; r < ldd; r++) {
                        float want = (int)r < rows ? src[r * lds + (size_t)c] : GUARD;
                        ck_assert_msg(memcmp(&dst[(size_t)c * ldd + r], &want, sizeof want) == 0,
                                      "[%s] transpose %dx%d: dst[%d][%zu] = %g, want %g", ks[t]->name, rows, cols,
                                      c, r, (double)dst[(size_t)c * ldd + r], (double)want);
                    }
            }
    free(src), free(dst);
}
END_TEST

/* The GEMM blocking each table declares fits simd/gemm.c (edge tile, whole tiles per A
 * block), and its A-panel packers write exactly alpha * op(A) in the [kc][MR] layout. */
START_TEST(test_gemm_blocking_and_packing) {
    const t5pt_kernels *ks[8];
    int nk = vector_tables(ks);
    ks[nk++] = t5pt_kernels_scalar();
    for (int t = 0; t < nk; t++) {
        const t5pt_gemm_kernel *g = &ks[t]->gemm;
        const char *name = ks[t]->name;
        ck_assert_msg(g->mr >= 1 && g->mr <= T5PT_GEMM_MAX_MR && g->nr >= 1 && g->nr <= T5PT_GEMM_MAX_NR,
                      "[%s] tile %dx%d", name, g->mr, g->nr);
        ck_assert_msg(g->kc >= 1 && g->mc >= g->mr && g->mc % g->mr == 0, "[%s] blocking kc=%d mc=%d", name, g->kc,
                      g->mc);
        ck_assert_msg(g->micro && g->pack_a && g->pack_at, "[%s] missing GEMM function", name);
        const int mr = g->mr, lda = 77;
        for (int kc = 1; kc <= 19; kc += 6) {
            float src[77 * 32], dst[19 * 32 + 1];
            fill(src, 77 * 32, -2, 2);
            dst[kc * mr] = GUARD;
            g->pack_a(dst, src, lda, kc, -1.5f);
            for (int p = 0; p < kc; p++)
                for (int i = 0; i < mr; i++)
                    ck_assert_msg(dst[p * mr + i] == -1.5f * src[i * lda + p], "[%s] pack_a kc=%d p=%d i=%d", name, kc,
                                  p, i);
            g->pack_at(dst, src, lda, kc, 0.5f);
            for (int p = 0; p < kc; p++)
                for (int i = 0; i < mr; i++)
                    ck_assert_msg(dst[p * mr + i] == 0.5f * src[p * lda + i], "[%s] pack_at kc=%d p=%d i=%d", name, kc,
                                  p, i);
            ck_assert_msg(dst[kc * mr] == GUARD, "[%s] packing wrote past the panel", name);
        }
    }
}
END_TEST

/* Dispatch: the selected path is the best the CPU has unless T5PT_SIMD lowered it. */
START_TEST(test_dispatch) {
    const char *paths = t5pt_simd_paths();
    ck_assert_ptr_nonnull(strstr(paths, "scalar"));
    const char *env = getenv("T5PT_SIMD");
    char best[16];
    sscanf(paths, "%15s", best);
    if (env && env[0] && t5pt_simd_env_status() == T5PT_OK) ck_assert_str_eq(t5pt_simd_path(), env);
    else if (!env || !env[0]) ck_assert_str_eq(t5pt_simd_path(), best);
    printf("cpu features: %s\npaths: %s\nselected: %s\n", t5pt_cpu_features(), paths, t5pt_simd_path());
    /* the vector path the CPU has is offered, so the kernel tests below compare at least
     * one vector table with scalar (they loop over what is offered) */
    const t5pt_kernels *tables[8];
    int n_vector = vector_tables(tables);
#if defined(__x86_64__) && defined(T5PT_AVX512_SIMDE)
    /* the emulated build (make test-avx512-emulated) offers avx512 on every AVX2 CPU */
    if (strstr(t5pt_cpu_features(), "avx2")) ck_assert_ptr_nonnull(strstr(paths, "avx512"));
    ck_assert_int_ge(n_vector, 2);
#elif defined(__x86_64__)
    /* qemu -cpu max has AVX2 but no AVX-512: detection must not offer avx512 there */
    const char *f = t5pt_cpu_features();
    if (!strstr(f, "avx512f")) ck_assert_ptr_null(strstr(paths, "avx512"));
    if (strstr(f, "avx2") && strstr(f, "fma") && strstr(f, "f16c")) {
        ck_assert_ptr_nonnull(strstr(paths, "avx2"));
        ck_assert_int_ge(n_vector, 1);
    }
#elif defined(__aarch64__)
    ck_assert_ptr_nonnull(strstr(paths, "neon"));
    ck_assert_int_eq(n_vector, 1);
#endif
    printf("vector paths compared with scalar: %d\n", n_vector);
}
END_TEST

int main(void) {
    t5pt_rng_seed(&rng, 2024);
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dispatch);
    tcase_add_test(tc, test_elementwise_exact);
    tcase_add_test(tc, test_reductions);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_cross_entropy);
    tcase_add_test(tc, test_conversions);
    tcase_add_test(tc, test_gemm_micro);
    tcase_add_test(tc, test_attn_gemm);
    tcase_add_test(tc, test_transpose);
    tcase_add_test(tc, test_bf16_round);
    tcase_add_test(tc, test_gemm_blocking_and_packing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
