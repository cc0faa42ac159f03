/* test_gemm.c — the packed linear products and the strided sgemm against a
 * double-precision naive reference, on every SIMD path this CPU runs, plus
 * bit-identity of the results with 1 and 2 threads.
 *
 * Tolerance: |got - ref| <= 1e-5 * (sum_p |a_ip b_pj| + |beta c|) + 1e-30, i.e. a
 * relative error bound on the condition of each dot product (fp32 accumulation
 * over K <= 2048 terms stays far below it).
 * T5PT_TEST_SMALL=1 (emulators) keeps only the small shapes.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd/gemm.h"
#include "base/internal.h"
#include "simd/kernels.h"
#include "t5pt.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int small_mode(void) {
    const char *s = getenv("T5PT_TEST_SMALL");
    return s && s[0] && strcmp(s, "0") != 0;
}

static float *rand_buf(t5pt_rng *r, size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2.0 * t5pt_rng_uniform(r) - 1.0);
    return p;
}

/* The paths to test: every one this CPU runs ("avx512 avx2 scalar" ...). */
static int paths(char names[8][16]) {
    const char *all = t5pt_simd_paths();
    int n = 0;
    const char *p = all;
    while (*p && n < 8) {
        while (*p == ' ') p++;
        int len = 0;
        while (p[len] && p[len] != ' ') len++;
        if (len == 0) break;
        snprintf(names[n++], 16, "%.*s", len, p);
        p += len;
    }
    return n;
}

/* C = alpha op(A) op(B) + beta C in double, plus the magnitude bound for the tolerance. */
static void ref_gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, const float *C0, int ldc, double *ref, double *mag) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0, m = 0.0;
            for (int p = 0; p < K; p++) {
                double a = tA ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                double b = tB ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
                m += fabs(a * b);
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            ref[(size_t)i * N + j] = alpha * s + c;
            mag[(size_t)i * N + j] = fabs((double)alpha) * m + fabs(c);
        }
}

/* Checks C[M,N] (ldc) against ref and that padding columns past N are untouched. */
static void expect_close(const char *what, const float *C, int M, int N, int ldc, const double *ref,
                         const double *mag, const float *C0) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double got = C[(size_t)i * ldc + j], want = ref[(size_t)i * N + j];
            double tol = 1e-5 * mag[(size_t)i * N + j] + 1e-30;
            if (!(fabs(got - want) <= tol))
                ck_abort_msg("%s [%s]: C[%d,%d] = %.9g, want %.9g (tol %.3g)", what, t5pt_simd_path(), i, j, got,
                             want, tol);
        }
        for (int j = N; j < ldc; j++)
            if (memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)) != 0)
                ck_abort_msg("%s [%s]: wrote outside C at [%d,%d]", what, t5pt_simd_path(), i, j);
    }
}

static void check_sgemm(t5pt_rng *r, int tA, int tB, int M, int N, int K, float alpha, float beta, int pad,
                        int parallel) {
    int lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
    size_t asz = (size_t)(tA ? K : M) * lda, bsz = (size_t)(tB ? N : K) * ldb, csz = (size_t)M * ldc;
    float *A = rand_buf(r, asz), *B = rand_buf(r, bsz), *C0 = rand_buf(r, csz), *C = malloc((csz + 1) * 4);
    if (beta == 0.0f) /* beta = 0 must ignore C entirely, even NaN */
        for (size_t i = 0; i < csz; i += 7) C0[i] = NAN;
    memcpy(C, C0, csz * sizeof *C);
    double *ref = malloc(((size_t)M * N + 1) * sizeof *ref), *mag = malloc(((size_t)M * N + 1) * sizeof *mag);
    ref_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, ref, mag);
    if (parallel)
        t5pt_sgemm_parallel(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        t5pt_sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    char what[128];
    snprintf(what, sizeof what, "sgemm%s tA=%d tB=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d",
             parallel ? "_parallel" : "", tA, tB, M, N, K, alpha, beta, pad);
    expect_close(what, C, M, N, ldc, ref, mag, C0);
    free(A), free(B), free(C0), free(C), free(ref), free(mag);
}

