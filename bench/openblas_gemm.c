/* openblas_gemm.c — the same two linear products as `t5pt bench gemm`, timed with
 * OpenBLAS's cblas_sgemm, so bench/run.sh can print both side by side.
 * Not part of t5pt (which uses no BLAS): built by bench/run.sh only when OpenBLAS
 * is installed.
 *
 *   openblas_gemm --m M --n N --k K [--threads T] [--form fwd|bwd|both] [--reps R]
 *
 *   fwd:  y[M,N]  = x[M,K] · W[N,K]^T      (cblas NoTrans, Trans)
 *   bwd:  dx[M,K] = dy[M,N] · W[N,K]       (cblas NoTrans, NoTrans)
 * Output lines use the same key=value format as `t5pt bench gemm`.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);
char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int M = 1824, N = 512, K = 2048, T = 1, reps = 10;
    const char *form = "both";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--m")) M = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--form")) form = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "openblas_gemm: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (M <= 0 || N <= 0 || K <= 0 || T <= 0 || reps <= 0 || reps > 1000) {
        fprintf(stderr, "openblas_gemm: bad sizes\n");
        return 2;
    }
    openblas_set_num_threads(T);
    float *W = malloc((size_t)N * K * sizeof *W), *x = malloc((size_t)M * K * sizeof *x);
    float *y = malloc((size_t)M * N * sizeof *y), *dx = malloc((size_t)M * K * sizeof *dx);
    if (!W || !x || !y || !dx) return 1;
    unsigned s = 1;
    for (size_t i = 0; i < (size_t)N * K; i++) W[i] = (float)((s = s * 1103515245u + 12345u) >> 8) * 0x1p-24f - 0.5f;
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 8) * 0x1p-24f - 0.5f;
    for (size_t i = 0; i < (size_t)M * N; i++) y[i] = (float)((s = s * 1103515245u + 12345u) >> 8) * 0x1p-24f - 0.5f;
    double flops = 2.0 * M * N * K;
    double *t = malloc((size_t)reps * sizeof *t);
    for (int f = 0; f < 2; f++) {
        const char *name = f == 0 ? "fwd" : "bwd";
        if (strcmp(form, "both") && strcmp(form, name)) continue;
        for (int r = -2; r < reps; r++) { /* two warm-up runs */
            double t0 = now();
            if (f == 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 0.0f, y, N);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, y, N, W, K, 0.0f, dx, K);
            if (r >= 0) t[r] = now() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double med = t[reps / 2];
        printf("gemm form=%s simd=openblas-%s threads=%d M=%d N=%d K=%d time_ms=%.3f gflops=%.1f\n", name,
               openblas_get_corename(), T, M, N, K, med * 1e3, flops / med * 1e-9);
    }
    free(t), free(W), free(x), free(y), free(dx);
    return 0;
}