START_TEST(test_sgemm_all_forms) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 42);
    static const int sizes[][3] = {{1, 1, 1},   {3, 5, 7},    {17, 33, 9},  {14, 32, 256}, {15, 33, 257},
                                   {63, 65, 17}, {65, 63, 300}, {29, 100, 1}, {7, 3, 520},  {100, 130, 70},
                                   {31, 45, 1100} /* depth past the largest KC (1024) */};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int tA = 0; tA < 2; tA++)
                for (int tB = 0; tB < 2; tB++)
                    for (int ib = 0; ib < 3; ib++) {
                        float alpha = (s % 3 == 0) ? 1.0f : (s % 3 == 1 ? 0.125f : -1.5f);
                        int pad = (int)(s % 3) * 3;
                        check_sgemm(&r, tA, tB, sizes[s][0], sizes[s][1], sizes[s][2], alpha, betas[ib], pad,
                                    (int)((s + ib) & 1));
                    }
    }
    t5pt_simd_select(names[0]);
}
END_TEST

/* K = 0: C = beta C; M or N = 0: nothing touched. */
START_TEST(test_sgemm_degenerate) {
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4}, C[4] = {1, 2, 3, 4};
    t5pt_sgemm(0, 0, 2, 2, 0, 1.0f, A, 2, B, 2, 0.5f, C, 2);
    ck_assert(C[0] == 0.5f && C[3] == 2.0f);
    t5pt_sgemm(0, 0, 2, 2, 0, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    ck_assert(C[0] == 0.0f && C[3] == 0.0f);
    C[0] = 7;
    t5pt_sgemm(0, 0, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    t5pt_sgemm(0, 0, 2, 0, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    ck_assert(C[0] == 7.0f);
}
END_TEST

/* y = x W^T + beta y and dx = dy W + beta dx with W packed once. */
static void check_linear(t5pt_rng *r, int M, int N, int K, float beta, int pad) {
    float *W = rand_buf(r, (size_t)N * K);
    t5pt_linear lin;
    ck_assert_int_eq(t5pt_linear_init(&lin, W, T5PT_WF32, N, K), T5PT_OK);
    int ldx = K + pad, ldy = N + pad;
    float *x = rand_buf(r, (size_t)M * ldx), *y0 = rand_buf(r, (size_t)M * ldy), *y = malloc((size_t)M * ldy * 4 + 4);
    memcpy(y, y0, (size_t)M * ldy * 4);
    double *ref = malloc(((size_t)M * (N > K ? N : K) + 1) * 8), *mag = malloc(((size_t)M * (N > K ? N : K) + 1) * 8);
    char what[128];

    ref_gemm(0, 1, M, N, K, 1.0f, x, ldx, W, K, beta, y0, ldy, ref, mag);
    t5pt_linear_forward(y, ldy, x, ldx, M, &lin, beta);
    snprintf(what, sizeof what, "linear_forward M=%d N=%d K=%d beta=%g pad=%d", M, N, K, beta, pad);
    expect_close(what, y, M, N, ldy, ref, mag, y0);
    /* whichever formulation this M takes (packed W^T, or W as the A operand with a
     * transposed store), the bits are the general GEMM's with W^T packed as B */
    float *yg = malloc((size_t)M * ldy * 4 + 4);
    if (M > T5PT_GEMV_MAX_ROWS) {
        memcpy(yg, y0, (size_t)M * ldy * 4);
        t5pt_sgemm(0, 1, M, N, K, 1.0f, x, ldx, W, K, beta, yg, ldy);
        ck_assert_msg(memcmp(yg, y, (size_t)M * ldy * 4) == 0, "%s: not the GEMM's bits", what);
    }

    /* backward: dy [M,N] (ldy) -> dx [M,K] (ldx) */
    float *dx0 = rand_buf(r, (size_t)M * ldx), *dx = malloc((size_t)M * ldx * 4 + 4);
    memcpy(dx, dx0, (size_t)M * ldx * 4);
    ref_gemm(0, 0, M, K, N, 1.0f, y0, ldy, W, K, beta, dx0, ldx, ref, mag);
    t5pt_linear_backward(dx, ldx, y0, ldy, M, &lin, beta);
    snprintf(what, sizeof what, "linear_backward M=%d N=%d K=%d beta=%g pad=%d", M, N, K, beta, pad);
    expect_close(what, dx, M, K, ldx, ref, mag, dx0);
    float *dxg = malloc((size_t)M * ldx * 4 + 4);
    memcpy(dxg, dx0, (size_t)M * ldx * 4);
    t5pt_sgemm(0, 0, M, K, N, 1.0f, y0, ldy, W, K, beta, dxg, ldx);
    ck_assert_msg(memcmp(dxg, dx, (size_t)M * ldx * 4) == 0, "%s: not the GEMM's bits", what);

    free(W), free(x), free(y0), free(y), free(yg), free(dxg), free(ref), free(mag), free(dx0), free(dx);
}

START_TEST(test_linear) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 7);
    /* up to T5PT_WA_MAX_ROWS rows the forward takes W as the A operand, above it W^T is
     * packed as B; the backward takes W^T as A for the 4M-weight ones up to
     * T5PT_WA_BWD_MAX_ROWS rows; {20, 2100, 600}: W^T is packed in two blocks of panels
     * (simd/gemm.c PACK_BLOCK_BYTES) */
    static const int sizes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 63, 65}, {65, 33, 300}, {100, 511, 31}, {29, 64, 512},
                                   {T5PT_WA_MAX_ROWS, 19, 37}, {T5PT_WA_MAX_ROWS + 1, 19, 37}, {20, 2100, 600},
                                   {T5PT_WA_MAX_ROWS + 5, 2100, 600}};
    int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        for (int s = 0; s < nsizes; s++) {
            check_linear(&r, sizes[s][0], sizes[s][1], sizes[s][2], 0.0f, 0);
            check_linear(&r, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 3);
            check_linear(&r, sizes[s][0], sizes[s][1], sizes[s][2], 0.5f, 1);
        }
        if (!small_mode()) check_linear(&r, 300, 512, 2048, 0.0f, 0);
        /* T5PT_WA_BWD_MIN_WEIGHTS weights (an lm_head's shape, narrow): the backward's W^T as A */
        check_linear(&r, 20, (int)(T5PT_WA_BWD_MIN_WEIGHTS / 128), 128, 1.0f, 2);
    }
    t5pt_simd_select(names[0]);
}
END_TEST

/* t5pt_linear_forward_group: n linears of one input give exactly the bits of n separate
 * t5pt_linear_forward calls, whichever way the group runs (one product with the weights'
 * panels side by side, or the separate calls for few rows), with ragged N (a linear's last
 * panel padded), mixed weight types, row strides, and more panels than one packed block. */
static void check_group(t5pt_rng *r, int M, int n, const int *Ns, int K, int pad, int mixed) {
    float *W[8], *ys[8], *ysep[8];
    uint16_t *Wh[8];
    int ld[8];
    t5pt_linear lins[8];
    const t5pt_linear *lp[8];
    float *x = rand_buf(r, (size_t)M * (K + pad));
    for (int i = 0; i < n; i++) {
        size_t nw = (size_t)Ns[i] * K;
        W[i] = rand_buf(r, nw);
        Wh[i] = NULL;
        if (mixed && i % 2 == 1) { /* a bf16-stored weight among fp32 ones */
            Wh[i] = malloc(nw * 2);
            for (size_t e = 0; e < nw; e++) {
                uint32_t u;
                memcpy(&u, &W[i][e], 4);
                Wh[i][e] = (uint16_t)(u >> 16);
            }
            ck_assert_int_eq(t5pt_linear_init(&lins[i], Wh[i], T5PT_WBF16, Ns[i], K), T5PT_OK);
        } else {
            ck_assert_int_eq(t5pt_linear_init(&lins[i], W[i], T5PT_WF32, Ns[i], K), T5PT_OK);
        }
        lp[i] = &lins[i];
        ld[i] = Ns[i] + pad + i; /* each output its own row stride */
        size_t ny = (size_t)M * ld[i];
        ys[i] = malloc(ny * 4);
        ysep[i] = malloc(ny * 4);
        for (size_t e = 0; e < ny; e++) ys[i][e] = ysep[i][e] = (float)e; /* padding must survive */
    }
    t5pt_linear_forward_group(ys, ld, x, K + pad, M, lp, n);
    for (int i = 0; i < n; i++) t5pt_linear_forward(ysep[i], ld[i], x, K + pad, M, lp[i], 0.0f);
    for (int i = 0; i < n; i++)
        ck_assert_msg(memcmp(ys[i], ysep[i], (size_t)M * ld[i] * 4) == 0,
                      "[%s] group of %d, M=%d K=%d: output %d (N=%d) differs from its own product",
                      t5pt_simd_path(), n, M, K, i, Ns[i]);
    /* backward: dx = beta dx + sum_i dy_i W_i (dy_i: the outputs above) against the
     * separate calls with beta, 1, 1, ... */
    const float *dys[8];
    for (int i = 0; i < n; i++) dys[i] = ys[i];
    const int ldx = K + pad;
    float *dx = malloc((size_t)M * ldx * 4), *dxs = malloc((size_t)M * ldx * 4);
    for (int b = 0; b < 2; b++) {
        const float beta = b ? 1.0f : 0.0f;
        for (size_t e = 0; e < (size_t)M * ldx; e++) dx[e] = dxs[e] = (float)(e % 13) - 6.0f;
        t5pt_linear_backward_group(dx, ldx, dys, ld, M, lp, n, beta);
        for (int i = 0; i < n; i++) t5pt_linear_backward(dxs, ldx, dys[i], ld[i], M, lp[i], i ? 1.0f : beta);
        ck_assert_msg(memcmp(dx, dxs, (size_t)M * ldx * 4) == 0,
                      "[%s] backward group of %d, M=%d K=%d beta=%g differs from the separate products",
                      t5pt_simd_path(), n, M, K, (double)beta);
    }
    free(dx), free(dxs);
    for (int i = 0; i < n; i++) free(W[i]), free(Wh[i]), free(ys[i]), free(ysep[i]);
    free(x);
}

START_TEST(test_linear_group) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 17);
    static const int qkv[3] = {64, 64, 64}, ragged[4] = {17, 45, 64, 3}, wide[3] = {1100, 1000, 1030};
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        /* few rows: the separate calls (GEMV, W as A) */
        check_group(&r, 3, 3, qkv, 40, 0, 0);
        check_group(&r, T5PT_WA_MAX_ROWS, 3, qkv, 40, 1, 0);
        /* one product: just above the W-as-A rows, an MC and a half, more */
        check_group(&r, T5PT_WA_MAX_ROWS + 1, 3, qkv, 40, 0, 0);
        check_group(&r, 130, 4, ragged, 70, 2, 1);
        check_group(&r, 250, 3, qkv, 600, 0, 1);
        { /* segments deeper than KC and not a multiple of it (the backward cuts each in KC steps) */
            static const int deep[2] = {700, 1500};
            check_group(&r, 50, 2, deep, 33, 1, 1);
        }
        check_group(&r, 1, 1, ragged, 9, 0, 0);
        /* 3131 columns of depth 512: more panels than one packed block (PACK_BLOCK_BYTES) */
        if (!small_mode()) check_group(&r, 40, 3, wide, 512, 1, 0);
    }
    t5pt_simd_select(names[0]);
}
END_TEST

/* The row blocking does not change a bit: the product of M rows, M just above the ISA's MC
 * (one block of all rows, simd/gemm.c gemm_run), equals the products of its two halves
 * (each taking MC-row blocks), forward and backward. */
START_TEST(test_row_block_bits) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 19);
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        const int mc = t5pt_kern()->gemm.mc;
        const int Ms[2] = {mc + mc / 3, mc + mc / 2};
        for (int s = 0; s < 2; s++) {
            int M = Ms[s], N = 300, K = 600, h = M / 2;
            float *W = rand_buf(&r, (size_t)N * K), *x = rand_buf(&r, (size_t)M * K), *dy = rand_buf(&r, (size_t)M * N);
            float *y1 = malloc((size_t)M * N * 4), *y2 = malloc((size_t)M * N * 4);
            float *d1 = malloc((size_t)M * K * 4), *d2 = malloc((size_t)M * K * 4);
            t5pt_linear lin;
            ck_assert_int_eq(t5pt_linear_init(&lin, W, T5PT_WF32, N, K), T5PT_OK);
            t5pt_linear_forward(y1, N, x, K, M, &lin, 0.0f);
            t5pt_linear_forward(y2, N, x, K, h, &lin, 0.0f);
            t5pt_linear_forward(y2 + (size_t)h * N, N, x + (size_t)h * K, K, M - h, &lin, 0.0f);
            t5pt_linear_backward(d1, K, dy, N, M, &lin, 0.0f);
            t5pt_linear_backward(d2, K, dy, N, h, &lin, 0.0f);
            t5pt_linear_backward(d2 + (size_t)h * K, K, dy + (size_t)h * N, N, M - h, &lin, 0.0f);
            ck_assert_msg(memcmp(y1, y2, (size_t)M * N * 4) == 0, "[%s] forward M=%d: not the bits of its halves",
                          names[ip], M);
            ck_assert_msg(memcmp(d1, d2, (size_t)M * K * 4) == 0, "[%s] backward M=%d: not the bits of its halves",
                          names[ip], M);
            free(W), free(x), free(dy), free(y1), free(y2), free(d1), free(d2);
        }
    }
    t5pt_simd_select(names[0]);
}
END_TEST

/* A bf16 / f16 weight gives exactly the products of its fp32 widening (the GEMM widens
 * while packing; nothing else changes), forward and backward, on every path. */
START_TEST(test_linear_half_precision) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 13);
    /* the last: the backward takes W^T as the A operand (T5PT_WA_BWD_MIN_WEIGHTS) */
    static const int sizes[][3] = {{1, 1, 1}, {3, 17, 5}, {37, 45, 70}, {100, 130, 300},
                                   {20, (int)(T5PT_WA_BWD_MIN_WEIGHTS / 128), 128}};
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        for (int s = 0; s < 5; s++)
            for (int type = T5PT_WBF16; type <= T5PT_WF16; type++) {
                int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                size_t nw = (size_t)N * K;
                float *W = rand_buf(&r, nw), *Wf = malloc(nw * 4), *x = rand_buf(&r, (size_t)M * K);
                float *dy = rand_buf(&r, (size_t)M * N);
                /* +1 element: the stored weight only 2-byte aligned, as in a mapped file */
                uint16_t *buf = malloc((nw + 1) * 2), *Wh = buf + 1;
                for (size_t i = 0; i < nw; i++) {
                    uint32_t u;
                    memcpy(&u, &W[i], 4);
                    if (type == T5PT_WBF16) {
                        Wh[i] = (uint16_t)(u >> 16);
                    } else { /* f16 of a value in [-1, 1): sign, 5-bit exponent, 10-bit mantissa */
                        float a = W[i] < 0 ? -W[i] : W[i];
                        int e = 0;
                        while (a != 0 && a < 1.0f && e > -14) a *= 2, e--;
                        uint16_t h = a == 0 ? 0
                                   : e == -14 && a < 1.0f ? (uint16_t)(a * 1024.0f)
                                                         : (uint16_t)(((e + 15) << 10) | (uint16_t)((a - 1.0f) * 1024.0f));
                        Wh[i] = (uint16_t)((W[i] < 0 ? 0x8000 : 0) | h);
                    }
                }
                t5pt_widen(Wf, Wh, (t5pt_wtype)type, nw);
                t5pt_linear lh, lf;
                ck_assert_int_eq(t5pt_linear_init(&lh, Wh, (t5pt_wtype)type, N, K), T5PT_OK);
                ck_assert_int_eq(t5pt_linear_init(&lf, Wf, T5PT_WF32, N, K), T5PT_OK);
                float *y1 = malloc((size_t)M * N * 4), *y2 = malloc((size_t)M * N * 4);
                float *d1 = malloc((size_t)M * K * 4), *d2 = malloc((size_t)M * K * 4);
                t5pt_linear_forward(y1, N, x, K, M, &lh, 0.0f);
                t5pt_linear_forward(y2, N, x, K, M, &lf, 0.0f);
                t5pt_linear_backward(d1, K, dy, N, M, &lh, 0.0f);
                t5pt_linear_backward(d2, K, dy, N, M, &lf, 0.0f);
                ck_assert_msg(memcmp(y1, y2, (size_t)M * N * 4) == 0, "[%s] type %d forward %dx%dx%d", names[ip], type, M, N, K);
                ck_assert_msg(memcmp(d1, d2, (size_t)M * K * 4) == 0, "[%s] type %d backward %dx%dx%d", names[ip], type, M, N, K);
                /* and the widening is the value's: |widened - W| within the format's rounding */
                /* (the first element out of bound is reported; one assertion, not one per element:
                 * Check records every passing assertion, 4M of them here) */
                size_t bad = nw;
                for (size_t i = 0; i < nw && bad == nw; i++)
                    if (!(fabsf(Wf[i] - W[i]) <= (type == T5PT_WBF16 ? 1.0f / 128 : 1.0f / 1024) * fabsf(W[i]) + 1e-7f))
                        bad = i;
                ck_assert_msg(bad == nw, "widen %zu: %g vs %g", bad, bad < nw ? (double)Wf[bad] : 0.0,
                              bad < nw ? (double)W[bad] : 0.0);
                free(W), free(Wf), free(x), free(dy), free(buf), free(y1), free(y2), free(d1), free(d2);
            }
    }
    t5pt_simd_select(names[0]);
}
END_TEST

/* Packed with one path, run with another (different NR): must still be right. */
START_TEST(test_linear_path_change) {
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 9);
    int M = 37, N = 45, K = 70;
    float *W = rand_buf(&r, (size_t)N * K), *x = rand_buf(&r, (size_t)M * K);
    float *y = malloc((size_t)M * N * 4);
    double *ref = malloc((size_t)M * N * 8), *mag = malloc((size_t)M * N * 8);
    ref_gemm(0, 1, M, N, K, 1.0f, x, K, W, K, 0.0f, y, N, ref, mag);
    for (int a = 0; a < np; a++)
        for (int b = 0; b < np; b++) {
            t5pt_linear lin;
            ck_assert_int_eq(t5pt_simd_select(names[a]), T5PT_OK);
            ck_assert_int_eq(t5pt_linear_init(&lin, W, T5PT_WF32, N, K), T5PT_OK);
            ck_assert_int_eq(t5pt_simd_select(names[b]), T5PT_OK);
            memset(y, 0, (size_t)M * N * 4);
            t5pt_linear_forward(y, N, x, K, M, &lin, 0.0f);
            expect_close("linear_forward after path change", y, M, N, N, ref, mag, y);
        }
    t5pt_simd_select(names[0]);
    free(W), free(x), free(y), free(ref), free(mag);
}
END_TEST

/* The same product with 1 and 2 threads must give the same bits. */
START_TEST(test_thread_bit_identity) {
#ifdef _OPENMP
    char names[8][16];
    int np = paths(names);
    t5pt_rng r;
    t5pt_rng_seed(&r, 11);
    int big = !small_mode();
    static const int shapes[][3] = {{200, 130, 300}, {5, 700, 90}, {1824, 512, 2048}};
    int nshape = big ? 3 : 2;
    int saved = omp_get_max_threads();
    for (int ip = 0; ip < np; ip++) {
        ck_assert_int_eq(t5pt_simd_select(names[ip]), T5PT_OK);
        for (int s = 0; s < nshape; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            if (s == 2 && strcmp(names[ip], "scalar") == 0) continue; /* slow and same code path */
            float *W = rand_buf(&r, (size_t)N * K), *x = rand_buf(&r, (size_t)M * K), *dy = rand_buf(&r, (size_t)M * N);
            float *y1 = malloc((size_t)M * N * 4), *y2 = malloc((size_t)M * N * 4);
            float *d1 = malloc((size_t)M * K * 4), *d2 = malloc((size_t)M * K * 4);
            float *c1 = malloc((size_t)M * N * 4), *c2 = malloc((size_t)M * N * 4);
            t5pt_linear lin;
            ck_assert_int_eq(t5pt_linear_init(&lin, W, T5PT_WF32, N, K), T5PT_OK);
            /* a group of two: the linear and itself */
            float *g1[2] = {malloc((size_t)M * N * 4), malloc((size_t)M * N * 4)};
            float *g2[2] = {malloc((size_t)M * N * 4), malloc((size_t)M * N * 4)};
            const int ldg[2] = {N, N};
            const t5pt_linear *lg[2] = {&lin, &lin};
            omp_set_num_threads(1);
            t5pt_linear_forward_group(g1, ldg, x, K, M, lg, 2);
            omp_set_num_threads(2);
            t5pt_linear_forward_group(g2, ldg, x, K, M, lg, 2);
            for (int i = 0; i < 2; i++) {
                ck_assert_msg(memcmp(g1[i], g2[i], (size_t)M * N * 4) == 0,
                              "[%s] group differs with 2 threads (%dx%dx%d)", names[ip], M, N, K);
                free(g1[i]), free(g2[i]);
            }
            omp_set_num_threads(1);
            t5pt_linear_forward(y1, N, x, K, M, &lin, 0.0f);
            t5pt_linear_backward(d1, K, dy, N, M, &lin, 0.0f);
            t5pt_sgemm_parallel(0, 1, M, N, K, 0.5f, x, K, W, K, 0.0f, c1, N);
            omp_set_num_threads(2);
            t5pt_linear_forward(y2, N, x, K, M, &lin, 0.0f);
            t5pt_linear_backward(d2, K, dy, N, M, &lin, 0.0f);
            t5pt_sgemm_parallel(0, 1, M, N, K, 0.5f, x, K, W, K, 0.0f, c2, N);
            ck_assert_msg(memcmp(y1, y2, (size_t)M * N * 4) == 0, "[%s] forward differs with 2 threads (%dx%dx%d)",
                          names[ip], M, N, K);
            ck_assert_msg(memcmp(d1, d2, (size_t)M * K * 4) == 0, "[%s] backward differs with 2 threads (%dx%dx%d)",
                          names[ip], M, N, K);
            ck_assert_msg(memcmp(c1, c2, (size_t)M * N * 4) == 0, "[%s] sgemm differs with 2 threads (%dx%dx%d)",
                          names[ip], M, N, K);
            free(W), free(x), free(dy), free(y1), free(y2), free(d1), free(d2), free(c1), free(c2);
        }
    }
    omp_set_num_threads(saved);
    t5pt_simd_select(names[0]);
#else
    /* a build without OpenMP (NO_OMP=1) runs one thread whatever is asked */
    t5pt_set_num_threads(2);
    ck_assert_int_eq(t5pt_num_threads(), 1);
#endif
}
END_TEST

START_TEST(test_simd_select_errors) {
    ck_assert_int_eq(t5pt_simd_select("sse9"), T5PT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "sse9"));
#if defined(__x86_64__)
    ck_assert_int_eq(t5pt_simd_select("neon"), T5PT_ERR_UNSUPPORTED);
#elif defined(__aarch64__)
    ck_assert_int_eq(t5pt_simd_select("avx2"), T5PT_ERR_UNSUPPORTED);
#endif
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "not available"));
    ck_assert_int_eq(t5pt_simd_select("scalar"), T5PT_OK);
    ck_assert_str_eq(t5pt_simd_path(), "scalar");
    char names[8][16];
    paths(names);
    ck_assert_int_eq(t5pt_simd_select(names[0]), T5PT_OK);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sgemm_all_forms);
    tcase_add_test(tc, test_sgemm_degenerate);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_linear_path_change);
    tcase_add_test(tc, test_linear_group);
    tcase_add_test(tc, test_row_block_bits);
    tcase_add_test(tc, test_linear_half_precision);
    tcase_add_test(tc, test_thread_bit_identity);
    tcase_add_test(tc, test_simd_select_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("SIMD paths tested: %s (selected %s), threads %d\n", t5pt_simd_paths(), t5pt_simd_path(),
           t5pt_num_threads());
    return failed ? 1 : 0;
}
